//! `deces-edge sample`: a synthetic INSEE death file, reproducible from its seed.
//!
//! Surnames: 15% from faker's French list (most frequent first, weight 1/(rank+10)), 85% from
//! words of real commune names (many French surnames are place names; weight 1/(rank+50)
//! in a seeded order), 4% of them compound (`X-Y`, `LE X`, `DE X`); one to three given
//! names of the person's sex (weight 1/(rank+5)); births in real communes weighted by their
//! population (88%) or abroad in a country of the vendored table (12%); deaths in
//! 1970-2026 at ages around 78 (0-105) in French communes (97%) or abroad; 2% of birth
//! dates with an unknown day, 1% with an unknown month and day.

use anyhow::Result;
use edge_core::insee::{names, places::Referential};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

pub const USAGE: &str = "usage: deces-edge sample --records N [--seed S] [--out FILE]";

struct Pick<T> {
    items: Vec<T>,
    weights: WeightedIndex<f64>,
}

impl<T> Pick<T> {
    fn new(items: Vec<T>, weight: impl Fn(usize, &T) -> f64) -> Self {
        let w: Vec<f64> = items
            .iter()
            .enumerate()
            .map(|(i, t)| weight(i, t))
            .collect();
        Pick {
            weights: WeightedIndex::new(w).expect("positive weights"),
            items,
        }
    }

    fn one(&self, rng: &mut StdRng) -> &T {
        &self.items[self.weights.sample(rng)]
    }
}

fn fold_upper(s: &str) -> String {
    edge_core::insee::ascii_fold(s).to_uppercase()
}

/// Writes `n` fixed-width lines.
pub fn write(n: u64, seed: u64, out: &mut impl Write) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let refs = Referential::vendored();
    let lines = |text: &'static str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let common = Pick::new(lines(names::LAST), |i, _| 1.0 / (i as f64 + 10.0));
    let male = Pick::new(lines(names::FIRST_MALE), |i, _| 1.0 / (i as f64 + 5.0));
    let female = Pick::new(lines(names::FIRST_FEMALE), |i, _| 1.0 / (i as f64 + 5.0));
    let mut communes: Vec<(String, String, u64)> = refs
        .communes
        .iter()
        .filter(|(code, c)| c.population > 0 && c.history.first() <= Some(code))
        .map(|(code, c)| (code.clone(), fold_upper(&c.name), c.population))
        .collect();
    communes.sort();
    let mut words: Vec<String> = communes
        .iter()
        .flat_map(|(_, name, _)| {
            name.split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 4)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    words.sort();
    words.dedup();
    // A seeded order, so that rank (and frequency) does not follow the alphabet.
    for i in (1..words.len()).rev() {
        words.swap(i, rng.gen_range(0..=i));
    }
    let place_names = Pick::new(words, |i, _| 1.0 / (i as f64 + 50.0));
    let births = Pick::new(communes, |_, c| c.2 as f64);
    let mut countries: Vec<(String, String)> = refs
        .countries
        .iter()
        .filter(|(code, _)| code.starts_with("99") && code.as_str() != "99100")
        .map(|(code, (_, label))| (code.clone(), label.clone()))
        .collect();
    countries.sort();
    let abroad = Pick::new(countries, |i, _| 1.0 / (i as f64 % 7.0 + 1.0));
    let mut out = std::io::BufWriter::new(out);
    for _ in 0..n {
        let surname = |rng: &mut StdRng| {
            if rng.gen_bool(0.15) {
                common.one(rng).clone()
            } else {
                place_names.one(rng).clone()
            }
        };
        let mut nom = surname(&mut rng);
        match rng.gen_range(0..100) {
            0 | 1 => nom = format!("{nom}-{}", surname(&mut rng)),
            2 => nom = format!("LE {nom}"),
            3 => nom = format!("DE {nom}"),
            _ => {}
        }
        let female_sex = rng.gen_bool(0.5);
        let given = if female_sex { &female } else { &male };
        let count = [1, 1, 2, 2, 2, 3][rng.gen_range(0..6)];
        let mut prenoms: Vec<String> = (0..count).map(|_| given.one(&mut rng).clone()).collect();
        if rng.gen_range(0..25) == 0 {
            prenoms[0] = format!("{}-{}", prenoms[0], given.one(&mut rng));
        }
        let death_day = rng.gen_range(0..(2026 - 1970) * 365 + 330);
        let death = edge_core::insee::date_of_unix_day(death_day as i64);
        let dy: i64 = death[..4].parse().unwrap_or(1970);
        let age: i64 = ((0..4).map(|_| rng.gen_range(0..=52)).sum::<i64>() / 2
            + rng.gen_range(0..=10))
        .min(105);
        let by = dy - age - i64::from(rng.gen_bool(0.5));
        let (bm, bd) = match rng.gen_range(0..100) {
            0 => (0, 0),
            1 | 2 => (rng.gen_range(1..=12), 0),
            _ => (rng.gen_range(1..=12), rng.gen_range(1..=28)),
        };
        let (bcode, blabel, bcountry) = if rng.gen_bool(0.88) {
            let c = births.one(&mut rng);
            (c.0.clone(), c.1.clone(), String::new())
        } else {
            let c = abroad.one(&mut rng);
            (c.0.clone(), place_names.one(&mut rng).clone(), c.1.clone())
        };
        let dcode = if rng.gen_bool(0.97) {
            births.one(&mut rng).0.clone()
        } else {
            abroad.one(&mut rng).0.clone()
        };
        let line = format!(
            "{:<80}{}{:04}{:02}{:02}{:<5}{:<30}{:<30}{}{:<5}{:<9}",
            format!("{nom}*{}/", prenoms.join(" ")),
            if female_sex { 2 } else { 1 },
            by.max(1870),
            bm,
            bd,
            bcode,
            blabel.chars().take(30).collect::<String>(),
            bcountry.chars().take(30).collect::<String>(),
            death,
            dcode,
            rng.gen_range(1..2000),
        );
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::insee::parse_line;

    #[test]
    fn samples_are_valid_reproducible_lines() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write(2000, 7, &mut a).unwrap();
        write(2000, 7, &mut b).unwrap();
        assert_eq!(a, b, "same seed, same file");
        let text = String::from_utf8(a).unwrap();
        let mut surnames = std::collections::HashSet::new();
        let mut women = 0;
        for line in text.lines() {
            assert_eq!(line.len(), 176, "{line}");
            let r = parse_line(line).unwrap();
            surnames.insert(r.names().nom);
            women += usize::from(r.sex() == "F");
            let age = r.age().expect("an age");
            assert!(age <= 106, "{line}");
        }
        assert!(surnames.len() > 1000, "{} surnames", surnames.len());
        assert!((800..1200).contains(&women), "{women}");
    }
}
