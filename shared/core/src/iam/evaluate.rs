//! AWS's policy evaluation logic for one request: an explicit Deny anywhere wins; SCPs
//! (every level) and a permissions boundary limit identity grants; within one account
//! an identity or a resource grant suffices, across accounts both are needed; KMS key
//! policies must allow (naming the account delegates to identity policies); a role's
//! trust policy alone decides whether a service may assume it.

use std::borrow::Cow;

use serde::Serialize;

use super::condition;
use super::matcher::{
    action_matches, arn_like, glob, not_principal_excludes, pattern_without_variables,
    principal_match, substitute, PrincipalMatch, RequestPrincipal,
};
use super::policy::{Effect, Policy, Statement};
use super::Context;

#[derive(Debug, Clone)]
pub struct Request {
    pub principal: RequestPrincipal,
    pub action: String,
    pub resource: String,
    pub context: Context,
}

/// A policy with the name reports give it (`bucket policy of model-artifacts`).
#[derive(Debug, Clone, Copy)]
pub struct NamedPolicy<'a> {
    pub label: &'a str,
    pub policy: &'a Policy,
}

/// Which evaluation rule the resource follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// S3, IAM, Bedrock: identity or resource grant in one account, both across.
    Standard,
    /// KMS: the key policy must allow; naming the account needs an identity grant too.
    Kms,
    /// STS AssumeRole by a service: the trust policy decides.
    Trust,
}

/// Everything that applies to one request.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    pub identity: Vec<NamedPolicy<'a>>,
    pub resource: Option<NamedPolicy<'a>>,
    pub boundary: Option<NamedPolicy<'a>>,
    /// Per organization level, root first; every level must allow.
    pub scps: Vec<Vec<NamedPolicy<'a>>>,
    pub rule: Option<Rule>,
    pub same_account: bool,
}

/// A statement that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub policy: String,
    pub sid: String,
    pub effect: &'static str,
}

