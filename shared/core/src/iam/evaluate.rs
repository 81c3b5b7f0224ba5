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
/// One request: who, what, on which resource, with which context keys.
pub struct Request {
    /// Who makes the request: a service or a role/user (with its session).
    pub principal: RequestPrincipal,
    /// The IAM action, `service:Name` (`s3:GetObject`); matched case-insensitively.
    pub action: String,
    /// The ARN of the resource acted on.
    pub resource: String,
    /// Condition keys and their values for this request (`aws:SourceAccount`...).
    pub context: Context,
}

/// A policy with the name reports give it (`bucket policy of model-artifacts`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NamedPolicy<'a> {
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
pub(crate) struct Inputs<'a> {
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
    /// The report name of the policy holding it (`bucket policy of model-artifacts`).
    pub policy: String,
    /// The statement's `Sid`, or `#index` (its position) when it has none.
    pub sid: String,
    /// `"Allow"` or `"Deny"`.
    pub effect: &'static str,
}

/// The policy that lacks the Allow an implicit deny needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The requester's identity policies.
    Identity,
    /// The resource's own policy (bucket, key or trust policy).
    Resource,
    /// The requester's permissions boundary.
    Boundary,
    /// The service control policies at one organization level.
    Scp {
        /// Index of the level, 0 for the root, then down towards the account.
        level: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// Why a request is denied.
pub enum Denial {
    /// A statement with `Effect: Deny` applies; no Allow can override it.
    Explicit,
    /// Implicit: the policies that would each have to allow (in order of where to fix).
    Implicit(Vec<Missing>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// The decision on a request and the statements it rests on (the denying ones for an
/// explicit deny, none for an implicit one).
pub struct Decision {
    /// `None` when the request is allowed; otherwise why it is denied.
    pub denial: Option<Denial>,
    /// The Allow statements an allow rests on (SCPs included), the Deny statements of
    /// an explicit deny, or nothing for an implicit deny.
    pub matched: Vec<Matched>,
}

impl Decision {
    /// No denial.
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
    if !action_applies(statement, request) || !resource_applies(statement, request, variables) {
        return None;
    }
    let named = if resource_policy {
        requester_named(statement, request, has_boundary)?
    } else {
        None
    };
    conditions_hold(statement, request, variables).then_some(named)
}

/// `Action` (or `NotAction`) covers the request's action; a statement without
/// either applies to nothing.
fn action_applies(statement: &Statement, request: &Request) -> bool {
    let Some(actions) = statement.actions.as_ref() else {
        return false;
    };
    let hit = actions
        .patterns
        .iter()
        .any(|p| action_matches(p, &request.action));
    hit != actions.negated
}

/// `Resource` (or `NotResource`) covers the request's resource; without either the
/// statement applies to any resource.
fn resource_applies(statement: &Statement, request: &Request, variables: bool) -> bool {
    let Some(resources) = &statement.resources else {
        return true;
    };
    let hit = resources
        .patterns
        .iter()
        .filter_map(|p| resolve(p, variables, &request.context))
        .any(|p| p == "*" || resource_matches(&p, &request.resource));
    hit != resources.negated
}

/// In a resource policy, the `Principal` element must name the requester; `None`:
/// the statement does not apply to it.
fn requester_named(
    statement: &Statement,
    request: &Request,
    has_boundary: bool,
) -> Option<Option<PrincipalMatch>> {
    let partition = request_partition(request);
    match (&statement.principal, &statement.not_principal) {
        (Some(p), _) => Some(Some(principal_match(p, &request.principal, &partition)?)),
        // "NotPrincipal must be used with Deny": an Allow with it grants nothing.
        (None, Some(_)) if statement.effect == Effect::Allow => None,
        // A Deny with NotPrincipal applies to a principal with a boundary whatever it lists.
        (None, Some(not)) => {
            let excluded = not_principal_excludes(not, &request.principal, &partition);
            (!excluded || has_boundary).then_some(None)
        }
        (None, None) => None,
    }
}

/// Every condition of the statement holds for the request's context.
fn conditions_hold(statement: &Statement, request: &Request, variables: bool) -> bool {
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
                .filter_map(|v| resolve(v, variables, &request.context).map(Cow::into_owned))
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
            return false;
        }
        if !condition::evaluate(c.operator, &values, request_values) {
            return false;
        }
    }
    true
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

/// What every policy that applies to one request says, each evaluated once.
struct Outcomes {
    identity: Vec<Outcome>,
    resource: Option<Outcome>,
    boundary: Option<Outcome>,
    /// Per SCP level, root first; empty for a service principal.
    scps: Vec<Vec<Outcome>>,
}

impl Outcomes {
    fn evaluate(request: &Request, inputs: &Inputs<'_>) -> Self {
        let service = matches!(request.principal, RequestPrincipal::Service(_));
        let has_boundary = inputs.boundary.is_some();
        let evaluate = |p: NamedPolicy<'_>, resource_policy| {
            evaluate_policy(p, request, resource_policy, has_boundary)
        };
        Outcomes {
            identity: inputs
                .identity
                .iter()
                .map(|p| evaluate(*p, false))
                .collect(),
            resource: inputs.resource.map(|p| evaluate(p, true)),
            boundary: inputs.boundary.map(|p| evaluate(p, false)),
            scps: if service {
                Vec::new() // SCPs never apply to service principals
            } else {
                inputs
                    .scps
                    .iter()
                    .map(|level| level.iter().map(|p| evaluate(*p, false)).collect())
                    .collect()
            },
        }
    }

    /// Every Deny statement that applies, in any policy.
    fn explicit_denies(&self) -> Vec<Matched> {
        self.identity
            .iter()
            .chain(self.resource.iter())
            .chain(self.boundary.iter())
            .chain(self.scps.iter().flatten())
            .flat_map(|o| o.denies.iter().cloned())
            .collect()
    }
}

/// The allows a decision rests on, and the policies that still lack one.
#[derive(Default)]
struct Verdict {
    matched: Vec<Matched>,
    missing: Vec<Missing>,
}

impl Verdict {
    fn into_decision(self) -> Decision {
        if self.missing.is_empty() {
            Decision {
                denial: None,
                matched: self.matched,
            }
        } else {
            Decision {
                denial: Some(Denial::Implicit(self.missing)),
                matched: Vec::new(),
            }
        }
    }
}

/// What the identity policies, the boundary and the resource policy allow.
struct Grants {
    identity_allows: Vec<Matched>,
    /// `None`: no boundary.
    boundary_allows: Option<Vec<Matched>>,
    resource_allows: Vec<(Matched, Option<PrincipalMatch>)>,
    /// How the resource grants name the requester, most specifically.
    strongest: Option<PrincipalMatch>,
}

impl Grants {
    fn new(identity: &[Outcome], boundary: Option<&Outcome>, resource: Option<Outcome>) -> Self {
        let resource_allows: Vec<(Matched, Option<PrincipalMatch>)> =
            resource.map(|o| o.allows).unwrap_or_default();
        Grants {
            identity_allows: identity
                .iter()
                .flat_map(|o| o.allows.iter().map(|(m, _)| m.clone()))
                .collect(),
            boundary_allows: boundary.map(|o| o.allows.iter().map(|(m, _)| m.clone()).collect()),
            strongest: resource_allows.iter().filter_map(|(_, p)| *p).max(),
            resource_allows,
        }
    }

    /// No boundary, or one that allows.
    fn boundary_ok(&self) -> bool {
        self.boundary_allows.as_ref().is_none_or(|a| !a.is_empty())
    }

    /// An identity grant that the boundary lets through.
    fn identity_ok(&self) -> bool {
        !self.identity_allows.is_empty() && self.boundary_ok()
    }

    fn resource_ok(&self) -> bool {
        !self.resource_allows.is_empty()
    }

    /// The decision rests on the identity grant (and the boundary's allow).
    fn use_identity(&self, verdict: &mut Verdict) {
        verdict.matched.extend(self.identity_allows.iter().cloned());
        verdict
            .matched
            .extend(self.boundary_allows.iter().flatten().cloned());
    }

    /// The decision rests on the resource grant.
    fn use_resource(&self, verdict: &mut Verdict) {
        verdict
            .matched
            .extend(self.resource_allows.iter().map(|(m, _)| m.clone()));
    }

    /// Every policy an identity grant still needs: the identity policy, the boundary, or
    /// both (a fix must make the check pass, not just move the denial).
    fn identity_gaps(&self) -> Vec<Missing> {
        let mut gaps = Vec::new();
        if self.identity_allows.is_empty() {
            gaps.push(Missing::Identity);
        }
        if self.boundary_allows.as_ref().is_some_and(|a| a.is_empty()) {
            gaps.push(Missing::Boundary);
        }
        gaps
    }
}

/// Decides one request: an explicit Deny wins, then every SCP level must allow, then
/// the resource's rule weighs the identity, boundary and resource grants.
pub(crate) fn decide(request: &Request, inputs: &Inputs<'_>) -> Decision {
    let outcomes = Outcomes::evaluate(request, inputs);
    let denies = outcomes.explicit_denies();
    if !denies.is_empty() {
        return Decision {
            denial: Some(Denial::Explicit),
            matched: denies,
        };
    }
    let mut verdict = Verdict::default();
    scp_levels_allow(&outcomes.scps, &mut verdict);
    let grants = Grants::new(
        &outcomes.identity,
        outcomes.boundary.as_ref(),
        outcomes.resource,
    );
    match inputs.rule.unwrap_or(Rule::Standard) {
        Rule::Trust => trust_rule(&grants, &mut verdict),
        Rule::Standard if inputs.resource.is_none() => identity_rule(&grants, &mut verdict),
        Rule::Standard if inputs.same_account => same_account_rule(&grants, &mut verdict),
        Rule::Standard => cross_account_rule(&grants, &mut verdict),
        Rule::Kms => kms_rule(&grants, inputs.same_account, &mut verdict),
    }
    verdict.into_decision()
}

/// Every SCP level must allow.
fn scp_levels_allow(scps: &[Vec<Outcome>], verdict: &mut Verdict) {
    for (level, outcomes) in scps.iter().enumerate() {
        let allows: Vec<&Matched> = outcomes
            .iter()
            .flat_map(|o| o.allows.iter().map(|(m, _)| m))
            .collect();
        if allows.is_empty() {
            verdict.missing.push(Missing::Scp { level });
        }
        verdict.matched.extend(allows.into_iter().cloned());
    }
}

/// A service assuming a role: the trust policy alone decides.
fn trust_rule(grants: &Grants, verdict: &mut Verdict) {
    if grants.resource_ok() {
        grants.use_resource(verdict);
    } else {
        verdict.missing.push(Missing::Resource);
    }
}

/// No resource policy: the identity grant decides.
fn identity_rule(grants: &Grants, verdict: &mut Verdict) {
    if grants.identity_ok() {
        grants.use_identity(verdict);
    } else {
        verdict.missing.extend(grants.identity_gaps());
    }
}

/// Within one account either grant suffices. A resource grant naming the session
/// escapes the boundary; naming the role (or everyone) is limited by it; naming the
/// account delegates to IAM.
fn same_account_rule(grants: &Grants, verdict: &mut Verdict) {
    let by_resource = match grants.strongest {
        Some(PrincipalMatch::Session) => true,
        Some(PrincipalMatch::Role | PrincipalMatch::Everyone) => grants.boundary_ok(),
        _ => false,
    };
    if by_resource {
        grants.use_resource(verdict);
    } else if grants.identity_ok() {
        grants.use_identity(verdict);
    } else {
        verdict.missing.extend(grants.identity_gaps());
    }
}

/// Across accounts both sides must allow.
fn cross_account_rule(grants: &Grants, verdict: &mut Verdict) {
    if !grants.identity_ok() {
        verdict.missing.extend(grants.identity_gaps());
    }
    if !grants.resource_ok() {
        verdict.missing.push(Missing::Resource);
    }
    if verdict.missing.is_empty() {
        grants.use_identity(verdict);
        grants.use_resource(verdict);
    }
}

/// KMS: the key policy must allow; a key policy naming the account (or a key in
/// another account) needs an identity grant too.
fn kms_rule(grants: &Grants, same_account: bool, verdict: &mut Verdict) {
    let needs_identity = !same_account || grants.strongest == Some(PrincipalMatch::Account);
    if !grants.resource_ok() {
        verdict.missing.push(Missing::Resource);
        if needs_identity || same_account {
            // Across accounts IAM must allow too; in one account a new grant
            // naming the role is still limited by the boundary.
            verdict.missing.extend(
                grants
                    .identity_gaps()
                    .into_iter()
                    .filter(|g| needs_identity || *g == Missing::Boundary),
            );
        }
    } else {
        kms_key_grant_gaps(grants, same_account, needs_identity, verdict);
    }
    if verdict.missing.is_empty() {
        grants.use_resource(verdict);
        if needs_identity {
            grants.use_identity(verdict);
        }
    }
}

/// KMS with a key policy that allows: what the way it names the requester still needs.
fn kms_key_grant_gaps(
    grants: &Grants,
    same_account: bool,
    needs_identity: bool,
    verdict: &mut Verdict,
) {
    let key_ok = match grants.strongest {
        None => false,
        Some(PrincipalMatch::Session) => true,
        Some(PrincipalMatch::Role | PrincipalMatch::Everyone) => {
            !same_account || grants.boundary_ok()
        }
        Some(PrincipalMatch::Account) => grants.identity_ok(),
    };
    let names_role = matches!(
        grants.strongest,
        Some(PrincipalMatch::Role | PrincipalMatch::Everyone)
    );
    if !key_ok && names_role {
        verdict.missing.push(Missing::Boundary); // the key names the role; the boundary stops it
    } else if !key_ok || (needs_identity && !grants.identity_ok()) {
        verdict.missing.extend(grants.identity_gaps());
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
