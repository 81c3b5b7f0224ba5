//! Matching: actions case-insensitively, ARNs case-sensitively (segment by segment for
//! the `Arn*` operators), `*` and `?` wildcards; principals; policy variables.

use std::borrow::Cow;

use super::policy::Principals;
use super::Context;

/// In a pattern, makes the character after it literal. `${*}`, `${?}`, `${$}` and
/// substituted values become literal this way, so an S3 key's own `*` never acts as a
/// wildcard. A private-use character: a policy's own copy of it is escaped too.
const ESCAPE: char = '\u{E000}';

/// One element of a pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `?`: exactly one character.
    One,
    Literal(char),
}

/// The token at byte offset `at` of `pattern` and the offset after it.
fn token_at(pattern: &str, at: usize) -> Option<(Token, usize)> {
    let mut chars = pattern[at..].chars();
    let c = chars.next()?;
    let token = match c {
        '*' => Token::Star,
        '?' => Token::One,
        ESCAPE => match chars.next() {
            Some(escaped) => {
                return Some((
                    Token::Literal(escaped),
                    at + c.len_utf8() + escaped.len_utf8(),
                ))
            }
            None => Token::Literal(ESCAPE),
        },
        c => Token::Literal(c),
    };
    Some((token, at + c.len_utf8()))
}

/// A pattern's text with its escapes removed: what `StringEquals` compares.
pub fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut at = 0;
    while let Some((token, next)) = token_at(pattern, at) {
        out.push(match token {
            Token::Star => '*',
            Token::One => '?',
            Token::Literal(c) => c,
        });
        at = next;
    }
    out
}

/// Pushes `text` so that every character in `special` matches only itself.
fn push_escaped(out: &mut String, text: &str, special: &[char]) {
    for c in text.chars() {
        if c == ESCAPE || special.contains(&c) {
            out.push(ESCAPE);
        }
        out.push(c);
    }
}

/// A pattern from policy text that takes no variables (policy version 2008-10-17):
/// its `*` and `?` are wildcards, and only the escape character needs escaping.
pub fn pattern_without_variables(text: &str) -> Cow<'_, str> {
    if !text.contains(ESCAPE) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 3);
    push_escaped(&mut out, text, &[]);
    Cow::Owned(out)
}

/// `text` written for a policy's Resource or `StringLike` value so that it matches only
/// itself: `*`, `?` and `$` become `${*}`, `${?}` and `${$}` (policy version 2012-10-17).
/// Without this, a grant on the folder `mist*/` would cover every folder starting
/// with `mist`.
pub(crate) fn literal_in_policy(text: &str) -> Cow<'_, str> {
    if !text.contains(['*', '?', '$']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '*' | '?' | '$' => {
                out.push_str("${");
                out.push(c);
                out.push('}');
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Case folds ASCII only: action names, the one case-insensitive match, are ASCII, and
/// Unicode folding (`ſ` as `s`, the Kelvin sign as `k`) would widen a pattern.
fn same_char(pattern: char, value: char, ignore_case: bool) -> bool {
    pattern == value || (ignore_case && pattern.eq_ignore_ascii_case(&value))
}

/// `*` matches any run of characters, `?` exactly one; escaped characters match only
/// themselves. Iterative with one backtrack point (the latest `*`), which is enough for
/// these two wildcards: linear in practice, no recursion, no allocation.
pub fn glob(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (mut pi, mut vi) = (0, 0);
    // After the latest `*`: where the pattern resumes and the value position it took.
    let mut retry: Option<(usize, usize)> = None;
    loop {
        let token = token_at(pattern, pi);
        if let Some((Token::Star, next)) = token {
            retry = Some((next, vi));
            pi = next;
            continue;
        }
        let next_char = value[vi..].chars().next();
        let step = match (token, next_char) {
            (None, None) => return true,
            (Some((Token::One, next)), Some(c)) => Some((next, c)),
            (Some((Token::Literal(p), next)), Some(c)) if same_char(p, c, ignore_case) => {
                Some((next, c))
            }
            _ => None,
        };
        match (step, retry) {
            (Some((next, c)), _) => {
                pi = next;
                vi += c.len_utf8();
            }
            // The latest `*` takes one more character, and matching resumes after it.
            (None, Some((resume, taken))) => {
                let Some(c) = value[taken..].chars().next() else {
                    return false;
                };
                retry = Some((resume, taken + c.len_utf8()));
                pi = resume;
                vi = taken + c.len_utf8();
            }
            (None, None) => return false,
        }
    }
}

/// `ArnLike`/`ArnEquals`: the six `:`-separated parts match one by one, so a wildcard
/// never reaches across the partition, service, region or account.
pub(crate) fn arn_like(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| glob(p, v, false))
}

/// An `Action` pattern against an action (`service:Name`, case-insensitive).
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true)
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestPrincipal {
    /// An AWS service (`bedrock.amazonaws.com`).
    Service(String),
    /// An IAM role (via a session) or user.
    Aws {
        /// `arn:P:iam::ACCOUNT:role/NAME` (or `user/NAME`).
        arn: String,
        /// `arn:P:sts::ACCOUNT:assumed-role/NAME/SESSION` for roles.
        session_arn: Option<String>,
        /// The 12-digit account ID the role or user belongs to.
        account: String,
        /// The ARN's partition (`aws`, `aws-us-gov`, `aws-cn`).
        partition: String,
    },
}

