//! The search parameters, the index fields they read, and the sort mapping: named once.

/// Every parameter GET or POST /search knows, in the order the original processed them
/// (that order decides the order of error messages and of the Elasticsearch clauses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    Size,
    Page,
    Scroll,
    ScrollId,
    Sort,
    Source,
    Fuzzy,
    Q,
    FirstName,
    LastName,
    LegalName,
    Sex,
    BirthDate,
    BirthCity,
    BirthLocationCode,
    BirthPostalCode,
    BirthDepartment,
    BirthCountry,
    BirthGeoPoint,
    DeathDate,
    LastSeenAliveDate,
    DeathAge,
    DeathCity,
    DeathLocationCode,
    DeathPostalCode,
    DeathDepartment,
    DeathCountry,
    DeathGeoPoint,
    HeaderLang,
}

/// What a parameter holds, which decides how it is typed, checked and searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text matched fuzzily (with an exact `.raw` boost) or exactly on `.raw`.
    FuzzyText(&'static str),
    /// A code matched as given.
    Code(&'static str),
    /// A date, a date range or a date limit.
    Date(&'static str),
    /// A geo point with a distance.
    GeoPoint(&'static str),
    /// Everything else: handled by name.
    Other,
}

impl Param {
    pub const ALL: [Param; 29] = [
        Param::Size,
        Param::Page,
        Param::Scroll,
        Param::ScrollId,
        Param::Sort,
        Param::Source,
        Param::Fuzzy,
        Param::Q,
        Param::FirstName,
        Param::LastName,
        Param::LegalName,
        Param::Sex,
        Param::BirthDate,
        Param::BirthCity,
        Param::BirthLocationCode,
        Param::BirthPostalCode,
        Param::BirthDepartment,
        Param::BirthCountry,
        Param::BirthGeoPoint,
        Param::DeathDate,
        Param::LastSeenAliveDate,
        Param::DeathAge,
        Param::DeathCity,
        Param::DeathLocationCode,
        Param::DeathPostalCode,
        Param::DeathDepartment,
        Param::DeathCountry,
        Param::DeathGeoPoint,
        Param::HeaderLang,
    ];

    /// The name clients use.
    pub fn name(self) -> &'static str {
        match self {
            Param::Size => "size",
            Param::Page => "page",
            Param::Scroll => "scroll",
            Param::ScrollId => "scrollId",
            Param::Sort => "sort",
            Param::Source => "source",
            Param::Fuzzy => "fuzzy",
            Param::Q => "q",
            Param::FirstName => "firstName",
            Param::LastName => "lastName",
            Param::LegalName => "legalName",
            Param::Sex => "sex",
            Param::BirthDate => "birthDate",
            Param::BirthCity => "birthCity",
            Param::BirthLocationCode => "birthLocationCode",
            Param::BirthPostalCode => "birthPostalCode",
            Param::BirthDepartment => "birthDepartment",
            Param::BirthCountry => "birthCountry",
            Param::BirthGeoPoint => "birthGeoPoint",
            Param::DeathDate => "deathDate",
            Param::LastSeenAliveDate => "lastSeenAliveDate",
            Param::DeathAge => "deathAge",
            Param::DeathCity => "deathCity",
            Param::DeathLocationCode => "deathLocationCode",
            Param::DeathPostalCode => "deathPostalCode",
            Param::DeathDepartment => "deathDepartment",
            Param::DeathCountry => "deathCountry",
            Param::DeathGeoPoint => "deathGeoPoint",
            Param::HeaderLang => "headerLang",
        }
    }

    pub fn from_name(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn kind(self) -> Kind {
        match self {
            Param::BirthCity => Kind::FuzzyText("COMMUNE_NAISSANCE"),
            Param::BirthCountry => Kind::FuzzyText("PAYS_NAISSANCE"),
            Param::DeathCity => Kind::FuzzyText("COMMUNE_DECES"),
            Param::DeathCountry => Kind::FuzzyText("PAYS_DECES"),
            Param::BirthLocationCode => Kind::Code("CODE_INSEE_NAISSANCE_HISTORIQUE"),
            Param::BirthPostalCode => Kind::Code("CODE_POSTAL_NAISSANCE"),
            Param::BirthDepartment => Kind::Code("DEPARTEMENT_NAISSANCE"),
            Param::DeathLocationCode => Kind::Code("CODE_INSEE_DECES_HISTORIQUE"),
            Param::DeathPostalCode => Kind::Code("CODE_POSTAL_DECES"),
            Param::DeathDepartment => Kind::Code("DEPARTEMENT_DECES"),
            Param::Source => Kind::Code("SOURCE"),
            Param::BirthDate => Kind::Date("DATE_NAISSANCE"),
            Param::DeathDate => Kind::Date("DATE_DECES"),
            Param::BirthGeoPoint => Kind::GeoPoint("GEOPOINT_NAISSANCE"),
            Param::DeathGeoPoint => Kind::GeoPoint("GEOPOINT_DECES"),
            _ => Kind::Other,
        }
    }

    /// A parameter that names something to search for (an empty request has none).
    pub fn is_search_term(self) -> bool {
        !matches!(
            self,
            Param::Size
                | Param::Page
                | Param::ScrollId
                | Param::Sort
                | Param::Fuzzy
                | Param::HeaderLang
        )
    }

    /// Structured parameters that cannot go with a full-text `q` (the original's lists differ
    /// by method).
    pub fn conflicts_with_q(self, post: bool) -> bool {
        match self {
            Param::FirstName
            | Param::LastName
            | Param::LegalName
            | Param::BirthDate
            | Param::BirthCity
            | Param::BirthLocationCode
            | Param::BirthDepartment
            | Param::BirthCountry
            | Param::BirthGeoPoint
            | Param::DeathDate
            | Param::DeathCity
            | Param::DeathLocationCode
            | Param::DeathDepartment
            | Param::DeathCountry
            | Param::DeathGeoPoint
            | Param::DeathAge => true,
            Param::Sex => !post,
            Param::LastSeenAliveDate | Param::Source => post,
            _ => false,
        }
    }

    /// The parameters /agg reads (GET ignores the others, POST refuses them).
    pub fn read_by_agg(self) -> bool {
        matches!(
            self,
            Param::Q
                | Param::FirstName
                | Param::LastName
                | Param::LegalName
                | Param::Sex
                | Param::BirthDate
                | Param::BirthCity
                | Param::BirthPostalCode
                | Param::BirthDepartment
                | Param::BirthCountry
                | Param::DeathDate
                | Param::DeathCity
                | Param::DeathPostalCode
                | Param::DeathDepartment
                | Param::DeathCountry
                | Param::DeathAge
                | Param::Fuzzy
        )
    }

    /// Parameters POST /search refuses as unknown although the original's OpenAPI lists them.
    pub fn refused_in_body(self) -> bool {
        matches!(self, Param::BirthPostalCode | Param::DeathPostalCode)
    }
}

/// The `_source` fields every search reads, in the original's order (it lists one twice).
pub const SOURCE_FIELDS: &[&str] = &[
    "CODE_INSEE_DECES",
    "CODE_INSEE_DECES_HISTORIQUE",
    "CODE_INSEE_NAISSANCE",
    "CODE_INSEE_NAISSANCE_HISTORIQUE",
    "CODE_POSTAL_NAISSANCE",
    "CODE_POSTAL_DECES",
    "COMMUNE_DECES",
    "COMMUNE_NAISSANCE",
    "DATE_DECES",
    "DATE_DECES_NORM",
    "DATE_NAISSANCE",
    "DATE_DECES_NORM",
    "AGE_DECES",
    "DEPARTEMENT_DECES",
    "DEPARTEMENT_NAISSANCE",
    "NOM",
    "PRENOM",
    "PRENOMS",
    "NUM_DECES",
    "PAYS_DECES",
    "PAYS_DECES_CODEISO3",
    "PAYS_NAISSANCE",
    "PAYS_NAISSANCE_CODEISO3",
    "GEOPOINT_NAISSANCE",
    "GEOPOINT_DECES",
    "SEXE",
    "UID",
    "SOURCE",
    "SOURCE_LINE",
];

/// The index field an API sort key orders by; `None` for a key the API does not know.
pub fn sort_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "score" => "_score",
        "firstName" => "PRENOM.raw",
        "lastName" => "NOM.raw",
        "sex" => "SEXE",
        "birthDate" => "DATE_NAISSANCE_NORM",
        "birthCity" => "COMMUNE_NAISSANCE.raw",
        "birthLocationCode" => "CODE_INSEE_NAISSANCE",
        "birthPostalCode" => "CODE_POSTAL_NAISSANCE",
        "birthDepartment" => "DEPARTEMENT_NAISSANCE",
        "birthCountry" => "PAYS_NAISSANCE.raw",
        "deathDate" => "DATE_DECES_NORM",
        "deathAge" => "AGE_DECES",
        "deathCity" => "COMMUNE_DECES.raw",
        "deathLocationCode" => "CODE_INSEE_DECES",
        "deathPostalCode" => "CODE_POSTAL_DECES",
        "deathDepartment" => "DEPARTEMENT_DECES",
        "deathCountry" => "PAYS_DECES.raw",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Param::ALL {
            assert_eq!(Param::from_name(p.name()), Some(p));
        }
        assert_eq!(Param::from_name("fullText"), None);
    }

    #[test]
    fn sort_keys_map_to_index_fields() {
        assert_eq!(sort_field("score"), Some("_score"));
        assert_eq!(sort_field("birthDate"), Some("DATE_NAISSANCE_NORM"));
        assert_eq!(sort_field("foo"), None);
    }
}
