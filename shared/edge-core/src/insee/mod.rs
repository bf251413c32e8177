//! The INSEE death files (insee-format.md): one fixed-width line read into its nine
//! fields, and the parts of deces-dataprep's normalisation that need no reference data:
//! the UID, names, sex, dates with their repairs, and the age at death.

pub mod places;

/// The vendored name lists (`data/sample/`, most frequent first), for synthetic samples.
pub mod names {
    pub const LAST: &str = include_str!("../../data/sample/last-names.txt");
    pub const FIRST_MALE: &str = include_str!("../../data/sample/first-names-male.txt");
    pub const FIRST_FEMALE: &str = include_str!("../../data/sample/first-names-female.txt");
}

use base64::Engine as _;
use places::Referential;
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// A line's nine fields, as the reader gives them: stripped of spaces and tabs, then
/// ASCII-folded where dataprep folds them (names, labels, act number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub nom_prenoms: String,
    pub sexe: String,
    pub date_naissance: String,
    pub code_insee_naissance: String,
    pub commune_naissance: String,
    pub pays_naissance: String,
    pub date_deces: String,
    pub code_insee_deces: String,
    /// Untruncated (the UID uses it so); [`RawRecord::num_deces`] is the indexed value.
    pub num_deces_raw: String,
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Shorter than the fields up to the place of death (167 characters).
    TooShort(usize),
    /// A date field that is not 8 digits.
    BadDate(&'static str, String),
    /// No `*` between surname and given names.
    NoName,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooShort(n) => write!(f, "{n} characters where at least 167 are needed"),
            LineError::BadDate(field, v) => write!(f, "{field} `{v}` is not 8 digits"),
            LineError::NoName => f.write_str("no `*` between the surname and the given names"),
        }
    }
}

/// (first position, last position), 1-based and inclusive, as insee-format.md section 2;
/// NUM_DECES is read up to 177, as dataprep does.
const LAYOUT: [(usize, usize); 9] = [
    (1, 80),
    (81, 81),
    (82, 89),
    (90, 94),
    (95, 124),
    (125, 154),
    (155, 162),
    (163, 167),
    (168, 177),
];

/// Decodes a line of a file as Latin-1, as dataprep reads them (every byte is a character).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// NFKD, then every non-ASCII character dropped.
pub fn ascii_fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    text.nfkd().filter(char::is_ascii).collect()
}

/// Reads one line (without its end of line) into its fields.
pub fn parse_line(line: &str) -> Result<RawRecord, LineError> {
    // Positions count characters: an ASCII line (most) is cut where it is, others are
    // read as characters first.
    let ascii = line.is_ascii();
    let chars: Vec<char> = if ascii {
        Vec::new()
    } else {
        line.chars().collect()
    };
    let length = if ascii { line.len() } else { chars.len() };
    if length < LAYOUT[7].1 {
        return Err(LineError::TooShort(length));
    }
    let trim = |text: &str| text.trim_matches(|c| c == ' ' || c == '\t').to_string();
    let field = |i: usize| {
        let (from, to) = LAYOUT[i];
        let end = to.min(length);
        if ascii {
            trim(&line[from - 1..end])
        } else {
            trim(&chars[from - 1..end].iter().collect::<String>())
        }
    };
    let record = RawRecord {
        nom_prenoms: ascii_fold(&field(0)),
        sexe: field(1),
        date_naissance: field(2),
        code_insee_naissance: field(3),
        commune_naissance: ascii_fold(&field(4)),
        pays_naissance: ascii_fold(&field(5)),
        date_deces: field(6),
        code_insee_deces: field(7),
        num_deces_raw: ascii_fold(&field(8)),
    };
    for (name, value) in [
        ("DATE_NAISSANCE", &record.date_naissance),
        ("DATE_DECES", &record.date_deces),
    ] {
        if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LineError::BadDate(name, value.clone()));
        }
    }
    if !record.nom_prenoms.contains('*') {
        return Err(LineError::NoName);
    }
    Ok(record)
}

impl RawRecord {
    /// The nine fields in layout order.
    fn fields(&self) -> [&str; 9] {
        [
            &self.nom_prenoms,
            &self.sexe,
            &self.date_naissance,
            &self.code_insee_naissance,
            &self.commune_naissance,
            &self.pays_naissance,
            &self.date_deces,
            &self.code_insee_deces,
            &self.num_deces_raw,
        ]
    }