impl RequestPrincipal {
    /// The requester an ARN stands for: a role (through a session named `session`), an
    /// assumed-role session, or a user. The partition is the ARN's own, `partition`
    /// when it has none.
    pub(crate) fn from_arn(arn: &str, partition: &str, session: &str) -> Self {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let account = parts.get(4).copied().unwrap_or_default().to_owned();
        let resource = parts.get(5).copied().unwrap_or_default();
        let partition = parts.get(1).copied().unwrap_or(partition).to_owned();
        let (role_arn, session_arn) = if let Some(path) = resource.strip_prefix("role/") {
            let name = path.rsplit('/').next().unwrap_or(path);
            (
                arn.to_owned(),
                Some(format!(
                    "arn:{partition}:sts::{account}:assumed-role/{name}/{session}"
                )),
            )
        } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
            let name = rest.split('/').next().unwrap_or(rest);
            (
                format!("arn:{partition}:iam::{account}:role/{name}"),
                Some(arn.to_owned()),
            )
        } else {
            (arn.to_owned(), None)
        };
        RequestPrincipal::Aws {
            arn: role_arn,
            session_arn,
            account,
            partition,
        }
    }
}

/// How a `Principal` element names the requester. The difference matters: an account
/// grant delegates to the account's identity policies; only a session grant escapes a
/// permissions boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    Account,
    Everyone,
    Role,
    Session,
}

/// How `principals` names `who`. A bare account id stands for the account's root in
/// `partition` (the request's), so it never names an account of another partition.
pub(crate) fn principal_match(
    principals: &Principals,
    who: &RequestPrincipal,
    partition: &str,
) -> Option<PrincipalMatch> {
    named(principals, who, partition).into_iter().max()
}

/// Whether a `NotPrincipal` list excludes `who`. AWS checks the account, then the role,
/// then the session: a requester is excluded only when its account and its role (or
/// session, or user) are both listed; listing only one leaves the Deny in force.
pub(crate) fn not_principal_excludes(
    principals: &Principals,
    who: &RequestPrincipal,
    partition: &str,
) -> bool {
    let kinds = named(principals, who, partition);
    match who {
        RequestPrincipal::Service(_) => !kinds.is_empty(),
        RequestPrincipal::Aws { .. } => {
            principals.everyone
                || (kinds.contains(&PrincipalMatch::Account)
                    && (kinds.contains(&PrincipalMatch::Role)
                        || kinds.contains(&PrincipalMatch::Session)))
        }
    }
}