/// The policy that lacks the Allow an implicit deny needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Identity,
    Resource,
    Boundary,
    Scp { level: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Explicit,
    /// Implicit: the policies that would each have to allow (in order of where to fix).
    Implicit(Vec<Missing>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub denial: Option<Denial>,
    pub matched: Vec<Matched>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}

/// What one policy says about a request.
#[derive(Default)]
struct Outcome {
    allows: Vec<(Matched, Option<PrincipalMatch>)>,
    denies: Vec<Matched>,
}

/// Evaluates one policy. `resource_policy`: the Principal element must name the
/// requester; `has_boundary`: a Deny with NotPrincipal then applies whatever it lists.
fn evaluate_policy(
    named: NamedPolicy<'_>,
    request: &Request,
    resource_policy: bool,
    has_boundary: bool,
) -> Outcome {
    let mut outcome = Outcome::default();
    for statement in &named.policy.statements {
        let Some(principal) = applies(
            statement,
            named.policy,
            request,
            resource_policy,
            has_boundary,
        ) else {
            continue;
        };
        let matched = Matched {
            policy: named.label.to_owned(),
            sid: statement.label(),
            effect: statement.effect.as_str(),
        };
        match statement.effect {
            Effect::Allow => outcome.allows.push((matched, principal)),
            Effect::Deny => outcome.denies.push(matched),
        }
    }
    outcome
}

/// Whether the statement applies; for resource policies also how it names the
/// requester (`Some(None)`: it applies without naming anyone, e.g. NotPrincipal).
fn applies(
    statement: &Statement,
    policy: &Policy,
    request: &Request,
    resource_policy: bool,
    has_boundary: bool,
) -> Option<Option<PrincipalMatch>> {
    let variables = policy.uses_variables();
    let resolve = |text| resolve(text, variables, &request.context);

    let actions = statement.actions.as_ref()?;
    let action_hit = actions
        .patterns
        .iter()
        .any(|p| action_matches(p, &request.action));
    if action_hit == actions.negated {
        return None;
    }
    if let Some(resources) = &statement.resources {
        let hit = resources
            .patterns
            .iter()
            .filter_map(|p| resolve(p))
            .any(|p| p == "*" || resource_matches(&p, &request.resource));
        if hit == resources.negated {
            return None;
        }
    }
    let partition = request_partition(request);
    let mut named = None;
    if resource_policy {
        match (&statement.principal, &statement.not_principal) {
            (Some(p), _) => named = Some(principal_match(p, &request.principal, &partition)?),
            // "NotPrincipal must be used with Deny": an Allow with it grants nothing.
            (None, Some(_)) if statement.effect == Effect::Allow => return None,
            (None, Some(not)) => {
                let excluded = not_principal_excludes(not, &request.principal, &partition);
                let boundary_rule = has_boundary;
                if excluded && !boundary_rule {
                    return None;
                }
            }
            (None, None) => return None,
        }
    }
    for c in &statement.conditions {
        // Policy variables work in String and Arn conditions only.
        let substitutes = matches!(
            c.operator.base,
            condition::Base::StringEquals
                | condition::Base::StringEqualsIgnoreCase
                | condition::Base::StringLike
                | condition::Base::ArnLike
        );
        let values: Vec<String> = if substitutes {
            c.values
                .iter()
                .filter_map(|v| resolve(v).map(Cow::into_owned))
                .collect()
        } else {
            c.values.clone()
        };
        let request_values = request.context.get(&c.key);
        if values.is_empty() && !c.values.is_empty() {
            // Every value is an unresolvable variable (a null value): negated
            // operators match it, IfExists on an absent key is true, others fail.
            let absent = request_values.is_none_or(|v| v.is_empty());
            if c.operator.negated || (c.operator.if_exists && absent) {
                continue;
            }
            return None;
        }
        if !condition::evaluate(c.operator, &values, request_values) {
            return None;
        }
    }
    Some(named)
}

/// A policy's text as a pattern: its variables substituted where the policy's version
/// has them (borrowed when there is nothing to substitute).
fn resolve<'t>(text: &'t str, variables: bool, context: &Context) -> Option<Cow<'t, str>> {
    if variables {
        substitute(text, context)
    } else {
        Some(pattern_without_variables(text))
    }
}

/// The partition the request lives in: its resource's, else its principal's.
fn request_partition(request: &Request) -> String {
    if let Some(rest) = request.resource.strip_prefix("arn:") {
        if let Some((partition, _)) = rest.split_once(':') {
            return partition.to_owned();
        }
    }
    match &request.principal {
        RequestPrincipal::Aws { partition, .. } => partition.clone(),
        RequestPrincipal::Service(_) => "aws".to_owned(),
    }
}

/// `Resource` patterns: ARNs compare case-sensitively with wildcards; an ARN pattern is
/// matched segment by segment so a wildcard never crosses the partition or account.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern.starts_with("arn:") && pattern.splitn(6, ':').count() == 6 {
        arn_like(pattern, resource)
    } else {
        glob(pattern, resource, false)
    }
}