    /// The record's id (4.2): BLAKE3 of the Python `repr` of the fields' tuple, URL-safe
    /// base64, first 12 characters.
    pub fn uid(&self) -> String {
        let mut repr = String::from("(");
        for (i, value) in self.fields().iter().enumerate() {
            if i > 0 {
                repr.push_str(", ");
            }
            python_repr(value, &mut repr);
        }
        repr.push(')');
        let digest = blake3::hash(repr.as_bytes());
        let mut id = base64::engine::general_purpose::URL_SAFE.encode(digest.as_bytes());
        id.truncate(12);
        id
    }

    /// The act number as indexed: its first 9 characters, trailing spaces stripped.
    pub fn num_deces(&self) -> String {
        let kept: String = self.num_deces_raw.chars().take(9).collect();
        kept.trim_end().to_string()
    }

    /// `M` or `F` (`2` is F, anything else M).
    pub fn sex(&self) -> &'static str {
        if self.sexe == "2" {
            "F"
        } else {
            "M"
        }
    }

    /// Surname, given names and first given name (4.3), title-cased.
    pub fn names(&self) -> Names {
        // A whitespace before `?` is an undecodable character's remnant.
        let whole = if self.nom_prenoms.contains('?') {
            whitespace_before_question_mark()
                .replace_all(&self.nom_prenoms, "X")
                .into_owned()
        } else {
            self.nom_prenoms.clone()
        };
        let (nom, prenoms) = match (whole.ends_with('/'), whole.rfind('*')) {
            (true, Some(star)) => (
                whole[..star].to_string(),
                whole[star + 1..whole.len() - 1].to_string(),
            ),
            _ => (whole.clone(), whole.clone()),
        };
        let prenom = prenoms
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        let (nom, prenoms, prenom) = (title(&nom), title(&prenoms), title(&prenom));
        Names {
            prenoms_nom: format!("{prenoms} {nom}").to_lowercase(),
            prenom_nom: format!("{prenom} {nom}").to_lowercase(),
            nom,
            prenoms,
            prenom,
        }
    }

    /// The birth date repaired (4.5) as `yyyyMMdd`, when there is one.
    pub fn birth_date(&self) -> Option<String> {
        normalise_date(&self.date_naissance)
    }

    pub fn death_date(&self) -> Option<String> {
        normalise_date(&self.date_deces)
    }

    /// Whole years between the repaired dates (1 year = 365.2425 days), when the raw death
    /// date sorts after the raw birth date and both repaired dates exist.
    pub fn age(&self) -> Option<u32> {
        if self.date_deces <= self.date_naissance {
            return None;
        }
        let days = days(&self.death_date()?) - days(&self.birth_date()?);
        (days >= 0).then(|| (days as f64 / 365.2425).floor() as u32)
    }
}

/// The fields of a record's index document, in the order dataprep writes them.
pub const FIELDS: [&str; 29] = [
    "UID",
    "SOURCE",
    "SOURCE_LINE",
    "NOM",
    "PRENOMS",
    "PRENOM",
    "PRENOMS_NOM",
    "PRENOM_NOM",
    "SEXE",
    "DATE_NAISSANCE",
    "DATE_NAISSANCE_NORM",
    "CODE_INSEE_NAISSANCE",
    "COMMUNE_NAISSANCE",
    "PAYS_NAISSANCE",
    "PAYS_NAISSANCE_CODEISO3",
    "CODE_INSEE_NAISSANCE_HISTORIQUE",
    "CODE_POSTAL_NAISSANCE",
    "DEPARTEMENT_NAISSANCE",
    "DATE_DECES",
    "DATE_DECES_NORM",
    "AGE_DECES",
    "CODE_INSEE_DECES",
    "COMMUNE_DECES",
    "PAYS_DECES",
    "PAYS_DECES_CODEISO3",
    "CODE_INSEE_DECES_HISTORIQUE",
    "CODE_POSTAL_DECES",
    "DEPARTEMENT_DECES",
    "NUM_DECES",
];

