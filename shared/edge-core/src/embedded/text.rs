//! Text as the index sees it (insee-format.md 6): the `norm` analyzer's tokens and the
//! `norm` normalizer's whole value; Elasticsearch's `auto` fuzziness; edit distances and
//! the deletion neighbourhood that finds fuzzy terms through an index.

/// The `norm` analyzer: `"Jean-Pierre"` -> `["jean", "pierre"]`.
pub fn tokens(text: &str) -> Vec<String> {
    normalised(text)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The `norm` normalizer: the whole value as one term (`"Jean-Pierre"` -> `"jean pierre"`):
/// ASCII folding and lower case, each run of characters that are not letters or digits
/// one space, none at the ends (the analyzer's tokens joined by spaces).
pub fn normalised(text: &str) -> String {
    let folded;
    let ascii = if text.is_ascii() {
        text
    } else {
        folded = crate::insee::ascii_fold(text);
        &folded
    };
    let mut out = String::with_capacity(ascii.len());
    let mut apart = false;
    for b in ascii.bytes() {
        if b.is_ascii_alphanumeric() {
            if apart && !out.is_empty() {
                out.push(' ');
            }
            apart = false;
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            apart = true;
        }
    }
    out
}

/// Elasticsearch's `fuzziness: auto`: no edit up to 2 characters, one up to 5, two beyond.
pub fn fuzziness(term: &str) -> usize {
    match term.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions counted as
/// one edit, as Elasticsearch's fuzzy queries count them), or `None` above `max`.
pub fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; 3];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur][0] = i;
        let mut best = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[prev2][j - 2] + 1);
            }
            rows[cur][j] = d;
            best = best.min(d);
        }
        if best > max {
            return None;
        }
    }
    let d = rows[a.len() % 3][b.len()];
    (d <= max).then_some(d)
}

/// The term and every string made from it by deleting up to `max` characters: two terms
/// within `max` edits of each other share one of them (a "symmetric deletion" index).
/// The term first, then the strings of one deletion, of two..., each length sorted.
pub fn deletions(term: &str, max: usize) -> Vec<String> {
    let mut out = vec![term.to_string()];
    let mut level = vec![term.chars().collect::<Vec<char>>()];
    for _ in 0..max {
        // Strings of one more deletion are one character shorter than all before: they
        // can only repeat each other.
        let mut next: Vec<Vec<char>> = level
            .iter()
            .flat_map(|word| {
                (0..word.len()).map(move |skip| {
                    let mut shorter = word.clone();
                    shorter.remove(skip);
                    shorter
                })
            })
            .collect();
        next.sort_unstable();
        next.dedup();
        out.extend(next.iter().map(|w| w.iter().collect::<String>()));
        level = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn analysis_as_the_index_does_it() {
        assert_eq!(tokens("Jean-Pierre"), ["jean", "pierre"]);
        assert_eq!(tokens("Le Goff"), ["le", "goff"]);
        assert_eq!(tokens("Lefèvre"), ["lefevre"]);
        assert_eq!(tokens("  "), Vec::<String>::new());
        assert_eq!(normalised("Ambérieu-en-Bugey"), "amberieu en bugey");
        assert_eq!(normalised("Etats-Unis"), "etats unis");
        assert_eq!(normalised("Müller"), "muller");
    }

    #[test]
    fn fuzziness_is_elasticsearchs_auto() {
        assert_eq!(
            ["ab", "abc", "abcde", "abcdef"].map(fuzziness),
            [0, 1, 1, 2]
        );
    }

    #[test]
    fn distances() {
        assert_eq!(distance("dupont", "dupond", 2), Some(1));
        assert_eq!(distance("martin", "matrin", 2), Some(1));
        assert_eq!(distance("lefevre", "lefebvre", 2), Some(1));
        assert_eq!(distance("leclerc", "leclercq", 1), Some(1));
        assert_eq!(distance("martin", "bernard", 2), None);
        assert_eq!(distance("", "ab", 2), Some(2));
        assert_eq!(distance("abc", "abc", 0), Some(0));
    }

    #[test]
    fn deletion_neighbourhoods() {
        let d = deletions("abc", 1);
        assert_eq!(d, ["abc", "ab", "ac", "bc"]);
        assert_eq!(deletions("aab", 1), ["aab", "aa", "ab"]);
        assert_eq!(
            deletions("abba", 2),
            ["abba", "aba", "abb", "bba", "aa", "ab", "ba", "bb"]
        );
        assert_eq!(deletions("abcdef", 2).len(), 1 + 6 + 15);
    }

    /// Terms indexed with their own `auto` deletions are found by every query term within
    /// its `auto` distance: the index never misses what a scan would find.
    fn found_through_deletions(q: &str, t: &str) -> bool {
        let mine = deletions(q, fuzziness(q));
        let theirs = deletions(t, fuzziness(t));
        mine.iter().any(|v| theirs.contains(v))
    }

    proptest! {
        /// The one-pass `norm` normalizer is ASCII folding, lower case, and the words
        /// between characters that are not letters or digits, joined by spaces.
        #[test]
        fn normalised_is_folding_then_words(text in "[ a-zA-Z0-9éèÉçÇœŒß'’.,-]{0,24}") {
            let folded: String = crate::insee::ascii_fold(&text)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' })
                .collect();
            let words: Vec<&str> = folded.split_whitespace().collect();
            prop_assert_eq!(normalised(&text), words.join(" "));
            prop_assert_eq!(tokens(&text), words);
        }

        #[test]
        fn the_deletion_index_finds_every_fuzzy_match(
            t in "[abcde]{1,9}",
            edits in proptest::collection::vec((0usize..3, 0usize..10, "[abcdef]"), 0..3),
        ) {
            let mut q: Vec<char> = t.chars().collect();
            for (kind, at, c) in edits {
                let c = c.chars().next().unwrap();
                let at = at % (q.len() + 1);
                match kind {
                    0 => q.insert(at, c),
                    1 if at < q.len() => { q.remove(at); }
                    _ if at < q.len() => q[at] = c,
                    _ => {}
                }
            }
            let q: String = q.into_iter().collect();
            if distance(&q, &t, fuzziness(&q)).is_some() {
                prop_assert!(found_through_deletions(&q, &t), "{q} vs {t}");
            }
        }
    }
}