/// Decides one request.
pub fn decide(request: &Request, inputs: &Inputs<'_>) -> Decision {
    let service = matches!(request.principal, RequestPrincipal::Service(_));
    let has_boundary = inputs.boundary.is_some();
    let identity: Vec<Outcome> = inputs
        .identity
        .iter()
        .map(|p| evaluate_policy(*p, request, false, has_boundary))
        .collect();
    let resource = inputs
        .resource
        .map(|p| evaluate_policy(p, request, true, has_boundary));
    let boundary = inputs
        .boundary
        .map(|p| evaluate_policy(p, request, false, has_boundary));
    let scps: Vec<Vec<Outcome>> = if service {
        Vec::new() // SCPs never apply to service principals
    } else {
        inputs
            .scps
            .iter()
            .map(|level| {
                level
                    .iter()
                    .map(|p| evaluate_policy(*p, request, false, has_boundary))
                    .collect()
            })
            .collect()
    };

    // 1. An explicit Deny in any applicable policy wins.
    let denies: Vec<Matched> = identity
        .iter()
        .chain(resource.iter())
        .chain(boundary.iter())
        .chain(scps.iter().flatten())
        .flat_map(|o| o.denies.iter().cloned())
        .collect();
    if !denies.is_empty() {
        return Decision {
            denial: Some(Denial::Explicit),
            matched: denies,
        };
    }

    let mut matched: Vec<Matched> = Vec::new();
    let mut missing: Vec<Missing> = Vec::new();

    // 2. Every SCP level must allow.
    for (level, outcomes) in scps.iter().enumerate() {
        let allows: Vec<&Matched> = outcomes
            .iter()
            .flat_map(|o| o.allows.iter().map(|(m, _)| m))
            .collect();
        if allows.is_empty() {
            missing.push(Missing::Scp { level });
        }
        matched.extend(allows.into_iter().cloned());
    }

    let identity_allows: Vec<Matched> = identity
        .iter()
        .flat_map(|o| o.allows.iter().map(|(m, _)| m.clone()))
        .collect();
    let boundary_allows: Option<Vec<Matched>> = boundary
        .as_ref()
        .map(|o| o.allows.iter().map(|(m, _)| m.clone()).collect());
    let boundary_ok = boundary_allows.as_ref().is_none_or(|a| !a.is_empty());
    let identity_ok = !identity_allows.is_empty() && boundary_ok;
    let resource_allows: Vec<(Matched, Option<PrincipalMatch>)> =
        resource.map(|o| o.allows).unwrap_or_default();
    let strongest = resource_allows.iter().filter_map(|(_, p)| *p).max();
    let resource_ok = !resource_allows.is_empty();

    let use_identity = |matched: &mut Vec<Matched>| {
        matched.extend(identity_allows.iter().cloned());
        matched.extend(boundary_allows.iter().flatten().cloned());
    };
    let use_resource =
        |matched: &mut Vec<Matched>| matched.extend(resource_allows.iter().map(|(m, _)| m.clone()));
    // What an identity grant is missing: the identity policy itself or the boundary.
    // Every policy an identity grant still needs: the identity policy, the boundary, or
    // both (a fix must make the check pass, not just move the denial).
    let boundary_blocks = boundary_allows.as_ref().is_some_and(|a| a.is_empty());
    let identity_gaps = || {
        let mut gaps = Vec::new();
        if identity_allows.is_empty() {
            gaps.push(Missing::Identity);
        }
        if boundary_blocks {
            gaps.push(Missing::Boundary);
        }
        gaps
    };

    match inputs.rule.unwrap_or(Rule::Standard) {
        Rule::Trust => {
            if resource_ok {
                use_resource(&mut matched);
            } else {
                missing.push(Missing::Resource);
            }
        }
        Rule::Standard if inputs.resource.is_none() => {
            if identity_ok {
                use_identity(&mut matched);
            } else {
                missing.extend(identity_gaps());
            }
        }
        Rule::Standard if inputs.same_account => {
            // A resource grant naming the session escapes the boundary; naming the role
            // (or everyone) is limited by it; naming the account delegates to IAM.
            let by_resource = match strongest {
                Some(PrincipalMatch::Session) => true,
                Some(PrincipalMatch::Role | PrincipalMatch::Everyone) => boundary_ok,
                _ => false,
            };
            if by_resource {
                use_resource(&mut matched);
            } else if identity_ok {
                use_identity(&mut matched);
            } else {
                missing.extend(identity_gaps());
            }
        }
        Rule::Standard => {
            // Across accounts both sides must allow.
            if !identity_ok {
                missing.extend(identity_gaps());
            }
            if !resource_ok {
                missing.push(Missing::Resource);
            }
            if missing.is_empty() {
                use_identity(&mut matched);
                use_resource(&mut matched);
            }
        }
        Rule::Kms => {
            let needs_identity = !inputs.same_account || strongest == Some(PrincipalMatch::Account);
            if !resource_ok {
                missing.push(Missing::Resource);
                if needs_identity || inputs.same_account {
                    // Across accounts IAM must allow too; in one account a new grant
                    // naming the role is still limited by the boundary.
                    missing.extend(
                        identity_gaps()
                            .into_iter()
                            .filter(|g| needs_identity || *g == Missing::Boundary),
                    );
                }
            } else {
                let key_ok = match strongest {
                    None => false,
                    Some(PrincipalMatch::Session) => true,
                    Some(PrincipalMatch::Role | PrincipalMatch::Everyone) => {
                        !inputs.same_account || boundary_ok
                    }
                    Some(PrincipalMatch::Account) => identity_ok,
                };
                if !key_ok
                    && matches!(
                        strongest,
                        Some(PrincipalMatch::Role | PrincipalMatch::Everyone)
                    )
                {
                    missing.push(Missing::Boundary); // the key names the role; the boundary stops it
                } else if !key_ok || (needs_identity && !identity_ok) {
                    missing.extend(identity_gaps());
                }
            }
            if missing.is_empty() {
                use_resource(&mut matched);
                if needs_identity {
                    use_identity(&mut matched);
                }
            }
        }
    }

    if missing.is_empty() {
        Decision {
            denial: None,
            matched,
        }
    } else {
        Decision {
            denial: Some(Denial::Implicit(missing)),
            matched: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Policy {
        Policy::parse(&v, "p").unwrap()
    }

    fn role_request(action: &str, resource: &str) -> Request {
        let mut context = Context::default();
        context.insert("aws:PrincipalArn", "arn:aws:iam::777788889999:role/R");
        context.insert("aws:PrincipalAccount", "777788889999");
        Request {
            principal: RequestPrincipal::Aws {
                arn: "arn:aws:iam::777788889999:role/R".into(),
                session_arn: Some("arn:aws:sts::777788889999:assumed-role/R/s".into()),
                account: "777788889999".into(),
                partition: "aws".into(),
            },
            action: action.into(),
            resource: resource.into(),
            context,
        }
    }

    fn allow(action: &str, resource: &str) -> Policy {
        policy(
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Action": action, "Resource": resource}]}),
        )
    }

    fn bucket_policy(principal: &str) -> Policy {
        policy(
            json!({"Statement": [{"Sid": "B", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}),
        )
    }

    #[test]
    fn keys_holding_wildcard_characters_are_covered_by_prefix_grants_and_denies() {
        for key in ["folder/*notes.txt", "folder/?x", "folder/a*?b*", "folder/*"] {
            let req = role_request("s3:GetObject", &format!("arn:aws:s3:::b/{key}"));
            let id = allow("s3:GetObject", "arn:aws:s3:::b/folder/*");
            let inputs = Inputs {
                identity: vec![NamedPolicy {
                    label: "id",
                    policy: &id,
                }],
                ..Default::default()
            };
            assert!(decide(&req, &inputs).allowed(), "grant misses {key}");
            let deny = policy(json!({"Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/folder/*"}]}));
            let inputs = Inputs {
                identity: vec![NamedPolicy {
                    label: "id",
                    policy: &deny,
                }],
                ..Default::default()
            };
            assert!(!decide(&req, &inputs).allowed(), "deny misses {key}");
        }
        // A literal `${*}` covers only the key with that very character.
        let id = allow("s3:GetObject", "arn:aws:s3:::b/mist${*}/*");
        let inputs = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            ..Default::default()
        };
        let get = |key: &str| role_request("s3:GetObject", &format!("arn:aws:s3:::b/{key}"));
        assert!(decide(&get("mist*/w.safetensors"), &inputs).allowed());
        assert!(!decide(&get("mistral/w.safetensors"), &inputs).allowed());
    }

    #[test]
    fn cross_account_needs_both_sides() {
        let req = role_request("s3:GetObject", "arn:aws:s3:::b/k");
        let id = allow("s3:GetObject", "arn:aws:s3:::b/*");
        let bp = bucket_policy("arn:aws:iam::777788889999:root");
        let both = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &bp,
            }),
            ..Default::default()
        };
        let d = decide(&req, &both);
        assert!(d.allowed());
        assert_eq!(d.matched.len(), 2);
        let only_identity = Inputs {
            resource: None,
            ..both.clone()
        };
        assert!(
            decide(
                &req,
                &Inputs {
                    rule: Some(Rule::Standard),
                    ..only_identity
                }
            )
            .allowed(),
            "no resource policy: identity decides"
        );
        let empty = policy(json!({"Statement": []}));
        let no_grant = Inputs {
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &empty,
            }),
            ..both.clone()
        };
        assert_eq!(
            decide(&req, &no_grant).denial,
            Some(Denial::Implicit(vec![Missing::Resource]))
        );
        let no_identity = Inputs {
            identity: vec![],
            ..both
        };
        assert_eq!(
            decide(&req, &no_identity).denial,
            Some(Denial::Implicit(vec![Missing::Identity]))
        );
    }

    #[test]
    fn explicit_deny_wins_and_names_the_statement() {
        let req = role_request("s3:GetObject", "arn:aws:s3:::b/k");
        let id = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Sid": "NoGet", "Effect": "Deny", "Action": "s3:Get*", "Resource": "*"}]}));
        let d = decide(
            &req,
            &Inputs {
                identity: vec![NamedPolicy {
                    label: "id",
                    policy: &id,
                }],
                ..Default::default()
            },
        );
        assert_eq!(d.denial, Some(Denial::Explicit));
        assert_eq!(
            d.matched,
            [Matched {
                policy: "id".into(),
                sid: "NoGet".into(),
                effect: "Deny"
            }]
        );
    }

    #[test]
    fn boundaries_limit_identity_and_same_account_role_grants_but_not_session_grants() {
        let req = role_request("s3:GetObject", "arn:aws:s3:::b/k");
        let id = allow("s3:GetObject", "*");
        let boundary = allow("kms:*", "*");
        let base = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            boundary: Some(NamedPolicy {
                label: "boundary",
                policy: &boundary,
            }),
            same_account: true,
            ..Default::default()
        };
        assert_eq!(
            decide(&req, &base).denial,
            Some(Denial::Implicit(vec![Missing::Boundary]))
        );
        let role_grant = bucket_policy("arn:aws:iam::777788889999:role/R");
        let with_role = Inputs {
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &role_grant,
            }),
            ..base.clone()
        };
        assert!(!decide(&req, &with_role).allowed());
        let session_grant = bucket_policy("arn:aws:sts::777788889999:assumed-role/R/s");
        let with_session = Inputs {
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &session_grant,
            }),
            ..base
        };
        assert!(decide(&req, &with_session).allowed());
    }

    #[test]
    fn not_principal_denies_apply_to_principals_with_a_boundary() {
        let req = role_request("s3:GetObject", "arn:aws:s3:::b/k");
        let id = allow("s3:GetObject", "*");
        let bp = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "OnlyR", "Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::777788889999:root", "arn:aws:iam::777788889999:role/R"]}, "Action": "s3:*", "Resource": "*"}]}));
        // Listing the role without its account leaves the Deny in force (AWS checks the
        // account first).
        let role_only = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::777788889999:role/R"}, "Action": "s3:*", "Resource": "*"}]}));
        let role_only_inputs = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &role_only,
            }),
            ..Default::default()
        };
        assert_eq!(
            decide(&req, &role_only_inputs).denial,
            Some(Denial::Explicit)
        );
        let boundary = allow("s3:*", "*");
        let without = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            resource: Some(NamedPolicy {
                label: "bp",
                policy: &bp,
            }),
            ..Default::default()
        };
        assert!(
            decide(&req, &without).allowed(),
            "R is excluded from the Deny"
        );
        let with = Inputs {
            boundary: Some(NamedPolicy {
                label: "b",
                policy: &boundary,
            }),
            ..without
        };
        assert_eq!(decide(&req, &with).denial, Some(Denial::Explicit));
    }

    #[test]
    fn scps_every_level_must_allow_but_not_for_services() {
        let req = role_request("bedrock:CreateModelImportJob", "*");
        let id = allow("bedrock:*", "*");
        let full = allow("*", "*");
        let only_s3 = allow("s3:*", "*");
        let inputs = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            scps: vec![
                vec![NamedPolicy {
                    label: "root",
                    policy: &full,
                }],
                vec![NamedPolicy {
                    label: "ou",
                    policy: &only_s3,
                }],
            ],
            ..Default::default()
        };
        assert_eq!(
            decide(&req, &inputs).denial,
            Some(Denial::Implicit(vec![Missing::Scp { level: 1 }]))
        );

        let trust = policy(
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        );
        let service = Request {
            principal: RequestPrincipal::Service("bedrock.amazonaws.com".into()),
            action: "sts:AssumeRole".into(),
            resource: "arn:aws:iam::1:role/R".into(),
            context: Context::default(),
        };
        let deny_all =
            policy(json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}));
        let trust_inputs = Inputs {
            resource: Some(NamedPolicy {
                label: "trust",
                policy: &trust,
            }),
            scps: vec![vec![NamedPolicy {
                label: "scp",
                policy: &deny_all,
            }]],
            rule: Some(Rule::Trust),
            ..Default::default()
        };
        assert!(decide(&service, &trust_inputs).allowed());
    }

    #[test]
    fn kms_key_policies_decide_and_account_grants_delegate_to_iam() {
        let req = role_request("kms:Decrypt", "arn:aws:kms:us-east-1:777788889999:key/k");
        let id = allow("kms:Decrypt", "*");
        let account_grant = policy(
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "kms:*", "Resource": "*"}]}),
        );
        let role_grant = policy(
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:role/R"}, "Action": "kms:Decrypt", "Resource": "*"}]}),
        );
        let same = |key: &'static Policy, identity: Vec<NamedPolicy<'static>>| Inputs {
            identity,
            resource: Some(NamedPolicy {
                label: "key",
                policy: key,
            }),
            rule: Some(Rule::Kms),
            same_account: true,
            ..Default::default()
        };
        let leak = |p: Policy| -> &'static Policy { Box::leak(Box::new(p)) };
        let (account_grant, role_grant, id) = (leak(account_grant), leak(role_grant), leak(id));
        assert!(
            decide(&req, &same(role_grant, vec![])).allowed(),
            "naming the role suffices in its account"
        );
        assert!(
            !decide(&req, &same(account_grant, vec![])).allowed(),
            "naming the account needs IAM too"
        );
        assert!(decide(
            &req,
            &same(
                account_grant,
                vec![NamedPolicy {
                    label: "id",
                    policy: id
                }]
            )
        )
        .allowed());
        let cross = Inputs {
            same_account: false,
            ..same(role_grant, vec![])
        };
        assert_eq!(
            decide(&req, &cross).denial,
            Some(Denial::Implicit(vec![Missing::Identity]))
        );
    }

    #[test]
    fn variables_not_actions_and_not_resources() {
        let req = role_request("s3:GetObject", "arn:aws:s3:::b/777788889999/k");
        let id = policy(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:PrincipalAccount}/*"}]}),
        );
        let inputs = Inputs {
            identity: vec![NamedPolicy {
                label: "id",
                policy: &id,
            }],
            ..Default::default()
        };
        assert!(decide(&req, &inputs).allowed());
        let old = policy(
            json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:PrincipalAccount}/*"}]}),
        );
        assert!(
            !decide(
                &req,
                &Inputs {
                    identity: vec![NamedPolicy {
                        label: "id",
                        policy: &old
                    }],
                    ..Default::default()
                }
            )
            .allowed(),
            "no variables before 2012-10-17"
        );
        let not = policy(
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::other/*"}]}),
        );
        assert!(decide(
            &req,
            &Inputs {
                identity: vec![NamedPolicy {
                    label: "id",
                    policy: &not
                }],
                ..Default::default()
            }
        )
        .allowed());
    }
}
