//! An independent reference for IAM wildcard matching, for property tests and the fuzz
//! target: a pattern as a list of elements, written out as policy text (what Ferry
//! parses) and as an anchored regular expression (what decides).

use std::fmt::Write;

/// One element of a policy pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// `*`
    Star,
    /// `?`
    One,
    /// `${*}`, `${?}` or `${$}`: the character itself.
    Escaped(char),
    /// Any other character; never `$`, so no `${` forms by accident.
    Char(char),
}

/// The policy text of `elements`.
pub fn policy_text(elements: &[Element]) -> String {
    let mut text = String::new();
    for element in elements {
        match element {
            Element::Star => text.push('*'),
            Element::One => text.push('?'),
            Element::Escaped(c) => {
                let _ = write!(text, "${{{c}}}");
            }
            Element::Char(c) => text.push(*c),
        }
    }
    text
}

/// Whether any element needs policy variables (a 2012-10-17 policy).
pub fn needs_variables(elements: &[Element]) -> bool {
    elements.iter().any(|e| matches!(e, Element::Escaped(_)))
}

/// Whether `value` matches `elements`, decided by the `regex` crate. `ignore_case`
/// folds ASCII letters only (a class of both cases), as IAM's action names need.
pub fn matches(elements: &[Element], value: &str, ignore_case: bool) -> bool {
    let mut expression = String::from("(?s)\\A");
    for element in elements {
        match element {
            Element::Star => expression.push_str(".*"),
            Element::One => expression.push('.'),
            Element::Escaped(c) | Element::Char(c) if ignore_case && c.is_ascii_alphabetic() => {
                let _ = write!(
                    expression,
                    "[{}{}]",
                    c.to_ascii_lowercase(),
                    c.to_ascii_uppercase()
                );
            }
            Element::Escaped(c) | Element::Char(c) => {
                expression.push_str(&regex::escape(&c.to_string()))
            }
        }
    }
    expression.push_str("\\z");
    regex::Regex::new(&expression)
        .expect("the reference builds only valid expressions")
        .is_match(value)
}
