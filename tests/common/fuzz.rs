//! Text-level fuzzing: real inputs (queries, documents, rule groups, query
//! strings) cut into tokens and mutated a few tokens at a time — deleted,
//! repeated, swapped, replaced or preceded by tokens from the seeds
//! themselves and from a list of hostile ones. This reaches the text parsers
//! in the states real inputs put them in, which random strings rarely do.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Tokens that have broken parsers somewhere: numbers out of range, unbalanced
/// brackets and quotes, escapes, control and multi-byte characters, YAML and
/// template syntax, URL escapes.
pub const HOSTILE: &[&str] = &[
    "Inf", "-Inf", "+Inf", "NaN", "1e400", "-1e400", "1e-400", "-1", "0", "0x", "1e308",
    "99999999999999999999", "18446744073709551616", "9223372036854775808", "-9223372036854775809",
    "offset", "@", "start()", "by", "without", "bool", "on", "ignoring", "group_left", "or",
    "(", ")", "[", "]", "{", "}", "[1e400]", "[0s]", "[5m:0s]", "\"", "'", "`", "\\", "\\u",
    "\\x", ",", "=~", "!~", "=", "!=", "|", ".*", "^", "$", "{{", "}}", "{{ .", "$labels",
    "$value", "printf", "\0", "\u{7f}", "é", "\u{10ffff}", "🙂", "\n", "\r\n", "\t", " ", ":",
    "- ", "&a", "*a", "!!binary", "!!str", "~", "null", "true", "[]", "{}", "%", "%zz", "%00",
    "%C3", "&", "?", "#", "/", "..", "-", "_",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// Cuts `text` into tokens: words, numbers (with exponent and unit),
/// double-quoted strings, runs of white space, and single other characters.
pub fn tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let run = |i: &mut usize, f: &dyn Fn(u8) -> bool| {
            while *i < bytes.len() && f(bytes[*i]) {
                *i += 1;
            }
        };
        if b.is_ascii_alphabetic() || b == b'_' {
            run(&mut i, &|c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b':'
            });
        } else if b.is_ascii_digit() {
            run(&mut i, &|c| c.is_ascii_alphanumeric() || c == b'.');
        } else if b.is_ascii_whitespace() {
            run(&mut i, &|c| c.is_ascii_whitespace());
        } else if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(&text[start..i]);
    }
    out
}

/// One edit of a token list.
#[derive(Debug, Clone)]
enum Edit {
    Delete(Index),
    Repeat(Index),
    Swap(Index),
    Replace(Index, Index),
    Insert(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Repeat),
        any::<Index>().prop_map(Edit::Swap),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Insert(a, b)),
    ]
}

/// Inputs made from `seeds` by one to four token edits, with replacement
/// tokens drawn from every seed's tokens, [`HOSTILE`] and `extra`.
pub fn mutated(seeds: &[&str], extra: &[&str]) -> impl Strategy<Value = String> {
    let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    let mut dictionary: Vec<String> = seeds
        .iter()
        .flat_map(|s| tokens(s).into_iter().map(str::to_string))
        .chain(HOSTILE.iter().chain(extra).map(|s| s.to_string()))
        .collect();
    dictionary.sort();
    dictionary.dedup();
    (any::<Index>(), prop::collection::vec(edit(), 1..5)).prop_map(move |(seed, edits)| {
        let seed = seed.get(&seeds);
        let mut list: Vec<String> = tokens(seed).into_iter().map(str::to_string).collect();
        for e in edits {
            apply(&mut list, &e, &dictionary);
        }
        list.concat()
    })
}

fn apply(list: &mut Vec<String>, edit: &Edit, dictionary: &[String]) {
    if list.is_empty() {
        if let Edit::Insert(_, word) | Edit::Replace(_, word) = edit {
            list.push(word.get(dictionary).clone());
        }
        return;
    }
    match edit {
        Edit::Delete(at) => {
            list.remove(at.index(list.len()));
        }
        Edit::Repeat(at) => {
            let i = at.index(list.len());
            list.insert(i, list[i].clone());
        }
        Edit::Swap(at) => {
            let i = at.index(list.len());
            let j = (i + 1) % list.len();
            list.swap(i, j);
        }
        Edit::Replace(at, word) => {
            let i = at.index(list.len());
            list[i] = word.get(dictionary).clone();
        }
        Edit::Insert(at, word) => {
            let i = at.index(list.len() + 1);
            list.insert(i, word.get(dictionary).clone());
        }
    }
}

/// Runs `check` on `cases` inputs from `strategy` (no failure files: CI runs
/// on a fresh clone), failing with the smallest input found to fail.
pub fn run_cases<S: Strategy>(cases: u32, strategy: S, check: impl FnMut(S::Value)) {
    let check = std::cell::RefCell::new(check);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |input| {
        (check.borrow_mut())(input);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
