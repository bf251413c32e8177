//! The original's own test table and the worked examples of scoring.md.

use super::place::{score_location, Communes, Location};
use super::text::Tx;
use super::*;
use serde_json::json;

fn s(x: &str) -> Option<Tx> {
    Some(Tx::S(x.into()))
}

fn l(x: &[&str]) -> Option<Tx> {
    Some(Tx::L(x.iter().map(|s| s.to_string()).collect()))
}

fn compared(body: Value) -> Value {
    compare(&body, None).unwrap()
}

#[test]
fn rounding() {
    assert_eq!(r2(0.875), 0.88);
    assert_eq!(r2(0.925), 0.93);
    assert_eq!(r2(1.005), 1.0);
    assert_eq!(r2(0.005 * 35.0), 0.18);
    assert_eq!(r2(0.125), 0.13);
    assert_eq!(r2(-0.125), -0.13);
    assert_eq!(round_date(0.35).to_string(), "0.35000000000000003");
    assert_eq!(num(1.0), json!(1));
    assert_eq!(num(f64::NAN), Value::Null);
}

/// scoring.md 13.2: POST /compare bodies and their answers.
#[test]
fn compare_vectors() {
    let cases = [
        (
            json!({"personA": {"firstName": "georges", "lastName": "pompidous", "birthDate": "19691101"},
                   "personB": {"firstName": "Georges", "lastName": "Pompidou", "sex": "M", "birthDate": "19691101"}}),
            json!({"birthDate":1,"name":{"score":0.9,"first":1,"last":0.93},"birthLocation":{"country":0.75,"score":0.75},"score":0.73}),
        ),
        (
            json!({"personA": {"lastName": "pompidous", "birthDate": "19691101"},
                   "personB": {"lastName": "Pompidou", "firstName": "Georges", "sex": "M", "birthDate": "19691101"}}),
            json!({"birthDate":1,"name":{"score":0.45,"first":0.5,"last":0.93},"birthLocation":{"country":0.75,"score":0.75},"score":0.31}),
        ),
        (
            json!({"personA": {"firstName": "georges", "lastName": "pompidous", "birthCountry": "France",
                               "birthGeoPoint": {"latitude": 48.847759, "longitude": 2.439497}},
                   "personB": {"firstName": "Georges", "lastName": "Pompidou", "birthCountry": "France",
                               "birthGeoPoint": {"latitude": 48.847759, "longitude": 2.339497}}}),
            json!({"name":{"score":0.9,"first":1,"last":0.93},"birthLocation":{"geo":0.73,"country":1,"score":0.73},"score":0.6}),
        ),
        (
            json!({"personA": {"firstName": "Gabrielle", "lastName": "Petit", "birthDate": "03/03/1922"},
                   "personB": {"firstName": "Marcel", "lastName": "Durand", "sex": "M", "birthDate": "19550901"}}),
            json!({"birthDate":0.18,"score":0}),
        ),
        (
            json!({"personA": {"firstName": "Jean", "lastName": "Martin", "birthDate": "01/01/1950"},
                   "personB": {"firstName": "Marie", "lastName": "Moreau", "sex": "F", "birthDate": "19180817"},
                   "params": {"pruneScore": 0.5, "explain": true}}),
            json!({"birthDate":0.03,"score":0,"explain":{}}),
        ),
        (
            json!({"personA": {"firstName": "Georges", "lastName": "Pompidou"},
                   "personB": {"firstName": "Georges Jean Raymond", "lastName": "Pompidou", "sex": "M", "birthDate": "19110705"}}),
            json!({"name":{"score":1,"first":1,"last":1},"birthLocation":{"country":0.75,"score":0.75},"score":0.79}),
        ),
        (
            json!({"personA": {"firstName": "Jean", "lastName": "Dupond", "birthDate": "12/03/1935", "birthCity": "Paris"},
                   "personB": {"firstName": "Jean Pierre", "lastName": "Dupont", "sex": "M", "birthDate": "19350312", "birthCity": "Paris"},
                   "params": {"explain": true}}),
            json!({"birthDate":1,"name":{"score":0.83,"first":1,"last":0.88},"birthLocation":{"city":1,"score":1},"score":0.86,
                   "explain":{"birthDate":{"score":"1"},"sex":"M","birthCountry":"BirthCountry not France","birthCity":{"country":"BirthCountry not France","score":1}}}),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(compared(body.clone()), expected, "{body}");
    }
    let score_of = |body: Value| compared(body)["score"].clone();
    for (body, score) in [
        (
            json!({"personA": {"firstName": "Jean", "lastName": "Dupond", "birthDate": "12/03/1935"},
                "personB": {"firstName": "Jean", "lastName": "Dupont", "sex": "M", "birthDate": "19350312"}}),
            0.68,
        ),
        (
            json!({"personA": {"firstName": "Jean-Pierre", "lastName": "Dupont", "birthDate": "12/03/1935"},
                "personB": {"firstName": "Jean Pierre", "lastName": "Dupont", "sex": "M", "birthDate": "19350312"}}),
            0.79,
        ),
        (
            json!({"personA": {"firstName": "Pierre", "lastName": "Muller", "birthDate": "30/01/1932"},
                "personB": {"firstName": "Pierre Charles", "lastName": "Müller", "sex": "M", "birthDate": "19320131"}}),
            0.66,
        ),
        (
            json!({"personA": {"firstName": "Helene", "lastName": "Martin", "birthDate": "14/05/1931"},
                "personB": {"firstName": "Hélène Louise", "lastName": "Martin", "sex": "F", "birthDate": "19310000"}}),
            0.72,
        ),
        (
            json!({"personA": {"firstName": "Yann", "lastName": "Le Goff", "birthDate": "1941-02-12"},
                "personB": {"firstName": "Yann Marie", "lastName": "Legoff", "sex": "M", "birthDate": "12/02/1941"},
                "params": {"dateFormatA": "yyyy-MM-dd", "dateFormatB": "dd/MM/yyyy"}}),
            0.7,
        ),
        (
            json!({"personA": {"firstName": "Claude", "lastName": "Fournier", "sex": "H", "birthDate": "04/05/1958"},
                "personB": {"firstName": "Claude", "lastName": "Fournier", "sex": "M", "birthDate": "19580504"}}),
            0.79,
        ),
        (
            json!({"personA": {"firstName": "Jose", "lastName": "Garcia", "birthDate": "08/03/1939", "birthCountry": "Espagne", "birthCity": "Madrid"},
                "personB": {"firstName": "José", "lastName": "Garcia", "sex": "M", "birthDate": "19390308", "birthCountry": "Espagne", "birthCity": "Madrid"}}),
            1.0,
        ),
        (
            json!({"personA": {"firstName": "Odette", "lastName": "Mercier", "birthDate": "29/02/1920", "deathDate": "29/02/2020", "deathCity": "Le Havre"},
                "personB": {"firstName": "Odette", "lastName": "Mercier", "sex": "F", "birthDate": "19200229", "deathDate": "20200229", "deathCity": "Le Havre"}}),
            0.79,
        ),
        (
            json!({"personA": {"firstName": "Jean", "lastName": "Dupont", "deathAge": 80, "deathDate": "01/01/2010"},
                "personB": {"firstName": "Jean", "lastName": "Dupont", "deathDate": "20100101"}}),
            0.48,
        ),
    ] {
        assert_eq!(score_of(body.clone()), num(score), "{body}");
    }
}

fn hit_person(first: &[&str], last: &str, sex: &str) -> Person {
    Person {
        name: Some(Names::new(l(first), s(last), None)),
        sex: Some(sex.into()),
        ..Person::default()
    }
}

fn request_names(first: Option<&str>, last: Option<&str>, legal: Option<&str>) -> Names {
    Names::new(first.and_then(s), last.and_then(s), legal.and_then(s))
}

/// scoring.md 5.5: the name object of a request against a hit.
#[test]
fn name_examples() {
    let jp = hit_person(&["Jean", "Pierre"], "Dupont", "M");
    let name = |a: Names, b: &Person| {
        let b = b.name.clone().unwrap();
        let female = false;
        match name::score_name(&a, &b, female, None) {
            Sv::O(o) => o.to_json(),
            Sv::N(n) => num(n),
        }
    };
    for (first, last, expected) in [
        (
            Some("Jean Pierre"),
            Some("Dupont"),
            json!({"score":1,"first":1,"last":1}),
        ),
        (
            Some("Jean"),
            Some("Dupont"),
            json!({"score":1,"first":1,"last":1}),
        ),
        (
            Some("Jean-Pierre"),
            Some("DUPONT"),
            json!({"score":1,"first":1,"last":1}),
        ),
        (
            Some("Pierre"),
            Some("Dupont"),
            json!({"score":0.7,"first":0.7,"last":1}),
        ),
        (
            Some("Dupont"),
            Some("Jean"),
            json!({"score":0.7,"first":0.07,"last":0.07}),
        ),
        (
            Some("Jean"),
            Some("Dupond"),
            json!({"score":0.83,"first":1,"last":0.88}),
        ),
        (
            Some("Jean"),
            Some("Durand"),
            json!({"score":0.21,"first":1,"last":0.35}),
        ),
        (
            None,
            Some("Dupont"),
            json!({"score":0.5,"first":0.5,"last":1}),
        ),
        (
            Some("Jean"),
            None,
            json!({"score":0.35,"first":1,"last":0.5}),
        ),
    ] {
        assert_eq!(
            name(request_names(first, last, None), &jp),
            expected,
            "{first:?} {last:?}"
        );
    }
    let gaulle = hit_person(&["Charles"], "De Gaulle", "M");
    assert_eq!(
        name(
            request_names(Some("Charles"), Some("Gaulle"), None),
            &gaulle
        ),
        json!({"score":0.8,"first":1,"last":0.55,"fuzz":0.7,"particleScore":0.8})
    );
    let ali = hit_person(&["Mohamed"], "Ali", "M");
    assert_eq!(
        name(request_names(Some("Mohamed"), Some("Ben Ali"), None), &ali),
        json!({"score":0.8,"first":1,"last":0.28,"fuzz":0.7,"particleScore":0.8})
    );
    let female =
        |a: Names, b: &Person| match name::score_name(&a, b.name.as_ref().unwrap(), true, None) {
            Sv::O(o) => o.to_json(),
            Sv::N(n) => num(n),
        };
    let marie = hit_person(&["Marie", "Louise"], "Martin", "F");
    assert_eq!(
        female(request_names(Some("Marie"), Some("Durand"), None), &marie),
        json!({"score":0.65,"first":1,"last":0.07})
    );
    assert_eq!(
        female(
            request_names(Some("Marie"), Some("Durand"), Some("Martin")),
            &marie
        ),
        json!({"score":0.65,"first":1,"last":0.7})
    );
    assert_eq!(
        female(request_names(Some("Louise"), Some("Martin"), None), &marie),
        json!({"score":0.7,"first":0.7,"last":1})
    );
    let jlm = hit_person(&["Jeanne", "Louise", "Marie"], "Martin", "F");
    assert_eq!(
        female(request_names(Some("Marie"), Some("Martin"), None), &jlm),
        json!({"score":0.19,"first":0.19,"last":1})
    );
    let jpm = hit_person(&["Jean", "Pierre"], "Martin", "M");
    for (first, expected) in [
        ("Pierre Jean", json!({"score":0.07,"first":0.07,"last":1})),
        ("Jean Paul", json!({"score":0.77,"first":0.77,"last":1})),
        ("Jean Pierre Marie", json!({"score":1,"first":1,"last":1})),
    ] {
        assert_eq!(
            name(request_names(Some(first), Some("Martin"), None), &jpm),
            expected,
            "{first}"
        );
    }
    let jean = hit_person(&["Jean"], "Martin", "M");
    assert_eq!(
        name(request_names(Some("Inconnu"), Some("Martin"), None), &jean),
        json!({"score":0.5,"first":0.5,"last":1})
    );
}

/// scoring.md 5.4 and 6.
#[test]
fn feminine_endings() {
    for (a, b, mismatch) in [
        ("louis", "louise", true),
        ("jean", "jeanne", true),
        ("paul", "paula", true),
        ("daniel", "danielle", true),
        ("mari", "marie", true),
        ("jean", "jeannette", false),
        ("pierre", "pierrette", false),
        ("jean", "jean", false),
    ] {
        let names = |x: &str| Names::new(s(x), None, None);
        assert_eq!(
            name::sex_mismatch(&names(a), &names(b)),
            mismatch,
            "{a}/{b}"
        );
    }
}

fn paris_15() -> Location {
    Location {
        city: l(&["Paris", "Paris 15e Arrondissement"]),
        code: s("75115"),
        code_history: s("75115"),
        department: s("75"),
        country: s("France"),
        country_code: Some("FRA".into()),
        latitude: Some(48.8412),
        longitude: Some(2.3003),
        ..Location::default()
    }
}

/// scoring.md 8.6: locations against a hit born in Paris 15e, in Appleton, in Alger.
#[test]
fn location_examples() {
    let b = paris_15();
    let loc = |a: Location, b: &Location| score_location(&a, b, "birth", None, None).to_json();
    let city = |c: &str| Location {
        city: s(c),
        ..Location::default()
    };
    assert_eq!(loc(city("Paris"), &b), json!({"city":1,"score":1}));
    assert_eq!(loc(city("Paris 15e"), &b), json!({"city":1,"score":1}));
    assert_eq!(loc(city("Paris 14e"), &b), json!({"city":0.9,"score":0.9}));
    assert_eq!(loc(city("Pariss"), &b), json!({"city":0.83,"score":0.83}));
    assert_eq!(loc(city("Vincennes"), &b), json!({"city":0.11,"score":0.2}));
    let dep = |d: &str| Location {
        department: s(d),
        ..Location::default()
    };
    assert_eq!(loc(dep("75"), &b), json!({"department":1,"score":1}));
    assert_eq!(loc(dep("94"), &b), json!({"department":0.93,"score":0.93}));
    assert_eq!(loc(dep("13"), &b), json!({"department":0.7,"score":0.7}));
    assert_eq!(
        loc(
            Location {
                city: s("Vincennes"),
                department: s("94"),
                ..Location::default()
            },
            &b
        ),
        json!({"city":0.11,"department":0.93,"score":0.2})
    );
    let code = |c: &str| Location {
        code: s(c),
        ..Location::default()
    };
    assert_eq!(loc(code("75115"), &b), json!({"code":1,"score":1}));
    assert_eq!(loc(code("75114"), &b), json!({"code":0.87,"score":0.87}));
    assert_eq!(
        loc(
            Location {
                code: s("75115"),
                city: s("Lyon"),
                ..Location::default()
            },
            &b
        ),
        json!({"code":1,"city":0.87,"score":0.87})
    );
    let country = |c: &str| Location {
        country: s(c),
        ..Location::default()
    };
    assert_eq!(
        loc(country("France"), &b),
        json!({"country":1,"score":0.75})
    );
    assert_eq!(
        loc(country("Belgique"), &b),
        json!({"country":0.14,"score":0.2})
    );
    assert_eq!(
        loc(
            Location {
                country: s("Belgique"),
                code: s("75115"),
                ..Location::default()
            },
            &b
        ),
        json!({"code":1,"country":0.87,"score":0.87})
    );
    assert_eq!(loc(dep("99"), &b), json!({"department":0.7,"score":0.7}));
    assert_eq!(
        loc(
            Location {
                department: s("99"),
                country: s("Algerie"),
                ..Location::default()
            },
            &b
        ),
        json!({"country":0.2,"score":0.2})
    );
    let point = Location {
        latitude: Some(48.85),
        longitude: Some(2.35),
        ..Location::default()
    };
    assert_eq!(loc(point.clone(), &b), json!({"geo":0.84,"score":0.84}));
    assert_eq!(
        loc(
            Location {
                city: s("Paris"),
                ..point
            },
            &b
        ),
        json!({"geo":0.84,"city":1,"score":0.84})
    );

    let appleton = Location {
        city: s("Appleton, Wisconsin"),
        code_history: s("99404"),
        code: s("99404"),
        country: s("Etats-Unis"),
        country_code: Some("USA".into()),
        ..Location::default()
    };
    let both = |c: &str, k: &str| Location {
        city: s(c),
        country: s(k),
        ..Location::default()
    };
    assert_eq!(
        loc(both("Appleton", "Etats-Unis"), &appleton),
        json!({"country":1,"city":1,"score":1})
    );
    assert_eq!(
        loc(city("Appleton"), &appleton),
        json!({"city":1,"score":1})
    );
    assert_eq!(
        loc(country("USA"), &appleton),
        json!({"country":0.31,"score":0.4})
    );
    assert_eq!(
        loc(city("Etats Unis"), &appleton),
        json!({"country":1,"city":0.65,"score":0.65})
    );
    assert_eq!(
        loc(Location::default(), &appleton),
        json!({"country":0.75,"score":0.75})
    );
    assert_eq!(loc(code("99404"), &appleton), json!({"code":1,"score":1}));
    assert_eq!(
        loc(both("Boston", "Etats-Unis"), &appleton),
        json!({"country":1,"city":0.65,"score":0.65})
    );

    let alger = Location {
        code: s("99352"),
        code_history: l(&["99352", "91352"]),
        country_code: Some("DZA".into()),
        ..Location::default()
    };
    for (c, expected) in [("99352", 1.0), ("92352", 0.87), ("99350", 0.7)] {
        assert_eq!(loc(code(c), &alger)["code"], num(expected), "{c}");
    }
}

/// scoring.md 13.1: the original's unit tests (persons given directly).
#[test]
fn original_unit_tests() {
    let georges = |location: Option<Location>, date: Option<&str>| Person {
        name: Some(Names::new(s("Georges"), s("Pompidou"), None)),
        sex: Some("M".into()),
        birth: Some(Event {
            date: date.map(|d| DateIn::S(d.into())),
            location,
        }),
        death: None,
    };
    let a = |location: Option<Location>| Person {
        name: Some(Names::new(s("georges"), s("pompidous"), None)),
        birth: Some(Event {
            date: None,
            location,
        }),
        ..Person::default()
    };
    let vincennes = Location {
        city: s("Vincennes"),
        code: s("75080"),
        code_history: l(&["75080", "94800"]),
        department: s("75"),
        country: s(""),
        country_code: Some("FRA".into()),
        latitude: Some(48.847759),
        longitude: Some(2.439497),
        ..Location::default()
    };
    let params = Params::default();
    // Without the communes dictionary, as scoring.md 13.1 says.
    let out = score_result(
        &a(Some(Location {
            city: s("Paris"),
            ..Location::default()
        })),
        &georges(Some(vincennes.clone()), Some("19691101")),
        &params,
        None,
    );
    assert_eq!(out["birthLocation"], json!({"city":0.11,"score":0.2}));
    assert_eq!(out["score"], json!(0.13));
    // With a dictionary that knows Paris: its code is in Vincennes' department.
    let dictionary = Communes::from_geojson(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature",
            "properties":{"nom":"Paris","insee":"75056","surf_ha":10540},
            "geometry":{"type":"Polygon","coordinates":[[[2.25,48.82],[2.42,48.82],[2.42,48.90],[2.25,48.90]]]}}]}"#,
    )
    .unwrap();
    let out = score_result(
        &a(Some(Location {
            city: s("Paris"),
            ..Location::default()
        })),
        &georges(Some(vincennes.clone()), Some("19691101")),
        &params,
        Some(&dictionary),
    );
    assert_eq!(
        out["birthLocation"],
        json!({"city":1,"code":0.87,"score":0.87})
    );
    assert_eq!(out["score"], json!(0.82));

    let postal = Location {
        city: s(""),
        code: s(""),
        code_postal: l(&["75080"]),
        ..vincennes
    };
    let out = score_result(
        &a(Some(Location {
            code_postal: s("75001"),
            ..Location::default()
        })),
        &georges(Some(postal), Some("19691101")),
        &params,
        None,
    );
    assert_eq!(
        out["birthLocation"],
        json!({"codePostal":0.87,"score":0.75})
    );
    assert_eq!(out["score"], json!(0.73));

    let geo = Location {
        latitude: Some(48.847759),
        longitude: Some(2.439497),
        ..Location::default()
    };
    let tran = |loc: Option<Location>| Person {
        name: Some(Names::new(s("tran"), s("chen"), None)),
        birth: loc.map(|l| Event {
            date: None,
            location: Some(l),
        }),
        ..Person::default()
    };
    let out = score_result(&tran(Some(geo.clone())), &tran(Some(geo)), &params, None);
    assert_eq!(
        out,
        json!({"name":{"score":1,"first":1,"last":1},"birthLocation":{"geo":1,"country":0.75,"score":0.75},"score":0.79})
    );

    let explain = Params {
        explain: true,
        ..Params::default()
    };
    let jeanne_a = Person {
        name: Some(Names::new(s("jeanne"), s("michou"), s("marie"))),
        sex: Some("F".into()),
        ..Person::default()
    };
    let jeanne_b = Person {
        name: Some(Names::new(s("jeanne"), s("marie"), None)),
        sex: Some("F".into()),
        ..Person::default()
    };
    assert_eq!(
        score_result(&jeanne_a, &jeanne_b, &explain, None),
        json!({"name":{"score":0.65,"first":1,"last":0.7},"sex":1,"birthLocation":{"country":0.75,"score":0.75},"score":0.46,
               "explain":{"sex":"F","lastName":{"longname":false,"penalty":1.5,"levenshteinScore":0.7},"firstName":{"levenshteinScore":1},"legalName":true,"birthCountry":"BirthCountry not France"}})
    );
    let long = |first: &str, last: &str, city: Option<&str>| Person {
        name: Some(Names::new(s(first), s(last), None)),
        sex: Some("F".into()),
        birth: city.map(|c| Event {
            date: None,
            location: Some(Location {
                city: s(c),
                country_code: Some("FRA".into()),
                ..Location::default()
            }),
        }),
        ..Person::default()
    };
    assert_eq!(
        score_result(
            &long("tran", "chen ju mei wou", None),
            &long("tran mi", "chen ju wang", None),
            &explain,
            None
        ),
        json!({"name":{"score":0.65,"first":1,"last":0.65},"sex":1,"birthLocation":{"country":0.75,"score":0.75},"score":0.46,
               "explain":{"sex":"F","lastName":{"longname":true,"penalty":1.5,"levenshteinScore":0.65},"firstName":{"levenshteinScore":1},"birthCountry":"BirthCountry not France"}})
    );
    assert_eq!(
        score_result(
            &long("tran", "chen ju mei wou", Some("Paris")),
            &long("tran mi", "chen ju wang", Some("Parisi")),
            &explain,
            None
        ),
        json!({"name":{"score":0.65,"first":1,"last":0.65},"sex":1,"birthLocation":{"city":0.83,"score":0.83},"score":0.52,
               "explain":{"sex":"F","lastName":{"longname":true,"penalty":1.5,"levenshteinScore":0.65},"firstName":{"levenshteinScore":1},"birthCountry":"France"}})
    );
}

