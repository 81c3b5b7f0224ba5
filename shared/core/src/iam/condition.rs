//! Condition operators and how AWS evaluates them: several values of one key are ORed,
//! several keys and operators are ANDed; negated operators are true when no value
//! matches; an absent key makes positive operators false, negated ones true, `IfExists`
//! true, `ForAllValues:` true and `ForAnyValue:` false; `Null` tests presence.

use std::net::IpAddr;

use ipnet::IpNet;

use super::matcher::{arn_like, glob, unescape};

/// The set prefix of a condition operator, for keys with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// No prefix, meant for single-valued keys: true if a request value matches.
    None,
    /// `ForAnyValue:`: true if at least one request value matches; false when absent.
    ForAnyValue,
    /// `ForAllValues:`: true if every request value matches; true when absent.
    ForAllValues,
}

/// The comparison an operator makes, its negation and suffixes set aside
/// (`StringNotEqualsIfExists` is `StringEquals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Exact, case-sensitive string equality.
    StringEquals,
    /// String equality ignoring case.
    StringEqualsIgnoreCase,
    /// Case-sensitive match with `*` and `?` wildcards.
    StringLike,
    /// ARN match part by part with wildcards; `ArnEquals` is read as this too.
    ArnLike,
    /// Number equality; values that do not parse as numbers never match.
    NumericEquals,
    /// The request's number is less than the policy's.
    NumericLessThan,
    /// The request's number is at most the policy's.
    NumericLessThanEquals,
    /// The request's number is greater than the policy's.
    NumericGreaterThan,
    /// The request's number is at least the policy's.
    NumericGreaterThanEquals,
    /// The same instant (ISO 8601 date or epoch seconds).
    DateEquals,
    /// The request's date is before the policy's.
    DateLessThan,
    /// The request's date is at or before the policy's.
    DateLessThanEquals,
    /// The request's date is after the policy's.
    DateGreaterThan,
    /// The request's date is at or after the policy's.
    DateGreaterThanEquals,
    /// `true`/`false`, compared ignoring case.
    Bool,
    /// Base64-encoded bytes, compared as the encoded text.
    BinaryEquals,
    /// The request's IPv4 or IPv6 address lies in the policy's CIDR block (or is its one
    /// address).
    IpAddress,
    /// `Null`: `"true"` holds when the key is absent, `"false"` when present.
    Null,
}

/// A condition operator as written (`ForAnyValue:StringNotLikeIfExists`), taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// `ForAnyValue:`, `ForAllValues:` or no prefix.
    pub set: SetQualifier,
    /// The comparison applied to each policy value and request value.
    pub base: Base,
    /// `StringNotEquals`, `ArnNotLike`, `NotIpAddress`...: true when no value matches.
    pub negated: bool,
    /// The `IfExists` suffix: true when the key is absent from the request.
    pub if_exists: bool,
}

/// (name, base, negated). `ArnEquals` behaves as `ArnLike`, as AWS documents.
const OPERATORS: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("ArnEquals", Base::ArnLike, false),
    ("ArnLike", Base::ArnLike, false),
    ("ArnNotEquals", Base::ArnLike, true),
    ("ArnNotLike", Base::ArnLike, true),
    ("NumericEquals", Base::NumericEquals, false),
    ("NumericNotEquals", Base::NumericEquals, true),
    ("NumericLessThan", Base::NumericLessThan, false),
    ("NumericLessThanEquals", Base::NumericLessThanEquals, false),
    ("NumericGreaterThan", Base::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Base::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Base::DateEquals, false),
    ("DateNotEquals", Base::DateEquals, true),
    ("DateLessThan", Base::DateLessThan, false),
    ("DateLessThanEquals", Base::DateLessThanEquals, false),
    ("DateGreaterThan", Base::DateGreaterThan, false),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals, false),
    ("Bool", Base::Bool, false),
    ("BinaryEquals", Base::BinaryEquals, false),
    ("IpAddress", Base::IpAddress, false),
    ("NotIpAddress", Base::IpAddress, true),
    ("Null", Base::Null, false),
];

impl Operator {
    /// Reads an operator name with its optional set prefix and `IfExists` suffix;
    /// `None` for names AWS does not define (`NullIfExists` among them).
    pub fn parse(text: &str) -> Option<Self> {
        let (set, rest) = if let Some(rest) = text.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = text.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::None, text)
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(name) if name != "Null" => (name, true),
            _ => (rest, false),
        };
        let &(_, base, negated) = OPERATORS.iter().find(|(n, _, _)| *n == name)?;
        Some(Self {
            set,
            base,
            negated,
            if_exists,
        })
    }
}

