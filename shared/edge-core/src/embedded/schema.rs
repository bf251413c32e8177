//! The database's tables, and the fields the `terms` index holds.

/// A record is its UID: one row per UID.
pub const UID_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS person_uid ON person (uid)";

/// The indexes a first import builds once at its end rather than row by row.
pub const DEFERRED_INDEXES: [&str; 3] = ["person_uid", "person_birth", "person_death"];

/// Every statement that creates the schema (idempotent).
pub const CREATE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // `doc` is the index document (`_source`, stored compactly: `load::stored`); the other
    // columns are what most filters, sorts and the rank read: names as normalised terms.
    "CREATE TABLE IF NOT EXISTS person (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL,
        doc TEXT NOT NULL,
        nom TEXT NOT NULL,
        prenoms TEXT NOT NULL,
        sex TEXT NOT NULL,
        birth TEXT NOT NULL,
        death TEXT NOT NULL,
        age INTEGER,
        source TEXT NOT NULL,
        birth_lat REAL, birth_lon REAL, death_lat REAL, death_lon REAL,
        birth_place INTEGER, death_place INTEGER
    )",
    // The places records share (a commune's code, names, postal codes, department,
    // country...), each stored once: `load::PLACES` lists their fields.
    "CREATE TABLE IF NOT EXISTS place (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)",
    UID_INDEX,
    "CREATE INDEX IF NOT EXISTS person_birth ON person (birth)",
    "CREATE INDEX IF NOT EXISTS person_death ON person (death)",
    // The term index: one row per person (rowid = person id) whose text is every term of
    // the record prefixed by its field's tag (`nmdupont`, `bh75114`); contentless, without
    // positions, so it keeps only each term's list of person ids.
    "CREATE VIRTUAL TABLE IF NOT EXISTS terms USING fts5 (
        t, content = '', detail = none, columnsize = 0, tokenize = 'ascii'
    )",
    "CREATE TABLE IF NOT EXISTS vocab (
        field INTEGER NOT NULL, term TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (field, term)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS variant (
        variant TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (variant, term)
    ) WITHOUT ROWID",
];

/// A field of the term index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Tokens of NOM, PRENOMS, COMMUNE_NAISSANCE, COMMUNE_DECES, PAYS_NAISSANCE, PAYS_DECES.
    LastName = 1,
    GivenNames = 2,
    BirthCity = 3,
    DeathCity = 4,
    BirthCountry = 5,
    DeathCountry = 6,
    /// Whole values (the `norm` normalizer) of codes and sources.
    Source = 10,
    BirthCode = 11,
    BirthPostalCode = 12,
    BirthDepartment = 13,
    DeathCode = 14,
    DeathPostalCode = 15,
    DeathDepartment = 16,
}

impl Field {
    /// The field's two-letter tag: terms are indexed as tag + term (`nmdupont`).
    pub fn tag(self) -> &'static str {
        match self {
            Field::LastName => "nm",
            Field::GivenNames => "pr",
            Field::BirthCity => "bc",
            Field::DeathCity => "dc",
            Field::BirthCountry => "bn",
            Field::DeathCountry => "dn",
            Field::Source => "so",
            Field::BirthCode => "bh",
            Field::BirthPostalCode => "bp",
            Field::BirthDepartment => "bd",
            Field::DeathCode => "dh",
            Field::DeathPostalCode => "dp",
            Field::DeathDepartment => "dd",
        }
    }

    /// The indexed form of a term of this field: the tag, then the term's letters and
    /// digits (a normalised term has nothing else but the spaces of a multi-word code).
    pub fn indexed(self, term: &str) -> String {
        let mut out = String::new();
        self.push_indexed(term, &mut out);
        out
    }

    /// [`Field::indexed`], appended to `out`.
    pub fn push_indexed(self, term: &str, out: &mut String) {
        out.push_str(self.tag());
        out.extend(term.chars().filter(char::is_ascii_alphanumeric));
    }

    /// The index document's field it reads.
    pub fn doc_field(self) -> &'static str {
        match self {
            Field::LastName => "NOM",
            Field::GivenNames => "PRENOMS",
            Field::BirthCity => "COMMUNE_NAISSANCE",
            Field::DeathCity => "COMMUNE_DECES",
            Field::BirthCountry => "PAYS_NAISSANCE",
            Field::DeathCountry => "PAYS_DECES",
            Field::Source => "SOURCE",
            Field::BirthCode => "CODE_INSEE_NAISSANCE_HISTORIQUE",
            Field::BirthPostalCode => "CODE_POSTAL_NAISSANCE",
            Field::BirthDepartment => "DEPARTEMENT_NAISSANCE",
            Field::DeathCode => "CODE_INSEE_DECES_HISTORIQUE",
            Field::DeathPostalCode => "CODE_POSTAL_DECES",
            Field::DeathDepartment => "DEPARTEMENT_DECES",
        }
    }

    /// Fields of tokens matched fuzzily (they have a vocabulary and deletion variants).
    pub const TEXT: [Field; 6] = [
        Field::LastName,
        Field::GivenNames,
        Field::BirthCity,
        Field::DeathCity,
        Field::BirthCountry,
        Field::DeathCountry,
    ];

    pub const PLACES: [Field; 4] = [
        Field::BirthCity,
        Field::DeathCity,
        Field::BirthCountry,
        Field::DeathCountry,
    ];

    pub const CODES: [Field; 7] = [
        Field::Source,
        Field::BirthCode,
        Field::BirthPostalCode,
        Field::BirthDepartment,
        Field::DeathCode,
        Field::DeathPostalCode,
        Field::DeathDepartment,
    ];
}