/// A record's index document (insee-format.md 4 and 5): the value of each of [`FIELDS`],
/// `Null` for an empty one. Read by name without the map a JSON object would build.
#[derive(Debug, Clone, PartialEq)]
pub struct Document([Value; FIELDS.len()]);

impl Document {
    /// A field's value, `None` when the record has none.
    pub fn get(&self, field: &str) -> Option<&Value> {
        // (A hash lookup: a record's row reads some sixty fields by name.)
        static SLOTS: OnceLock<rustc_hash::FxHashMap<&str, usize>> = OnceLock::new();
        let slots = SLOTS.get_or_init(|| FIELDS.iter().enumerate().map(|(i, f)| (*f, i)).collect());
        Some(&self.0[*slots.get(field)?]).filter(|v| !v.is_null())
    }

    /// The document as a JSON object, its empty fields left out.
    pub fn into_map(self) -> Map<String, Value> {
        FIELDS
            .iter()
            .zip(self.0)
            .filter(|(_, v)| !v.is_null())
            .map(|(f, v)| (f.to_string(), v))
            .collect()
    }
}

/// The index document of a record (insee-format.md 4 and 5): every field dataprep writes,
/// empty ones left out. `source` is the file's SOURCE value, `line` its 1-based line.
pub fn document(raw: &RawRecord, source: &str, line: u64, refs: &Referential) -> Document {
    let mut doc = Document(std::array::from_fn(|_| Value::Null));
    let mut slot = 0;
    // Each field in the order of FIELDS: checked in debug builds, and by the tests of
    // whole documents (a field out of order would hold another's value).
    let mut put = |key: &str, value: Value| {
        debug_assert_eq!(FIELDS[slot], key);
        let empty = matches!(&value, Value::String(s) if s.is_empty());
        if !empty {
            doc.0[slot] = value;
        }
        slot += 1;
    };
    let names = raw.names();
    let birth = refs.birth_place(
        &raw.code_insee_naissance,
        &raw.commune_naissance,
        &raw.pays_naissance,
    );
    let death = refs.death_place(&raw.code_insee_deces);
    put("UID", raw.uid().into());
    put("SOURCE", source.into());
    put("SOURCE_LINE", line.into());
    put("NOM", names.nom.into());
    put("PRENOMS", names.prenoms.into());
    put("PRENOM", names.prenom.into());
    put("PRENOMS_NOM", names.prenoms_nom.into());
    put("PRENOM_NOM", names.prenom_nom.into());
    put("SEXE", raw.sex().into());
    put("DATE_NAISSANCE", raw.date_naissance.clone().into());
    put(
        "DATE_NAISSANCE_NORM",
        raw.birth_date().unwrap_or_default().into(),
    );
    put(
        "CODE_INSEE_NAISSANCE",
        raw.code_insee_naissance.clone().into(),
    );
    put("COMMUNE_NAISSANCE", birth.commune.unwrap_or_default());
    put("PAYS_NAISSANCE", birth.country.into());
    put("PAYS_NAISSANCE_CODEISO3", birth.country_iso3.into());
    put("CODE_INSEE_NAISSANCE_HISTORIQUE", birth.history);
    put(
        "CODE_POSTAL_NAISSANCE",
        birth.postal_codes.unwrap_or_default(),
    );
    put("DEPARTEMENT_NAISSANCE", birth.department.into());
    put("DATE_DECES", raw.date_deces.clone().into());
    put(
        "DATE_DECES_NORM",
        raw.death_date().unwrap_or_default().into(),
    );
    put("AGE_DECES", raw.age().map(Value::from).unwrap_or_default());
    put("CODE_INSEE_DECES", raw.code_insee_deces.clone().into());
    put("COMMUNE_DECES", death.commune.unwrap_or_default());
    put("PAYS_DECES", death.country.into());
    put("PAYS_DECES_CODEISO3", death.country_iso3.into());
    put("CODE_INSEE_DECES_HISTORIQUE", death.history);
    put("CODE_POSTAL_DECES", death.postal_codes.unwrap_or_default());
    put("DEPARTEMENT_DECES", death.department.into());
    put("NUM_DECES", raw.num_deces().into());
    doc
}

/// A person's names as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub nom: String,
    pub prenoms: String,
    pub prenom: String,
    pub prenoms_nom: String,
    pub prenom_nom: String,
}