/// Evaluates one condition (one operator, one key, its values) against the request's
/// values for the key (`None`: the key is absent).
pub fn evaluate(operator: Operator, policy_values: &[String], request: Option<&[String]>) -> bool {
    if operator.base == Base::Null {
        // {"Null": {"k": "true"}}: true when k is absent.
        let absent = request.is_none_or(|v| v.is_empty());
        return policy_values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("true") == absent);
    }
    let Some(request) = request.filter(|v| !v.is_empty()) else {
        if operator.if_exists {
            return true; // "If the key is not present, evaluate the condition as true"
        }
        return match operator.set {
            SetQualifier::ForAllValues => true,
            SetQualifier::ForAnyValue => false,
            SetQualifier::None => operator.if_exists || operator.negated,
        };
    };
    // One request value against the policy's values: positive operators match if any
    // policy value matches; negated ones if none does.
    let one = |value: &str| {
        let hit = policy_values
            .iter()
            .any(|p| matches(operator.base, p, value));
        hit != operator.negated
    };
    match operator.set {
        SetQualifier::ForAllValues => request.iter().all(|v| one(v)),
        SetQualifier::ForAnyValue => request.iter().any(|v| one(v)),
        // A single-valued key: its one value decides.
        SetQualifier::None => request.iter().any(|v| one(v)),
    }
}

fn matches(base: Base, policy: &str, value: &str) -> bool {
    match base {
        Base::StringEquals => unescape(policy) == value,
        Base::StringEqualsIgnoreCase => unescape(policy).to_lowercase() == value.to_lowercase(),
        Base::StringLike => glob(policy, value, false),
        Base::ArnLike => arn_like(policy, value),
        Base::NumericEquals => numeric(policy, value, |a, b| a == b),
        Base::NumericLessThan => numeric(policy, value, |p, v| v < p),
        Base::NumericLessThanEquals => numeric(policy, value, |p, v| v <= p),
        Base::NumericGreaterThan => numeric(policy, value, |p, v| v > p),
        Base::NumericGreaterThanEquals => numeric(policy, value, |p, v| v >= p),
        Base::DateEquals => date(policy, value, |p, v| v == p),
        Base::DateLessThan => date(policy, value, |p, v| v < p),
        Base::DateLessThanEquals => date(policy, value, |p, v| v <= p),
        Base::DateGreaterThan => date(policy, value, |p, v| v > p),
        Base::DateGreaterThanEquals => date(policy, value, |p, v| v >= p),
        Base::Bool => policy.eq_ignore_ascii_case(value),
        Base::BinaryEquals => unescape(policy) == value,
        Base::IpAddress => ip_in(policy, value),
        Base::Null => false,
    }
}

fn numeric(policy: &str, value: &str, op: impl Fn(f64, f64) -> bool) -> bool {
    match (policy.trim().parse::<f64>(), value.trim().parse::<f64>()) {
        (Ok(p), Ok(v)) => op(p, v),
        _ => false,
    }
}

/// Dates in the W3C profile of ISO 8601 that AWS accepts (`YYYY`, `YYYY-MM`,
/// `YYYY-MM-DD`, then `Thh:mm[:ss[.s]]` with `Z` or `±hh:mm`), or epoch seconds;
/// seconds since the epoch, negative before 1970.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = digits(parts.next()?, 4)?;
    let month: i64 = parts.next().map(|m| digits(m, 2)).unwrap_or(Some(1))?;
    let day: i64 = parts.next().map(|d| digits(d, 2)).unwrap_or(Some(1))?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if let Some(time) = time {
        let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
            (clock, 0)
        } else {
            let at = time.rfind(['+', '-'])?;
            let (clock, zone) = time.split_at(at);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            (clock, sign * (digits(h, 2)? * 3600 + digits(m, 2)? * 60))
        };
        let mut fields = clock.split(':');
        let hours = digits(fields.next()?, 2)?;
        let minutes = digits(fields.next()?, 2)?;
        let seconds = match fields.next() {
            Some(s) => digits(s.split('.').next()?, 2)?,
            None => 0,
        };
        if fields.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
            return None;
        }
        secs += hours * 3600 + minutes * 60 + seconds - offset;
    }
    Some(secs)
}