/// Every way `principals` names `who`.
fn named(principals: &Principals, who: &RequestPrincipal, partition: &str) -> Vec<PrincipalMatch> {
    if principals.everyone {
        return vec![PrincipalMatch::Everyone];
    }
    match who {
        RequestPrincipal::Service(service) => {
            if principals
                .service
                .iter()
                .any(|s| s.eq_ignore_ascii_case(service))
            {
                vec![PrincipalMatch::Role]
            } else {
                Vec::new()
            }
        }
        RequestPrincipal::Aws {
            arn,
            session_arn,
            account,
            partition: own,
        } => {
            let mut found = Vec::new();
            for listed in &principals.aws {
                let root = if listed.len() == 12 && listed.bytes().all(|b| b.is_ascii_digit()) {
                    format!("arn:{partition}:iam::{listed}:root")
                } else {
                    listed.clone()
                };
                if listed == arn {
                    found.push(PrincipalMatch::Role);
                } else if Some(listed) == session_arn.as_ref() {
                    found.push(PrincipalMatch::Session);
                } else if root == format!("arn:{own}:iam::{account}:root") {
                    found.push(PrincipalMatch::Account);
                }
            }
            found
        }
    }
}

/// Substitutes `${key}` policy variables from the request context (first value);
/// `${*}`, `${?}`, `${$}` are the literal characters; `${key, 'default'}` has a
/// fallback. `None` when a variable cannot be resolved: the pattern then matches
/// nothing, as in AWS. Borrowed when there is nothing to substitute (the usual case).
pub fn substitute<'t>(text: &'t str, context: &Context) -> Option<Cow<'t, str>> {
    if !text.contains("${") {
        return Some(pattern_without_variables(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        push_escaped(&mut out, &rest[..start], &[]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let inner = after[..end].trim();
        let value = match inner {
            "*" | "?" | "$" => inner,
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                context.first(key).or(default)?
            }
        };
        push_escaped(&mut out, value, &['*', '?']);
        rest = &after[end + 1..];
    }
    push_escaped(&mut out, rest, &[]);
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(glob("*", "", false));
        assert!(glob("a*c", "abbbc", false));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob("*x*y*", "axbyc", false));
        assert!(!glob("abc", "ABC", false));
        assert!(glob("s3:get*", "s3:GetObject", true));
        assert!(glob(&"*a".repeat(20), &"a".repeat(40), false));
        assert!(!glob(&"*a".repeat(20), &"b".repeat(1000), false));
    }

    #[test]
    fn values_holding_wildcard_characters() {
        // A `*` in the value is an ordinary character for the pattern's `*` to cover.
        assert!(glob("a*", "a*b", false));
        assert!(glob("bucket/p/*", "bucket/p/*README", false));
        assert!(glob("*b", "**b", false));
        assert!(glob("a?c", "a*c", false));
        assert!(glob("a?c", "a?c", false));
        assert!(glob("*?", "?", false));
        assert!(!glob("a*", "b*", false));
        assert!(glob("*e", "EE", true));
        assert!(!glob("*e", "EE", false));
        assert!(!glob("*é", "ÉÉ", true), "only ASCII folds");
        assert!(!glob("s3:getobject", "ſ3:GetObject", true));
    }

    #[test]
    fn literal_text_for_policies_matches_only_itself() {
        let ctx = Context::default();
        let written = literal_in_policy("mist*/a?b$c/");
        assert_eq!(written, "mist${*}/a${?}b${$}c/");
        let text = format!("{written}*");
        let pattern = substitute(&text, &ctx).unwrap();
        assert!(glob(&pattern, "mist*/a?b$c/w.safetensors", false));
        assert!(!glob(&pattern, "mistral/a?b$c/w.safetensors", false));
        assert!(!glob(&pattern, "mist*/aXb$c/w", false));
        assert!(matches!(literal_in_policy("models/"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_characters_are_literal_and_the_escape_itself_is_too() {
        let ctx = Context::default();
        let star = substitute("a${*}", &ctx).unwrap();
        assert!(glob(&star, "a*", false));
        assert!(!glob(&star, "ab", false));
        // A private-use character in the policy's text or the value stays itself.
        let odd = "a\u{E000}*";
        assert!(glob(&substitute(odd, &ctx).unwrap(), "a\u{E000}xyz", false));
        assert!(glob(&pattern_without_variables(odd), "a\u{E000}xyz", false));
        assert!(!glob(&pattern_without_variables(odd), "a*xyz", false));
        assert!(!glob(&star, "a\u{E000}", false));
        assert_eq!(unescape(&substitute(odd, &ctx).unwrap()), odd);
    }

    #[test]
    fn actions_ignore_case_arns_do_not() {
        assert!(action_matches("S3:GETOBJECT", "s3:GetObject"));
        assert!(action_matches("kms:ReEncrypt*", "kms:ReEncryptFrom"));
        assert!(!arn_like("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"));
        assert!(arn_like(
            "arn:aws:s3:::model-*",
            "arn:aws:s3:::model-artifacts"
        ));
        assert!(!arn_like("arn:aws:s3:::b", "arn:aws-cn:s3:::b"));
        assert!(
            !arn_like("arn:aws:iam::*", "arn:aws:iam::1:role/r"),
            "a wildcard never spans segments"
        );
    }

    fn principal_match_aws(p: &Principals, who: &RequestPrincipal) -> Option<PrincipalMatch> {
        principal_match(p, who, "aws")
    }

    #[test]
    fn principals_by_role_session_account_and_partition() {
        let who = RequestPrincipal::Aws {
            arn: "arn:aws:iam::777788889999:role/R".into(),
            session_arn: Some("arn:aws:sts::777788889999:assumed-role/R/s".into()),
            account: "777788889999".into(),
            partition: "aws".into(),
        };
        let p = |aws: &[&str]| Principals {
            aws: aws.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            principal_match_aws(&p(&["arn:aws:iam::777788889999:role/R"]), &who),
            Some(PrincipalMatch::Role)
        );
        assert_eq!(
            principal_match_aws(&p(&["arn:aws:sts::777788889999:assumed-role/R/s"]), &who),
            Some(PrincipalMatch::Session)
        );
        assert_eq!(
            principal_match_aws(&p(&["777788889999"]), &who),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(
            principal_match_aws(&p(&["arn:aws:iam::777788889999:root"]), &who),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(
            principal_match_aws(&p(&["arn:aws-us-gov:iam::777788889999:root"]), &who),
            None
        );
        assert_eq!(
            principal_match_aws(&p(&["arn:aws:iam::777788889999:role/r"]), &who),
            None
        );
        assert_eq!(
            principal_match_aws(&p(&["arn:aws:iam::111122223333:root"]), &who),
            None
        );
        let service = RequestPrincipal::Service("bedrock.amazonaws.com".into());
        let s = Principals {
            service: vec!["bedrock.amazonaws.com".into()],
            ..Default::default()
        };
        assert!(principal_match(&s, &service, "aws").is_some());
        assert!(principal_match_aws(&p(&["777788889999"]), &service).is_none());
        // A bare account id names the account in the request's partition only.
        assert_eq!(
            principal_match(&p(&["777788889999"]), &who, "aws-us-gov"),
            None
        );
        // NotPrincipal excludes only when the account and the role are both listed.
        let both = p(&[
            "arn:aws:iam::777788889999:root",
            "arn:aws:iam::777788889999:role/R",
        ]);
        assert!(not_principal_excludes(&both, &who, "aws"));
        assert!(!not_principal_excludes(
            &p(&["arn:aws:iam::777788889999:role/R"]),
            &who,
            "aws"
        ));
        assert!(!not_principal_excludes(
            &p(&["arn:aws:iam::777788889999:root"]),
            &who,
            "aws"
        ));
    }

    #[test]
    fn policy_variables() {
        let mut ctx = Context::default();
        ctx.insert("aws:PrincipalAccount", "777788889999");
        assert_eq!(
            substitute("arn:aws:s3:::b/${aws:principalaccount}/*", &ctx).as_deref(),
            Some("arn:aws:s3:::b/777788889999/*")
        );
        let literal = substitute("a${*}b${?}${$}", &ctx).unwrap();
        assert_eq!(unescape(&literal), "a*b?$");
        assert!(
            glob(&literal, "a*b?$", false),
            "escaped characters match themselves"
        );
        assert!(!glob(&literal, "aXXbY$", false), "and are not wildcards");
        assert_eq!(substitute("${aws:username}", &ctx), None);
        assert_eq!(
            substitute("${aws:username, 'nobody'}", &ctx).as_deref(),
            Some("nobody")
        );
    }
}