fn whitespace_before_question_mark() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\s\?").expect("valid pattern"))
}

/// Python's `repr` of a string, appended to `out`.
fn python_repr(value: &str, out: &mut String) {
    let quote = if value.contains('\'') && !value.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.title()`: the first letter of each run of letters upper-case, the rest
/// lower-case.
pub fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for c in text.chars() {
        if c.is_alphabetic() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// The repairs of 4.5, in order, each applied to every occurrence.
fn date_repairs() -> &'static [(Regex, &'static str)] {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            (r"\D", ""),
            (r"00000000", ""),
            (r"(\d{4})(\d{2})(\d{2})", "$1/$2/$3"),
            (r"/(3[2-9]|[4-9][0-9])$", "/31"),
            (r"/(1[3-9])/", "/12/"),
            (r"/[2-9]([1-9])/", "/0$1/"),
            (r"/[2-9]0/", "/01/"),
            (r"(\d{4})/02/(30|31)", "$1/03/01"),
            (
                r"(1900|(\d{2})([02468][26]|[13579][048]|\d[13579]))/02/29",
                "$1/02/28",
            ),
            // dataprep's `(04|06|09|11)/31\$` needs a literal `$` and never matches: 31
            // April and the like stay invalid and are dropped below.
            (r"/00", "/01"),
            (r"/", ""),
        ]
        .into_iter()
        .map(|(pattern, with)| (Regex::new(pattern).expect("valid pattern"), with))
        .collect()
    })
}

/// A raw `AAAAMMJJ` date repaired as dataprep does, or `None` when nothing valid is left.
pub fn normalise_date(raw: &str) -> Option<String> {
    // A valid date is what every repair leaves as it is (most dates: no rule runs).
    if is_valid_date(raw) {
        return Some(raw.to_string());
    }
    repaired_date(raw)
}

/// The repairs of 4.5 applied one after the other, then the validity check.
fn repaired_date(raw: &str) -> Option<String> {
    let mut value = raw.to_string();
    for (re, with) in date_repairs() {
        value = re.replace_all(&value, *with).into_owned();
    }
    is_valid_date(&value).then_some(value)
}

/// `yyyyMMdd` of a day of the calendar.
pub fn is_valid_date(value: &str) -> bool {
    value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()) && {
        let n = |r: std::ops::Range<usize>| value[r].parse::<u32>().unwrap_or(0);
        let (y, m, d) = (n(0..4), n(4..6), n(6..8));
        y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
    }
}

fn leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 0001-01-01 of a valid `yyyyMMdd` date (proleptic Gregorian).
fn days(date: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| date[r].parse::<i64>().unwrap_or(0);
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    // Howard Hinnant's days-from-civil, shifted so that March starts the year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe
}

/// The day of a valid `yyyyMMdd` date counted from 1970-01-01.
pub fn unix_day(date: &str) -> i64 {
    days(date) - days("19700101")
}

/// The `yyyyMMdd` date of a day counted from 1970-01-01 (the inverse of [`days`], in
/// Howard Hinnant's civil-from-days form).
pub fn date_of_unix_day(unix_day: i64) -> String {
    let z = unix_day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

/// SOURCE from a file name: everything up to `deces-` and the `.txt`/`.txt.gz` suffix
/// removed (`deces-2020-m01.txt.gz` → `2020-m01`).
pub fn source_of(file_name: &str) -> String {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let after = base.rfind("deces-").map_or(base, |i| &base[i + 6..]);
    after
        .trim_end_matches(".gz")
        .trim_end_matches(".txt")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line built field by field at the layout's widths.
    fn line(fields: [&str; 9]) -> String {
        LAYOUT
            .iter()
            .zip(fields)
            .map(|(&(from, to), value)| format!("{value:<width$}", width = to - from + 1))
            .collect::<String>()
            .chars()
            .take(176)
            .collect()
    }

    fn durand() -> String {
        line([
            "DURAND*LOUISE MARIE JEANNE/",
            "2",
            "19280300",
            "74214",
            "PONTCHY",
            "",
            "20200115",
            "75114",
            "152",
        ])
    }

    #[test]
    fn the_specs_worked_examples() {
        let text = "DURAND*LOUISE MARIE JEANNE/                                                     21928030074214PONTCHY                                                     2020011575114152      ";
        assert_eq!(text, durand());
        let r = parse_line(text).unwrap();
        assert_eq!(r.uid(), "f3vJz-tG1v_b");
        assert_eq!((r.num_deces(), r.sex()), ("152".to_string(), "F"));
        assert_eq!(
            r.names(),
            Names {
                nom: "Durand".into(),
                prenoms: "Louise Marie Jeanne".into(),
                prenom: "Louise".into(),
                prenoms_nom: "louise marie jeanne durand".into(),
                prenom_nom: "louise durand".into(),
            }
        );
        assert_eq!(r.birth_date().as_deref(), Some("19280301"));
        assert_eq!(r.death_date().as_deref(), Some("20200115"));
        assert_eq!(r.age(), Some(91));

        let text = "EL AMRANI*MOHAMED ALI/                                                          11945000099350CASABLANCA                    MAROC                         202011300100445       ";
        let r = parse_line(text).unwrap();
        assert_eq!(r.uid(), "LSRIIl06Qrj7");
        assert_eq!(r.names().nom, "El Amrani");
        assert_eq!(r.names().prenom_nom, "mohamed el amrani");
        assert_eq!((r.sex(), r.age()), ("M", Some(75)));
        assert_eq!(r.birth_date().as_deref(), Some("19450101"));
        assert_eq!(
            (r.pays_naissance.as_str(), r.commune_naissance.as_str()),
            ("MAROC", "CASABLANCA")
        );
    }

    #[test]
    fn unix_days_and_dates_round_trip() {
        assert_eq!(date_of_unix_day(0), "19700101");
        assert_eq!(date_of_unix_day(19_723), "20240101");
        assert_eq!(date_of_unix_day(20_513), "20260301");
        let epoch = days("19700101");
        for d in [-25_000, -1, 0, 59, 60, 11_016, 20_000, 40_000] {
            assert_eq!(days(&date_of_unix_day(d)) - epoch, d);
        }
    }

    #[test]
    fn the_specs_worked_documents() {
        let refs = Referential::from_tsv(
            "74214\tBonneville\tBonneville\t74\t74130\t74042,74214\t0\n\
             75114\tParis 14e Arrondissement\tParis 14e Arrondissement\t75\t75014\t75114\t0\n\
             01004\tAmbérieu\tAmbérieu-en-Bugey\t01\t01500\t01004\t0\n",
            "XXXXX\tFRA\tFRANCE\n99350\tMAR\tMAROC\n",
        );
        let doc = document(&parse_line(&durand()).unwrap(), "2020-m01", 1042, &refs);
        // The spec's document, without the geo points our referential does not have.
        let expected = serde_json::json!({"NOM": "Durand", "SEXE": "F", "DATE_NAISSANCE": "19280300",
            "CODE_INSEE_NAISSANCE": "74214", "COMMUNE_NAISSANCE": ["Pontchy", "Bonneville"],
            "DATE_DECES": "20200115", "CODE_INSEE_DECES": "75114", "NUM_DECES": "152",
            "UID": "f3vJz-tG1v_b", "SOURCE": "2020-m01", "SOURCE_LINE": 1042,
            "PRENOMS": "Louise Marie Jeanne", "PRENOM": "Louise",
            "PRENOMS_NOM": "louise marie jeanne durand", "PRENOM_NOM": "louise durand",
            "DATE_NAISSANCE_NORM": "19280301", "DATE_DECES_NORM": "20200115", "AGE_DECES": 91,
            "PAYS_NAISSANCE_CODEISO3": "FRA", "PAYS_NAISSANCE": "France",
            "CODE_INSEE_NAISSANCE_HISTORIQUE": ["74042", "74214"],
            "CODE_POSTAL_NAISSANCE": ["74130"], "DEPARTEMENT_NAISSANCE": "74",
            "PAYS_DECES_CODEISO3": "FRA", "PAYS_DECES": "France",
            "CODE_INSEE_DECES_HISTORIQUE": "75114", "CODE_POSTAL_DECES": ["75014"],
            "COMMUNE_DECES": ["Paris", "Paris 14e Arrondissement"], "DEPARTEMENT_DECES": "75"});
        assert_eq!(Value::Object(doc.into_map()), expected);

        let text = "EL AMRANI*MOHAMED ALI/                                                          11945000099350CASABLANCA                    MAROC                         202011300100445       ";
        let doc = document(&parse_line(text).unwrap(), "2020-m12", 58, &refs);
        let expected = serde_json::json!({"NOM": "El Amrani", "SEXE": "M",
            "DATE_NAISSANCE": "19450000", "CODE_INSEE_NAISSANCE": "99350",
            "COMMUNE_NAISSANCE": "Casablanca", "PAYS_NAISSANCE": "Maroc",
            "DATE_DECES": "20201130", "CODE_INSEE_DECES": "01004", "NUM_DECES": "45",
            "UID": "LSRIIl06Qrj7", "SOURCE": "2020-m12", "SOURCE_LINE": 58,
            "PRENOMS": "Mohamed Ali", "PRENOM": "Mohamed", "PRENOMS_NOM": "mohamed ali el amrani",
            "PRENOM_NOM": "mohamed el amrani", "DATE_NAISSANCE_NORM": "19450101",
            "DATE_DECES_NORM": "20201130", "AGE_DECES": 75, "PAYS_NAISSANCE_CODEISO3": "MAR",
            "CODE_INSEE_NAISSANCE_HISTORIQUE": "99350", "PAYS_DECES_CODEISO3": "FRA",
            "PAYS_DECES": "France", "CODE_INSEE_DECES_HISTORIQUE": "01004",
            "CODE_POSTAL_DECES": ["01500"], "COMMUNE_DECES": ["Ambérieu", "Ambérieu-en-Bugey"],
            "DEPARTEMENT_DECES": "01"});
        assert_eq!(Value::Object(doc.into_map()), expected);
    }

    /// A record's document read by its slots makes the same database row as the same
    /// document given as a JSON object (an NDJSON line).
    #[test]
    fn a_document_makes_the_row_of_its_json_object() {
        use crate::embedded::load::Row;
        let refs = Referential::vendored();
        for (n, text) in [
            durand(),
            line([
                "MARTIN*PAUL/",
                "1",
                "19450000",
                "99350",
                "CASABLANCA",
                "MAROC",
                "20201130",
                "01004",
                "45",
            ]),
        ]
        .iter()
        .enumerate()
        {
            let doc = document(&parse_line(text).unwrap(), "2020-m12", n as u64, &refs);
            assert!(doc.get("COMMUNE_NAISSANCE").is_some() && doc.get("GEOPOINT_DECES").is_none());
            let map = doc.clone().into_map();
            assert_eq!(Row::of(&doc), Row::of(&map));
        }
    }

    #[test]
    fn every_field_of_a_hand_made_line() {
        let r = parse_line(&line([
            "D'ARTAGNAN-MC DONALD*JEAN-PIERRE  ANDRE/",
            "1",
            "19301345",
            "2A004",
            "AJACCIO",
            "",
            "19991231",
            "99404",
            "69 N",
        ]))
        .unwrap();
        assert_eq!(r.code_insee_naissance, "2A004");
        assert_eq!(r.code_insee_deces, "99404");
        assert_eq!(r.num_deces(), "69 N");
        let names = r.names();
        assert_eq!(names.nom, "D'Artagnan-Mc Donald");
        assert_eq!(names.prenoms, "Jean-Pierre  Andre");
        assert_eq!(names.prenom, "Jean-Pierre");
        assert_eq!(r.birth_date().as_deref(), Some("19301231"));
        assert_eq!(r.age(), Some(69));
        // No given names; a name that is not `NOM*PRENOMS/` is left whole.
        let r = parse_line(&line([
            "DUPONT*/", "1", "19300000", "", "", "", "20000000", "", "",
        ]))
        .unwrap();
        assert_eq!(
            (r.names().nom.as_str(), r.names().prenoms.as_str()),
            ("Dupont", "")
        );
        assert_eq!(r.names().prenom_nom, " dupont");
        // Accented input (a Latin-1 file) is folded; the act number is cut at 9 characters
        // but the UID keeps the whole value.
        // (a stray 177th character, which dataprep reads)
        let long = line([
            "HÉLÈNE*ÉLODIE/",
            "2",
            "19300000",
            "",
            "",
            "",
            "20000000",
            "",
            "123456789",
        ]) + "0";
        let bytes: Vec<u8> = long.chars().map(|c| c as u32 as u8).collect();
        let r = parse_line(&latin1(&bytes)).unwrap();
        assert_eq!(r.names().nom, "Helene");
        assert_eq!(
            (r.num_deces_raw.as_str(), r.num_deces()),
            ("1234567890", "123456789".into())
        );
        // Positions are characters, whether the line is ASCII (cut as bytes) or not.
        let fields = |nom: &str, commune: &str| {
            line([
                nom, "1", "19300101", "75114", commune, "", "20000101", "75114", "42",
            ])
        };
        let plain = parse_line(&fields("HELENE*ELODIE/", "PARIS ECOLE")).unwrap();
        let accented = parse_line(&fields("HÉLÈNE*ÉLODIE/", "PARIS ÉCOLE")).unwrap();
        assert_eq!(plain, accented);
    }

    #[test]
    fn dates_are_repaired_as_dataprep_does() {
        for (raw, norm) in [
            ("19300000", Some("19300101")),
            ("19300500", Some("19300501")),
            ("19301345", Some("19301231")),
            ("19302531", Some("19300531")),
            ("19302031", Some("19300131")),
            ("19300230", Some("19300301")),
            ("19010229", Some("19010228")),
            ("19000229", Some("19000228")),
            ("19040229", Some("19040229")),
            ("20000229", Some("20000229")),
            ("19300431", None),
            ("00000512", None),
            ("00000000", None),
        ] {
            assert_eq!(normalise_date(raw).as_deref(), norm, "{raw}");
        }
    }

    proptest::proptest! {
        /// Taking a valid date as it is gives what the repairs give.
        #[test]
        fn valid_dates_are_what_the_repairs_leave(
            raw in "[0-9]{8}|(1[89]|20)[0-9]{2}(0[0-9]|1[0-9]|[2-9][0-9])[0-3][0-9]|[0-9 /a-z]{0,10}"
        ) {
            proptest::prop_assert_eq!(normalise_date(&raw), repaired_date(&raw));
        }
    }

    #[test]
    fn ages_follow_the_raw_order_and_the_mean_year() {
        let with = |birth: &str, death: &str| {
            let mut r = parse_line(&durand()).unwrap();
            r.date_naissance = birth.into();
            r.date_deces = death.into();
            r.age()
        };
        assert_eq!(with("19300312", "20200310"), Some(89));
        // 32,872 days are 90.0002 mean years: a day before the birthday (documented).
        assert_eq!(with("19300312", "20200311"), Some(90));
        assert_eq!(with("20200115", "20200115"), None);
        assert_eq!(with("19300431", "20200101"), None, "no valid birth date");
        assert_eq!(with("00000000", "20200101"), None);
    }

    #[test]
    fn malformed_lines_say_why() {
        assert_eq!(parse_line("DUPONT*JEAN/"), Err(LineError::TooShort(12)));
        let bad = line([
            "DUPONT*JEAN/",
            "1",
            "1930AB01",
            "",
            "",
            "",
            "20000101",
            "",
            "",
        ]);
        assert!(matches!(
            parse_line(&bad),
            Err(LineError::BadDate("DATE_NAISSANCE", _))
        ));
        let bad = line([
            "DUPONT JEAN",
            "1",
            "19300101",
            "",
            "",
            "",
            "20000101",
            "",
            "",
        ]);
        assert_eq!(parse_line(&bad), Err(LineError::NoName));
    }

    #[test]
    fn python_repr_quotes_as_python_does() {
        let repr = |s: &str| {
            let mut out = String::new();
            python_repr(s, &mut out);
            out
        };
        assert_eq!(repr("DUPONT"), "'DUPONT'");
        assert_eq!(repr("D'ARTAGNAN"), "\"D'ARTAGNAN\"");
        assert_eq!(repr("A'B\"C"), "'A\\'B\"C'");
        assert_eq!(repr("a\\b\tc"), "'a\\\\b\\tc'");
        assert_eq!(repr("\u{1}"), "'\\x01'");
    }

    #[test]
    fn sources_from_file_names() {
        assert_eq!(source_of("data/deces-2020-m01.txt.gz"), "2020-m01");
        assert_eq!(source_of("deces-1991.txt"), "1991");
    }
}