/// Every number of a score object (its `explain` aside).
fn numbers(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        Value::Null => out.push(f64::NAN),
        Value::Object(map) => {
            for (k, v) in map {
                if k != "explain" {
                    numbers(v, out);
                }
            }
        }
        _ => {}
    }
}

fn any_text() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        "[a-zA-Z' -]{0,20}".prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "Jean-Pierre",
            "Müller",
            "Lefèvre",
            "Ben Ali",
            "De Gaulle",
            "李小龍",
            "Παπαδόπουλος",
            "Иванов",
            "Paris 15e",
            "Marseille",
            "Inconnu",
            "sans prenom",
            "99",
            "2A",
            "France",
            "Etats-Unis",
            "Algerie",
        ])
        .prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
    ]
}

fn any_date() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Value::Null),
        "[0-9]{8}".prop_map(Value::from),
        "[0-9]{2}/[0-9]{2}/[0-9]{4}".prop_map(Value::from),
        "[<>]?[0-9/]{0,10}(-[0-9/]{0,10})?".prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
        any::<i16>().prop_map(Value::from),
    ]
}

fn any_person() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let names = (
        any_text(),
        any_text(),
        any_text(),
        prop::sample::select(vec!["", "M", "F", "H", "X"]),
    );
    let dates = (any_date(), any_date(), any_date(), any::<u8>());
    let places = (
        any_text(),
        any_text(),
        any_text(),
        any_text(),
        -100.0..100.0f64,
        -200.0..200.0f64,
        any::<bool>(),
    );
    (names, dates, places).prop_map(
        |(
            (first, last, legal, sex),
            (birth, death, seen, age),
            (city, code, dep, country, lat, lon, geo),
        )| {
            let mut p = json!({
                "firstName": first, "lastName": last, "legalName": legal, "sex": sex,
                "birthDate": birth, "deathDate": death, "lastSeenAliveDate": seen,
                "birthCity": city.clone(), "birthLocationCode": code.clone(),
                "birthDepartment": dep.clone(), "birthCountry": country.clone(),
                "deathCity": city, "deathLocationCode": code, "deathDepartment": dep,
                "deathCountry": country,
            });
            if age % 3 == 0 {
                p["deathAge"] = json!(age);
            }
            if geo {
                p["birthGeoPoint"] = json!({"latitude": lat, "longitude": lon});
                p["deathGeoPoint"] = json!({"latitude": lon, "longitude": lat});
            }
            p
        },
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    /// Any two persons get a score in [0, 1], every sub-score too, the same each time.
    #[test]
    fn scores_stay_between_0_and_1(a in any_person(), b in any_person(), explain in proptest::prelude::any::<bool>(), prune in 0.0..1.0f64) {
        let body = json!({"personA": a, "personB": b, "params": {"explain": explain, "pruneScore": prune}});
        let out = compare(&body, None).unwrap();
        let mut all = Vec::new();
        numbers(&out, &mut all);
        proptest::prop_assert!(out["score"].is_number(), "{}", out);
        for n in all {
            proptest::prop_assert!((0.0..=1.0).contains(&n), "{} in {}", n, out);
        }
        proptest::prop_assert_eq!(compare(&body, None).unwrap(), out);
    }
}

