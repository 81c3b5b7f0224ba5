//! The wildcard matcher against an independent reference (a regex) on random patterns
//! and values holding `*`, `?`, escaped `${*}`/`${?}`/`${$}`, a private-use character,
//! letters of both cases and letters Unicode folds but IAM must not (`ſ`, Kelvin `K`, `ς`).

#[path = "support/glob_reference.rs"]
mod glob_reference;

use ferry_core::iam::matcher::{glob, pattern_without_variables, substitute, unescape};
use ferry_core::iam::Context;
use glob_reference::{matches, needs_variables, policy_text, Element};
use proptest::prelude::*;

/// Characters values are made of: every one a pattern can treat specially, both cases
/// of ASCII and non-ASCII letters, and letters Unicode folds to ASCII ones.
const VALUE_CHARS: &[char] = &[
    'a', 'b', 's', 'k', 'A', 'B', 'S', 'K', 'é', 'É', 'ſ', '\u{212A}', 'σ', 'ς', '*', '?', '$',
    '{', '}', ':', '/', '\u{E000}',
];

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        3 => Just(Element::Star),
        2 => Just(Element::One),
        1 => prop::sample::select(vec!['*', '?', '$']).prop_map(Element::Escaped),
        6 => prop::sample::select(vec![
            'a', 'b', 's', 'k', 'A', 'B', 'S', 'é', 'É', 'ſ', '\u{212A}', 'σ', 'ς', '{', '}', ':', '/',
            '\u{E000}'
        ])
            .prop_map(Element::Char),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VALUE_CHARS.to_vec()), 0..12)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Values that often do match: the pattern's own characters with wildcards filled in.
fn value_like(elements: &[Element]) -> impl Strategy<Value = String> {
    let parts: Vec<BoxedStrategy<String>> = elements
        .iter()
        .map(|element| match *element {
            Element::Star => value().prop_map(|v| v.chars().take(3).collect()).boxed(),
            Element::One => prop::sample::select(VALUE_CHARS.to_vec())
                .prop_map(String::from)
                .boxed(),
            Element::Escaped(c) | Element::Char(c) => Just(c.to_string()).boxed(),
        })
        .collect();
    parts.prop_map(|parts| parts.concat())
}

fn pattern_and_value() -> impl Strategy<Value = (Vec<Element>, String)> {
    prop::collection::vec(element(), 0..8).prop_flat_map(|elements| {
        let likely = value_like(&elements);
        (Just(elements), prop_oneof![value(), likely])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn glob_agrees_with_the_reference((elements, value) in pattern_and_value(), ignore_case in any::<bool>()) {
        let text = policy_text(&elements);
        let expected = matches(&elements, &value, ignore_case);
        let pattern = substitute(&text, &Context::default()).expect("no unresolved variables");
        prop_assert_eq!(glob(&pattern, &value, ignore_case), expected, "pattern {:?} value {:?}", text, value);
        if !needs_variables(&elements) {
            let raw = pattern_without_variables(&text);
            prop_assert_eq!(glob(&raw, &value, ignore_case), expected, "2008 pattern {:?}", text);
        }
    }

    #[test]
    fn substituted_context_values_are_literal(raw in value(), value in value()) {
        let mut context = Context::default();
        context.insert("aws:username", raw.as_str());
        let pattern = substitute("${aws:username}", &context).expect("the key is set");
        prop_assert_eq!(unescape(&pattern), raw.as_str());
        prop_assert_eq!(glob(&pattern, &value, false), raw == value);
    }
}
