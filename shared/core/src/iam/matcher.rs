//! Matching: actions case-insensitively, ARNs case-sensitively (segment by segment for
//! the `Arn*` operators), `*` and `?` wildcards; principals; policy variables.

use super::policy::Principals;
use super::Context;

/// Stand-ins for `*` and `?` that came from `${*}`, `${?}` or a context value: they
/// match only themselves, never as wildcards.
const LITERAL_STAR: char = '\u{E000}';
const LITERAL_QUESTION: char = '\u{E001}';

fn literal(c: char) -> Option<char> {
    match c {
        LITERAL_STAR => Some('*'),
        LITERAL_QUESTION => Some('?'),
        _ => None,
    }
}

/// A substituted value with its literal stand-ins turned back into characters.
pub fn unescape(text: &str) -> String {
    text.chars().map(|c| literal(c).unwrap_or(c)).collect()
}

/// Substituted text is literal: its `*` and `?` must not act as wildcards.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' => LITERAL_STAR,
            '?' => LITERAL_QUESTION,
            c => c,
        })
        .collect()
}

/// `*` matches any run of characters, `?` exactly one.
pub fn glob(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            value.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), value.chars().collect())
    };
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi] || literal(p[pi]) == Some(v[vi])) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `ArnLike`/`ArnEquals`: the six `:`-separated parts match one by one, so a wildcard
/// never reaches across the partition, service, region or account.
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| glob(p, v, false))
}

pub fn action_matches(pattern: &str, action: &str) -> bool {
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
        account: String,
        partition: String,
    },
}

/// How a `Principal` element names the requester. The difference matters: an account
/// grant delegates to the account's identity policies; only a session grant escapes a
/// permissions boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    Account,
    Everyone,
    Role,
    Session,
}

/// How `principals` names `who`. A bare account id stands for the account's root in
/// `partition` (the request's), so it never names an account of another partition.
pub fn principal_match(
    principals: &Principals,
    who: &RequestPrincipal,
    partition: &str,
) -> Option<PrincipalMatch> {
    named(principals, who, partition).into_iter().max()
}

/// Whether a `NotPrincipal` list excludes `who`. AWS checks the account, then the role,
/// then the session: a requester is excluded only when its account and its role (or
/// session, or user) are both listed; listing only one leaves the Deny in force.
pub fn not_principal_excludes(
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
/// nothing, as in AWS.
pub fn substitute(text: &str, context: &Context) -> Option<String> {
    if !text.contains("${") {
        return Some(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => out.push_str(&escape(inner)),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_owned())),
                    None => (inner, None),
                };
                let value = context.first(key).map(str::to_owned).or(default)?;
                out.push_str(&escape(&value));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
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