fn french_hit(first: &[&str], last: &str, sex: &str, born: &str) -> Person {
    Person {
        birth: Some(Event {
            date: Some(DateIn::S(born.into())),
            location: Some(Location {
                country: s("France"),
                country_code: Some("FRA".into()),
                ..Location::default()
            }),
        }),
        ..hit_person(first, last, sex)
    }
}

/// scoring.md 10: the worked example, its variants, and the married-name rule.
#[test]
fn result_lists() {
    let request = json!({"sort": [{"score": "desc"}], "firstName": "Jean", "lastName": "Dupont", "birthDate": "12/05/1930"});
    let request = request.as_object().unwrap();
    let hits = vec![
        (french_hit(&["Jean"], "Dupont", "M", "19300512"), Some(40.0)),
        (french_hit(&["Jean"], "Dupont", "M", "19300513"), Some(35.0)),
        (
            french_hit(&["Jean", "Louis"], "Dupond", "M", "19310512"),
            Some(30.0),
        ),
    ];
    let out = score_results(request, &hits, &Params::default(), 1.0, None);
    let scores: Vec<Option<f64>> = out.iter().map(|s| s.score).collect();
    assert_eq!(scores, [Some(0.73), Some(0.49), Some(0.0)]);
    assert_eq!(out[0].scores.to_json()["multiMatchPenalty"], json!(0.8));
    assert_eq!(out[0].scores.to_json()["multiMatch"], json!(3));
    let es: Vec<Value> = out
        .iter()
        .map(|s| s.scores.to_json()["es"].clone())
        .collect();
    assert_eq!(es, [json!(0.2), json!(0.18), json!(0.15)]);
    let wide = Params {
        prune: 0.1,
        ..Params::default()
    };
    let out = score_results(request, &hits, &wide, 3.0, None);
    let scores: Vec<Option<f64>> = out.iter().map(|s| s.score).collect();
    assert_eq!(scores, [Some(0.79), Some(0.53), Some(0.0)]);
    let alone = score_results(request, &hits[..1], &Params::default(), 1.0, None);
    assert_eq!(alone[0].score, Some(0.91));
    assert!(!alone[0].scores.has("multiMatch"));

    let name_only = json!({"lastName": "Dupont", "firstName": "Jean"});
    let twins = vec![
        (french_hit(&["Jean"], "Dupont", "M", "19300512"), Some(10.0)),
        (french_hit(&["Jean"], "Dupont", "M", "19300512"), Some(10.0)),
    ];
    let out = score_results(
        name_only.as_object().unwrap(),
        &twins,
        &Params::default(),
        1.0,
        None,
    );
    assert_eq!(
        out.iter().map(|s| s.score).collect::<Vec<_>>(),
        [Some(0.85), Some(0.85)]
    );

    let marie = json!({"firstName": "Marie", "lastName": "Durand", "birthDate": "12/05/1930"});
    let women = vec![
        (
            french_hit(&["Marie"], "Durand", "F", "19300512"),
            Some(10.0),
        ),
        (french_hit(&["Marie"], "Martin", "F", "19300512"), Some(9.0)),
    ];
    let out = score_results(
        marie.as_object().unwrap(),
        &women,
        &Params::default(),
        1.0,
        None,
    );
    assert_eq!(
        out.iter().map(|s| s.score).collect::<Vec<_>>(),
        [Some(0.91), Some(0.0)]
    );

    // Hits Elasticsearch sorted on another field are not scored.
    let unsorted = vec![(french_hit(&["Jean"], "Dupont", "M", "19300512"), None)];
    let out = score_results(request, &unsorted, &Params::default(), 1.0, None);
    assert_eq!(out[0].score, None);
    assert_eq!(out[0].scores.to_json(), json!({"score": 0}));
    // Written as its JSON tree would be.
    let full = score_results(request, &hits, &Params::default(), 1.0, None);
    for s in full {
        assert_eq!(serde_json::to_value(&s.scores).unwrap(), s.scores.to_json());
    }
}