fn digits(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date(policy: &str, value: &str, op: impl Fn(i64, i64) -> bool) -> bool {
    match (parse_date(policy), parse_date(value)) {
        (Some(p), Some(v)) => op(p, v),
        _ => false,
    }
}

/// `value` (an address) within `policy` (a CIDR block, or one address), IPv4 or IPv6.
/// A block that does not parse (`10.0.0.0/abc`, `/40`) matches nothing, as in AWS:
/// reading it as a single address would grant or deny the wrong requests.
fn ip_in(policy: &str, value: &str) -> bool {
    let Ok(address) = value.trim().parse::<IpAddr>() else {
        return false;
    };
    let policy = policy.trim();
    let block = if policy.contains('/') {
        policy.parse::<IpNet>().ok()
    } else {
        policy.parse::<IpAddr>().ok().map(IpNet::from)
    };
    block.is_some_and(|block| block.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(op: &str, policy: &[&str], request: Option<&[&str]>) -> bool {
        let operator = Operator::parse(op).unwrap_or_else(|| panic!("{op} parses"));
        let policy: Vec<String> = policy.iter().map(|s| s.to_string()).collect();
        let request: Option<Vec<String>> =
            request.map(|r| r.iter().map(|s| s.to_string()).collect());
        evaluate(operator, &policy, request.as_deref())
    }

    #[test]
    fn string_operators() {
        assert!(eval("StringEquals", &["a", "b"], Some(&["b"])));
        assert!(!eval("StringEquals", &["a"], Some(&["A"])));
        assert!(eval("StringEqualsIgnoreCase", &["a"], Some(&["A"])));
        assert!(!eval("StringNotEquals", &["a", "b"], Some(&["b"])));
        assert!(eval("StringNotEquals", &["a", "b"], Some(&["c"])));
        assert!(eval("StringNotEqualsIgnoreCase", &["a"], Some(&["b"])));
        assert!(!eval("StringNotEqualsIgnoreCase", &["a"], Some(&["A"])));
        assert!(eval("StringLike", &["models/*"], Some(&["models/x/y"])));
        assert!(eval("StringLike", &["m?del"], Some(&["model"])));
        assert!(!eval("StringLike", &["models/*"], Some(&["Models/x"])));
        assert!(eval("StringNotLike", &["models/*"], Some(&["data/x"])));
    }

    #[test]
    fn arn_operators_match_segment_by_segment() {
        let role = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";
        assert!(eval(
            "ArnLike",
            &["arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-*"],
            Some(&[role])
        ));
        assert!(eval("ArnEquals", &["arn:aws:iam::*:role/*"], Some(&[role])));
        assert!(!eval(
            "ArnLike",
            &["arn:aws:iam::777788889999:role/Other*"],
            Some(&[role])
        ));
        assert!(!eval(
            "ArnLike",
            &["arn:aws-us-gov:iam::777788889999:role/*"],
            Some(&[role])
        ));
        assert!(eval(
            "ArnNotLike",
            &["arn:aws:iam::111122223333:*"],
            Some(&[role])
        ));
        assert!(eval(
            "ArnNotEquals",
            &["arn:aws:iam::777788889999:role/x"],
            Some(&[role])
        ));
    }

    #[test]
    fn numeric_date_bool_ip_binary() {
        assert!(eval("NumericLessThan", &["10"], Some(&["9"])));
        assert!(!eval("NumericLessThan", &["10"], Some(&["10"])));
        assert!(eval("NumericLessThanEquals", &["10"], Some(&["10"])));
        assert!(eval("NumericGreaterThan", &["10"], Some(&["10.5"])));
        assert!(eval("NumericGreaterThanEquals", &["10"], Some(&["10"])));
        assert!(eval("NumericEquals", &["3"], Some(&["3.0"])));
        assert!(eval("NumericNotEquals", &["3"], Some(&["4"])));
        assert!(!eval("NumericEquals", &["3"], Some(&["three"])));
        assert!(eval(
            "DateGreaterThan",
            &["2026-01-01T00:00:00Z"],
            Some(&["2026-11-22T07:00:00Z"])
        ));
        assert!(eval(
            "DateLessThan",
            &["2027-01-01"],
            Some(&["2026-11-22T07:00:00Z"])
        ));
        assert!(eval(
            "DateLessThanEquals",
            &["1795000000"],
            Some(&["1795000000"])
        ));
        assert!(eval(
            "DateGreaterThanEquals",
            &["1795000000"],
            Some(&["2026-11-18T11:06:40Z"])
        ));
        assert!(eval(
            "DateEquals",
            &["2026-11-18T11:06:40Z"],
            Some(&["1795000000"])
        ));
        assert!(eval(
            "DateNotEquals",
            &["2026-11-18T11:06:40Z"],
            Some(&["1795000001"])
        ));
        assert!(
            eval(
                "DateEquals",
                &["2026-11-18T03:06:40-08:00"],
                Some(&["1795000000"])
            ),
            "offsets"
        );
        assert!(
            eval("DateEquals", &["2026-11-18T11:06Z"], Some(&["1794999960"])),
            "no seconds"
        );
        assert!(
            eval(
                "DateLessThan",
                &["1970-01-01"],
                Some(&["1969-12-31T23:59:59Z"])
            ),
            "before 1970"
        );
        assert!(
            eval(
                "DateGreaterThan",
                &["2020"],
                Some(&["2020-01-01T00:00:01Z"])
            ),
            "a year alone"
        );
        assert!(
            !eval("DateEquals", &["2026-13-01"], Some(&["0"])),
            "no 13th month"
        );
        assert!(eval("Bool", &["true"], Some(&["true"])));
        assert!(!eval("Bool", &["false"], Some(&["true"])));
        assert!(eval("IpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"])));
        assert!(!eval("IpAddress", &["10.0.0.0/8"], Some(&["11.1.2.3"])));
        assert!(eval("NotIpAddress", &["10.0.0.0/8"], Some(&["11.1.2.3"])));
        assert!(eval(
            "IpAddress",
            &["2001:db8::/32"],
            Some(&["2001:db8::1"])
        ));
        assert!(eval("BinaryEquals", &["QmluYXJ5"], Some(&["QmluYXJ5"])));
    }

    #[test]
    fn ip_blocks_that_do_not_parse_match_no_address() {
        // Each was read as a /32 before: 10.0.0.0 itself matched.
        for block in [
            "10.0.0.0/abc",
            "10.0.0.0/40",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "300.0.0.0/8",
            "10.0.0/8",
            "/8",
            "",
            "2001:db8::/129",
            "2001:db8::/x",
        ] {
            for address in ["10.0.0.0", "10.0.0.1", "2001:db8::", "2001:db8::1"] {
                assert!(
                    !eval("IpAddress", &[block], Some(&[address])),
                    "{block:?} matched {address}"
                );
                assert!(
                    eval("NotIpAddress", &[block], Some(&[address])),
                    "{block:?} excluded {address}"
                );
            }
        }
    }

    #[test]
    fn ip_blocks_single_addresses_and_families() {
        assert!(eval("IpAddress", &["10.0.0.7"], Some(&["10.0.0.7"])));
        assert!(!eval("IpAddress", &["10.0.0.7"], Some(&["10.0.0.8"])));
        assert!(eval("IpAddress", &["10.0.0.7/24"], Some(&["10.0.0.200"])));
        assert!(eval("IpAddress", &["0.0.0.0/0"], Some(&["192.0.2.1"])));
        assert!(!eval("IpAddress", &["0.0.0.0/0"], Some(&["2001:db8::1"])));
        assert!(!eval("IpAddress", &["::/0"], Some(&["192.0.2.1"])));
        assert!(!eval("IpAddress", &["10.0.0.0/8"], Some(&["not-an-ip"])));
        // One bad block in a list does not spoil the good one beside it.
        assert!(eval(
            "IpAddress",
            &["10.0.0.0/abc", "10.0.0.0/8"],
            Some(&["10.9.9.9"])
        ));
    }

    #[test]
    fn absent_keys_and_if_exists() {
        assert!(!eval("StringEquals", &["a"], None));
        assert!(eval("StringNotEquals", &["a"], None));
        assert!(eval("ArnNotLike", &["a"], None));
        assert!(eval("NotIpAddress", &["10.0.0.0/8"], None));
        assert!(eval("StringEqualsIfExists", &["a"], None));
        assert!(!eval("StringEqualsIfExists", &["a"], Some(&["b"])));
        assert!(eval("Null", &["true"], None));
        assert!(!eval("Null", &["true"], Some(&["x"])));
        assert!(eval("Null", &["false"], Some(&["x"])));
        assert!(eval("ForAllValues:StringEquals", &["a"], None));
        assert!(!eval("ForAnyValue:StringEquals", &["a"], None));
        assert!(
            eval("ForAnyValue:StringLikeIfExists", &["x*"], None),
            "IfExists first"
        );
    }

    #[test]
    fn set_qualifiers_on_multivalued_keys() {
        assert!(eval(
            "ForAllValues:StringEquals",
            &["a", "b"],
            Some(&["a", "b"])
        ));
        assert!(!eval(
            "ForAllValues:StringEquals",
            &["a", "b"],
            Some(&["a", "c"])
        ));
        assert!(eval(
            "ForAnyValue:StringEquals",
            &["a", "b"],
            Some(&["c", "b"])
        ));
        assert!(!eval("ForAnyValue:StringEquals", &["a"], Some(&["c", "d"])));
        assert!(eval(
            "ForAnyValue:StringNotEquals",
            &["a"],
            Some(&["a", "d"])
        ));
        assert!(!eval(
            "ForAllValues:StringNotEquals",
            &["a"],
            Some(&["a", "d"])
        ));
        assert!(eval(
            "ForAnyValue:StringLikeIfExists",
            &["a*"],
            Some(&["abc"])
        ));
    }

    #[test]
    fn operator_names() {
        assert_eq!(Operator::parse("Nope"), None);
        assert_eq!(Operator::parse("NullIfExists"), None);
        let op = Operator::parse("ForAllValues:ArnNotLikeIfExists").unwrap();
        assert_eq!(
            (op.set, op.base, op.negated, op.if_exists),
            (SetQualifier::ForAllValues, Base::ArnLike, true, true)
        );
    }
}
