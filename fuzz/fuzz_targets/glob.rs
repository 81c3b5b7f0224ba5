//! Any bytes as a wildcard pattern (elements of policy text), a value and a case flag:
//! Ferry's matcher must agree with the reference regex matcher, and never panic.
#![no_main]

#[path = "../../shared/core/tests/support/glob_reference.rs"]
mod glob_reference;

use ferry_core::iam::matcher::{glob, pattern_without_variables, substitute};
use ferry_core::iam::Context;
use glob_reference::{matches, needs_variables, policy_text, Element};
use libfuzzer_sys::fuzz_target;

/// Characters that test what matters: wildcards, `$`/braces, the escape's own
/// private-use character, both cases, multi-byte letters.
const CHARS: &[char] = &[
    'a', 'b', 's', 'k', 'A', 'B', 'S', 'K', 'é', 'É', '/', ':', '{', '}', '\u{E000}', 'ß', 'ẞ', 'ſ',
    '\u{212A}', 'ς', 'σ',
];

fn element(byte: u8) -> Element {
    match byte % 16 {
        0..=2 => Element::Star,
        3 => Element::One,
        4 => Element::Escaped(['*', '?', '$'][usize::from(byte / 16) % 3]),
        _ => Element::Char(CHARS[usize::from(byte / 16) % CHARS.len()]),
    }
}

fn value_char(byte: u8) -> char {
    match byte % 4 {
        0 => '*',
        1 => '?',
        _ => CHARS[usize::from(byte / 4) % CHARS.len()],
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else { return };
    let split = rest.iter().position(|b| *b == 0xff).unwrap_or(rest.len());
    let (pattern, value) = rest.split_at(split);
    let elements: Vec<Element> = pattern.iter().take(64).map(|b| element(*b)).collect();
    let value: String = value.iter().skip(1).take(64).map(|b| value_char(*b)).collect();
    let ignore_case = flags & 1 == 1;
    let text = policy_text(&elements);
    let expected = matches(&elements, &value, ignore_case);
    let pattern = substitute(&text, &Context::default()).expect("no unresolved variables");
    assert_eq!(glob(&pattern, &value, ignore_case), expected, "{text:?} {value:?}");
    if !needs_variables(&elements) {
        assert_eq!(glob(&pattern_without_variables(&text), &value, ignore_case), expected);
    }
});