proptest::proptest! {
    /// A rule skipped for lack of its words would not have matched (every rule list).
    #[test]
    fn the_rules_words_only_skip_what_cannot_match(
        words in proptest::collection::vec(proptest::sample::select(vec![
            "de", "la", "los", "baron", "duc", "ben", "l", "d", "le", "el", "st", "dit", "mr",
            "mme", "madame", "inconnu", "sn", "snc", "sans", "nom", "prenom", "connu", "sp",
            "spc", "dupont", "jean", "x", "X", "-", "'", "  ", "paris", "lyon", "marseille",
            "15e", "arrondissement", "art", "ste", "aix", "pce", "les", "sous", "ss", "sur",
            "sainte", "clotilde", "berck", "mer", "montreuil", "s", "bois", "asnieres", "seine",
            "clichy", "garenne", "belleville", "saone", "levallois", "hollande", "angleterre",
            "grande", "bretagne", "vietnam", "2a", "01", "99",
        ]), 0..6)
    ) {
        use super::text::{apply, apply_every_rule};
        let text = words.join(" ");
        for list in [
            name::first_name_rules(),
            name::last_name_rules(),
            name::stop_name_rules(),
            place::city_rules(),
            place::country_rules(),
            place::department_rules(),
            place::borough_rules(),
        ] {
            proptest::prop_assert_eq!(apply(&text, list), apply_every_rule(&text, list));
        }
    }
}
