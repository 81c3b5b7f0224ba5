//! The chain checks of `../shared/specs/access-check.md`: one request each, evaluated
//! with the IAM engine; a denial names the policy to change and the statement to add.

use serde::Serialize;
use serde_json::{json, Value};

use super::scenario::{Part, Principal, Scenario};
use crate::iam::matcher::literal_in_policy;
use crate::iam::{
    decide, Context, Decision, Denial, Inputs, Matched, Missing, NamedPolicy, Policy, Request,
    RequestPrincipal, Rule,
};

/// The session name Ferry assumes Bedrock uses; no policy should depend on it.
const BEDROCK_SESSION: &str = "bedrock-model-import";
/// A representative import-job id: 12 lowercase alphanumerics, as the ARN pattern says.
const SAMPLE_JOB_ID: &str = "a1b2c3d4e5f6";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// What a check concluded.
pub enum CheckDecision {
    /// `allowed`: the request would succeed.
    Allowed,
    /// `denied`: an explicit or implicit deny; the report's `ok` is then false.
    Denied,
    /// `skipped`: the check does not apply (no KMS key on the objects, no
    /// `imported_model_key`, no `caller`) or, live, rests on a part Ferry could not read.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
/// The statement that makes a denied check pass, and the policy to add it to.
pub struct Fix {
    /// The contract's `where`: the policy to change, such as `bucket policy of BUCKET`,
    /// `key policy of ARN` or `permissions boundary of ARN`.
    #[serde(rename = "where")]
    pub location: String,
    /// The least-privilege IAM statement (JSON) to add there.
    pub statement: Value,
    /// What else the statement needs to work (e.g. the policy's Version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
/// One check of the chain: the request, its decision and, when denied, why and the fix.
pub struct CheckResult {
    /// The check's id in the contract: `trust`, `s3-list`, `s3-get`, `kms-source`,
    /// `kms-imported-model`, `pass-role` or `create-job`.
    pub id: &'static str,
    /// Allowed, denied or skipped.
    pub decision: CheckDecision,
    /// The requester: a role ARN, or `bedrock.amazonaws.com` for `trust`; `None` when
    /// the check does not apply.
    pub principal: Option<String>,
    /// The IAM action requested (`kms:Decrypt`); `None` when the check does not apply.
    pub action: Option<String>,
    /// The ARN acted on (`*` for `create-job`); `None` when the check does not apply.
    pub resource: Option<String>,
    /// `explicit-deny` or `implicit-deny` for denied checks.
    pub reason: Option<&'static str>,
    /// One sentence for a person: which policy lacks the grant or which Deny refuses,
    /// or why the check was skipped; `None` for an allowed check.
    pub detail: Option<String>,
    /// The Allow statements used (allowed) or the Deny statements that matched
    /// (explicit deny); empty for an implicit deny.
    pub matched: Vec<Matched>,
    /// For an implicit deny, the statement that makes the check pass; `None` otherwise.
    pub fix: Option<Fix>,
    /// Live mode: the policies this check could not be judged without (optional field
    /// of the contract; the check is then `skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
/// Every check of the chain; `ok` when none is denied.
pub struct AccessReport {
    /// True exactly when no check is denied (skipped checks do not count).
    pub ok: bool,
    /// One result per request of the chain, in the contract's order; a check with
    /// several requests (one per object or key action) has several.
    pub checks: Vec<CheckResult>,
    /// Live mode: every part of the chain Ferry could not read (optional field).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// `--probe`: what the execution role could really do (optional field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<super::probe::ProbeReport>,
}

impl AccessReport {
    /// Whether every check could be judged: no check rests on an unreadable part
    /// (parts no check depends on, say an organization no policy tests, do not count).
    pub fn complete(&self) -> bool {
        self.checks.iter().all(|c| c.unreadable.is_none())
    }

    /// The denied checks.
    pub fn denied(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(|c| c.decision == CheckDecision::Denied)
    }
}

/// Everything one check needs besides the scenario.
struct Check<'a> {
    id: &'static str,
    who: &'a Principal,
    principal: RequestPrincipal,
    action: String,
    resource: String,
    context: Context,
    resource_policy: Option<(String, &'a Policy)>,
    rule: Rule,
}

/// A policy with no statements: stands in for an absent bucket or trust policy.
static NO_POLICY: Policy = Policy {
    version: None,
    statements: Vec::new(),
};

/// What the checks of one scenario share, built once.
struct Chain<'a> {
    scenario: &'a Scenario,
    partition: &'static str,
    bucket: String,
    prefix: String,
    role: &'a Principal,
    role_principal: RequestPrincipal,
    /// Every request by the execution role starts from this context.
    role_context: Context,
    bucket_policy: &'a Policy,
    bucket_label: String,
    /// The request time (seconds since the epoch), for `aws:CurrentTime`.
    now: u64,
}

impl<'a> Chain<'a> {
    fn new(scenario: &'a Scenario, now: u64) -> Self {
        let partition = scenario.partition();
        let (bucket, prefix) = scenario.bucket_and_prefix();
        let role = &scenario.execution_role;
        Chain {
            scenario,
            partition,
            bucket_label: format!("bucket policy of {bucket}"),
            bucket,
            prefix,
            role,
            role_principal: aws_principal(&role.arn, partition),
            role_context: principal_context(scenario, &role.arn, partition, now),
            bucket_policy: scenario.bucket_policy.as_ref().unwrap_or(&NO_POLICY),
            now,
        }
    }

    /// A check by the execution role, starting from its context.
    fn role_check(
        &self,
        id: &'static str,
        action: &str,
        resource: String,
        context: Context,
        resource_policy: (String, &'a Policy),
        rule: Rule,
    ) -> CheckResult {
        evaluate(
            self.scenario,
            Check {
                id,
                who: self.role,
                principal: self.role_principal.clone(),
                action: action.into(),
                resource,
                context,
                resource_policy: Some(resource_policy),
                rule,
            },
        )
    }
}

/// Runs every check of the chain for `scenario`, as of `now` (seconds since the epoch,
/// the requests' `aws:CurrentTime`).
pub fn run_checks(scenario: &Scenario, now: u64) -> AccessReport {
    let chain = Chain::new(scenario, now);
    let mut results = vec![check_trust(&chain), check_s3_list(&chain)];
    results.extend(check_s3_get(&chain));
    results.extend(check_kms_source(&chain));
    results.extend(check_kms_imported_model(&chain));
    results.extend(check_caller(&chain));
    if !scenario.unreadable.is_empty() {
        let org_keys = mentions_org_keys(scenario);
        for result in &mut results {
            settle_unreadable(scenario, org_keys, result);
        }
    }
    AccessReport {
        ok: !results.iter().any(|r| r.decision == CheckDecision::Denied),
        checks: results,
        unreadable: scenario
            .unreadable
            .iter()
            .map(|u| u.message.clone())
            .collect(),
        probe: None,
    }
}

/// trust: Bedrock assumes the execution role for an import job of the hosting account.
fn check_trust(chain: &Chain<'_>) -> CheckResult {
    let scenario = chain.scenario;
    let role = chain.role;
    let mut context = Context::default();
    context.insert("aws:SourceAccount", scenario.hosting_account.clone());
    context.insert(
        "aws:SourceArn",
        format!(
            "arn:{}:bedrock:{}:{}:model-import-job/{SAMPLE_JOB_ID}",
            chain.partition, scenario.region, scenario.hosting_account
        ),
    );
    let trust = role.trust_policy.as_ref().unwrap_or(&NO_POLICY);
    evaluate(
        scenario,
        Check {
            id: "trust",
            who: role,
            principal: RequestPrincipal::Service("bedrock.amazonaws.com".into()),
            action: "sts:AssumeRole".into(),
            resource: role.arn.clone(),
            context,
            resource_policy: Some((format!("trust policy of {}", role.arn), trust)),
            rule: Rule::Trust,
        },
    )
}

/// s3-list: the execution role lists the folder in the research bucket.
fn check_s3_list(chain: &Chain<'_>) -> CheckResult {
    let mut context = chain.role_context.clone();
    context.insert("s3:prefix", chain.prefix.clone());
    s3_context(chain.scenario, &mut context);
    chain.role_check(
        "s3-list",
        "s3:ListBucket",
        format!("arn:{}:s3:::{}", chain.partition, chain.bucket),
        context,
        (chain.bucket_label.clone(), chain.bucket_policy),
        Rule::Standard,
    )
}

/// s3-get: the execution role reads every object (a sample key when none is known).
fn check_s3_get(chain: &Chain<'_>) -> Vec<CheckResult> {
    let scenario = chain.scenario;
    let keys: Vec<String> = if scenario.objects.is_empty() {
        vec![format!("{}config.json", chain.prefix)]
    } else {
        scenario.objects.iter().map(|o| o.key.clone()).collect()
    };
    keys.into_iter()
        .map(|key| {
            let mut context = chain.role_context.clone();
            s3_context(scenario, &mut context);
            chain.role_check(
                "s3-get",
                "s3:GetObject",
                format!("arn:{}:s3:::{}/{key}", chain.partition, chain.bucket),
                context,
                (chain.bucket_label.clone(), chain.bucket_policy),
                Rule::Standard,
            )
        })
        .collect()
}

/// kms-source: the execution role decrypts with every distinct key of the objects
/// (through S3); objects of unknown encryption cannot be judged.
fn check_kms_source(chain: &Chain<'_>) -> Vec<CheckResult> {
    let scenario = chain.scenario;
    let mut source_keys: Vec<&String> = scenario
        .objects
        .iter()
        .filter_map(|o| o.kms_key_arn.as_ref())
        .collect();
    source_keys.sort();
    source_keys.dedup();
    let mut results = unknown_encryption(chain);
    if source_keys.is_empty() && results.is_empty() {
        results.push(skipped(
            "kms-source",
            "no object is encrypted with a customer managed KMS key",
        ));
    }
    for key in source_keys {
        let Some(policy) = scenario.source_keys.get(key) else {
            continue;
        };
        let mut context = chain.role_context.clone();
        context.insert(
            "kms:ViaService",
            format!("s3.{}.amazonaws.com", scenario.region),
        );
        context.insert("kms:CallerAccount", scenario.hosting_account.clone());
        resource_org(scenario, &mut context);
        results.push(chain.role_check(
            "kms-source",
            "kms:Decrypt",
            key.clone(),
            context,
            (format!("key policy of {key}"), policy),
            Rule::Kms,
        ));
    }
    results
}

/// Live mode: a skipped kms-source for each object list or object whose encryption
/// could not be read.
fn unknown_encryption(chain: &Chain<'_>) -> Vec<CheckResult> {
    let (partition, bucket, prefix) = (chain.partition, &chain.bucket, &chain.prefix);
    chain
        .scenario
        .unreadable
        .iter()
        .filter(|u| matches!(u.part, Part::ObjectList | Part::ObjectEncryption(_)))
        .map(|unknown| {
            let mut result = skipped("kms-source", "the encryption of the objects is unknown");
            result.principal = Some(chain.role.arn.clone());
            result.action = Some("kms:Decrypt".into());
            result.resource = Some(match &unknown.part {
                Part::ObjectEncryption(key) => format!("arn:{partition}:s3:::{bucket}/{key}"),
                _ => format!("arn:{partition}:s3:::{bucket}/{prefix}*"),
            });
            result.detail = Some(format!("cannot be judged: {}", unknown.message));
            result.unreadable = Some(unknown.message.clone());
            result
        })
        .collect()
}

/// kms-imported-model: the execution role uses the hosting key that encrypts the
/// imported model, for each action Bedrock needs.
fn check_kms_imported_model(chain: &Chain<'_>) -> Vec<CheckResult> {
    let scenario = chain.scenario;
    let Some((arn, policy)) = &scenario.imported_model_key else {
        return vec![skipped(
            "kms-imported-model",
            "no imported-model KMS key is configured",
        )];
    };
    [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
    ]
    .into_iter()
    .map(|action| {
        let mut context = chain.role_context.clone();
        context.insert("kms:CallerAccount", scenario.hosting_account.clone());
        chain.role_check(
            "kms-imported-model",
            action,
            arn.clone(),
            context,
            (format!("key policy of {arn}"), policy),
            Rule::Kms,
        )
    })
    .collect()
}

/// pass-role and create-job: the caller starts the import (both skipped without one).
fn check_caller(chain: &Chain<'_>) -> Vec<CheckResult> {
    let Some(caller) = &chain.scenario.caller else {
        return vec![
            skipped("pass-role", "no caller is given"),
            skipped("create-job", "no caller is given"),
        ];
    };
    let principal = aws_principal(&caller.arn, chain.partition);
    let context = principal_context(chain.scenario, &caller.arn, chain.partition, chain.now);
    vec![
        check_pass_role(chain, caller, principal.clone(), context.clone()),
        check_create_job(chain, caller, principal, context),
    ]
}

/// pass-role: the caller passes the execution role to Bedrock.
fn check_pass_role(
    chain: &Chain<'_>,
    caller: &Principal,
    principal: RequestPrincipal,
    mut context: Context,
) -> CheckResult {
    context.insert("iam:PassedToService", "bedrock.amazonaws.com");
    evaluate(
        chain.scenario,
        Check {
            id: "pass-role",
            who: caller,
            principal,
            action: "iam:PassRole".into(),
            resource: chain.role.arn.clone(),
            context,
            resource_policy: None,
            rule: Rule::Standard,
        },
    )
}

/// create-job: the caller creates the import job.
fn check_create_job(
    chain: &Chain<'_>,
    caller: &Principal,
    principal: RequestPrincipal,
    context: Context,
) -> CheckResult {
    evaluate(
        chain.scenario,
        Check {
            id: "create-job",
            who: caller,
            principal,
            action: "bedrock:CreateModelImportJob".into(),
            resource: "*".into(),
            context,
            resource_policy: None,
            rule: Rule::Standard,
        },
    )
}

/// The parts of the chain a check's decision rests on.
fn parts_of(check: &CheckResult) -> Vec<Part> {
    let role = [Part::RolePolicies, Part::RoleBoundary];
    match check.id {
        "trust" => vec![Part::TrustPolicy],
        "s3-list" => [&[Part::BucketPolicy][..], &role].concat(),
        "s3-get" => [&[Part::BucketPolicy, Part::ObjectList][..], &role].concat(),
        "kms-source" => {
            let key = check.resource.clone().unwrap_or_default();
            [&[Part::SourceKeyPolicy(key)][..], &role].concat()
        }
        "kms-imported-model" => [&[Part::ImportedModelKeyPolicy][..], &role].concat(),
        _ => vec![Part::CallerPolicies, Part::CallerBoundary],
    }
}

/// Live mode: a check resting on an unreadable part cannot be called allowed (the part
/// stood in as allow-everything); a denial stays certain, unless an organization is
/// unknown and a policy of the chain tests organization keys.
fn settle_unreadable(scenario: &Scenario, org_keys: bool, result: &mut CheckResult) {
    if result.decision == CheckDecision::Skipped {
        return;
    }
    let parts = parts_of(result);
    let org_unknown = org_keys && result.id != "trust";
    let blocking: Vec<&str> = scenario
        .unreadable
        .iter()
        .filter(|u| {
            parts.contains(&u.part) || (org_unknown && matches!(u.part, Part::Organization(_)))
        })
        .map(|u| u.message.as_str())
        .collect();
    if blocking.is_empty() {
        return;
    }
    let org_blocks = org_unknown
        && scenario
            .unreadable
            .iter()
            .any(|u| matches!(u.part, Part::Organization(_)));
    if result.decision == CheckDecision::Denied && !org_blocks {
        return;
    }
    let why = blocking.join("; ");
    result.decision = CheckDecision::Skipped;
    result.reason = None;
    result.fix = None;
    result.detail = Some(format!("cannot be judged: {why}"));
    result.unreadable = Some(why);
}

/// Every policy of the chain.
fn chain_policies(scenario: &Scenario) -> Vec<&Policy> {
    let mut policies: Vec<&Policy> = Vec::new();
    policies.extend(scenario.bucket_policy.iter());
    policies.extend(scenario.source_keys.values());
    policies.extend(scenario.imported_model_key.iter().map(|(_, p)| p));
    for who in std::iter::once(&scenario.execution_role).chain(scenario.caller.iter()) {
        policies.extend(who.trust_policy.iter());
        policies.extend(who.permissions_boundary.iter());
        policies.extend(who.identity_policies.iter().map(|(_, p)| p));
    }
    policies.extend(scenario.scps.values().flatten().flatten());
    policies
}

/// Whether any policy of the chain tests an organization key.
fn mentions_org_keys(scenario: &Scenario) -> bool {
    chain_policies(scenario).iter().any(|p| {
        p.condition_keys().any(|k| {
            let k = k.to_ascii_lowercase();
            k.starts_with("aws:principalorg") || k.starts_with("aws:resourceorg")
        })
    })
}

/// Keys that describe the network path of a request (VPC, endpoint, source IP).
/// Bedrock's own requests have a path Ferry cannot know (a VPC import goes through
/// the customer's VPC), so the contract's "absent" reading may be wrong for them.
const NETWORK_KEYS: [&str; 5] = [
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:vpcsourceip",
    "aws:sourcevpcarn",
];

/// Whether a Deny statement of the chain tests a network key: a denial may then come
/// from a path Ferry cannot see rather than from a missing grant.
pub(crate) fn deny_tests_network_keys(scenario: &Scenario) -> bool {
    chain_policies(scenario).iter().any(|p| {
        p.statements.iter().any(|s| {
            s.effect == crate::iam::Effect::Deny
                && s.conditions
                    .iter()
                    .any(|c| NETWORK_KEYS.contains(&c.key.to_ascii_lowercase().as_str()))
        })
    })
}

fn skipped(id: &'static str, why: &str) -> CheckResult {
    CheckResult {
        id,
        decision: CheckDecision::Skipped,
        principal: None,
        action: None,
        resource: None,
        reason: None,
        detail: Some(why.to_owned()),
        matched: Vec::new(),
        fix: None,
        unreadable: None,
    }
}

fn evaluate(scenario: &Scenario, check: Check<'_>) -> CheckResult {
    let request = Request {
        principal: check.principal.clone(),
        action: check.action.clone(),
        resource: check.resource.clone(),
        context: check.context.clone(),
    };
    let principal_account = match &check.principal {
        RequestPrincipal::Aws { account, .. } => Some(account.clone()),
        RequestPrincipal::Service(_) => None,
    };
    let resource_account = resource_account(scenario, &check);
    let boundary_label = format!("permissions boundary of {}", check.who.arn);
    let scp_levels = principal_account
        .as_ref()
        .and_then(|a| scenario.scps.get(a))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let scp_labels = scp_labels(scp_levels, principal_account.as_deref());
    let inputs = Inputs {
        identity: identity_policies(&check),
        resource: check
            .resource_policy
            .as_ref()
            .map(|(label, policy)| NamedPolicy { label, policy }),
        boundary: boundary_policy(&check, &boundary_label),
        scps: scp_policies(scp_levels, &scp_labels),
        rule: Some(check.rule),
        same_account: principal_account.is_some() && principal_account == resource_account,
    };
    let decision = decide(&request, &inputs);
    describe(scenario, &check, decision)
}

/// The requester's identity policies (none for a service assuming a role: the trust
/// policy alone decides).
fn identity_policies<'a>(check: &Check<'a>) -> Vec<NamedPolicy<'a>> {
    if check.rule == Rule::Trust {
        return Vec::new();
    }
    check
        .who
        .identity_policies
        .iter()
        .map(|(label, policy)| NamedPolicy { label, policy })
        .collect()
}

/// The requester's permissions boundary, under `label` (none for a service).
fn boundary_policy<'a>(check: &Check<'a>, label: &'a str) -> Option<NamedPolicy<'a>> {
    match check.rule {
        Rule::Trust => None,
        _ => check
            .who
            .permissions_boundary
            .as_ref()
            .map(|policy| NamedPolicy { label, policy }),
    }
}

/// The name reports give each SCP level of the requester's account.
fn scp_labels(levels: &[Vec<Policy>], principal_account: Option<&str>) -> Vec<String> {
    (0..levels.len())
        .map(|i| {
            format!(
                "SCP level {i} of account {}",
                principal_account.unwrap_or("")
            )
        })
        .collect()
}

/// The SCP levels of the requester's account, each level's documents named by `labels`.
fn scp_policies<'a>(levels: &'a [Vec<Policy>], labels: &'a [String]) -> Vec<Vec<NamedPolicy<'a>>> {
    levels
        .iter()
        .zip(labels)
        .map(|(docs, label)| {
            docs.iter()
                .map(|policy| NamedPolicy { label, policy })
                .collect()
        })
        .collect()
}

/// The account that owns the resource of a check, from its ARN.
fn resource_account(scenario: &Scenario, check: &Check<'_>) -> Option<String> {
    if check
        .resource
        .starts_with(&format!("arn:{}:s3:::", scenario.partition()))
    {
        return Some(scenario.research_account.clone());
    }
    let account = check.resource.split(':').nth(4).filter(|a| !a.is_empty());
    account
        .map(str::to_owned)
        .or_else(|| match &check.principal {
            RequestPrincipal::Aws { account, .. } => Some(account.clone()),
            RequestPrincipal::Service(_) => None,
        })
}

fn describe(scenario: &Scenario, check: &Check<'_>, decision: Decision) -> CheckResult {
    let principal = match &check.principal {
        RequestPrincipal::Service(s) => s.clone(),
        RequestPrincipal::Aws { arn, .. } => arn.clone(),
    };
    let mut result = CheckResult {
        id: check.id,
        decision: CheckDecision::Allowed,
        principal: Some(principal.clone()),
        action: Some(check.action.clone()),
        resource: Some(check.resource.clone()),
        reason: None,
        detail: None,
        matched: decision.matched.clone(),
        fix: None,
        unreadable: None,
    };
    match decision.denial {
        None => {}
        Some(Denial::Explicit) => {
            result.decision = CheckDecision::Denied;
            result.reason = Some("explicit-deny");
            let names: Vec<String> = decision
                .matched
                .iter()
                .map(|m| format!("{} in the {}", m.sid, m.policy))
                .collect();
            result.detail = Some(format!(
                "an explicit Deny ({}) refuses {} on {} to {principal}; remove it or narrow it so it no longer matches",
                names.join(", "),
                check.action,
                check.resource
            ));
        }
        Some(Denial::Implicit(missing)) => {
            result.decision = CheckDecision::Denied;
            result.reason = Some("implicit-deny");
            let fixes: Vec<Fix> = missing.iter().map(|m| fix(scenario, check, m)).collect();
            let lacking: Vec<String> = fixes.iter().map(|f| f.location.clone()).collect();
            result.detail = Some(format!(
                "no statement allows {} on {} for {principal} in the {}; add the statement below to it{}",
                check.action,
                check.resource,
                lacking[0],
                if lacking.len() > 1 { format!(" (and a matching grant to the {})", lacking[1..].join(", the ")) } else { String::new() }
            ));
            result.fix = fixes.into_iter().next();
        }
    }
    result
}

/// The least-privilege statement that makes the check pass, for the policy that lacks it
/// (the seed's condition keys: aws:ResourceAccount, aws:PrincipalArn, aws:SourceAccount,
/// aws:SourceArn, iam:PassedToService, kms:ViaService).
fn fix(scenario: &Scenario, check: &Check<'_>, missing: &Missing) -> Fix {
    let mut fix = fix_statement(scenario, check, missing);
    let (_, prefix) = scenario.bucket_and_prefix();
    let escaped = literal_in_policy(&prefix) != prefix.as_str();
    if escaped && matches!(check.id, "s3-list" | "s3-get") {
        fix.note = Some(
            "the ${*}, ${?} and ${$} in it stand for the folder's own characters, and do so only in a policy whose \"Version\" is \"2012-10-17\"".into(),
        );
    }
    fix
}

/// The fix for the policy `missing` names, by the kind of check.
fn fix_statement(scenario: &Scenario, check: &Check<'_>, missing: &Missing) -> Fix {
    match (check.id, missing) {
        ("trust", _) => trust_fix(scenario, check),
        ("s3-list" | "s3-get", Missing::Resource) => bucket_fix(scenario, check),
        ("s3-list" | "s3-get", _) => s3_identity_fix(scenario, check, missing),
        ("kms-source", Missing::Resource) => source_key_fix(scenario, check),
        ("kms-source", _) => identity_fix(
            check,
            missing,
            json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": check.resource,
                   "Condition": {"StringEquals": {"kms:ViaService": format!("s3.{}.amazonaws.com", scenario.region)}}}),
        ),
        ("kms-imported-model", Missing::Resource) => imported_model_key_fix(check),
        ("pass-role", _) => identity_fix(
            check,
            missing,
            json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": check.resource,
                   "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}}),
        ),
        _ => identity_fix(
            check,
            missing,
            json!({"Effect": "Allow", "Action": check.action, "Resource": check.resource}),
        ),
    }
}

/// The trust policy lets Bedrock's import jobs of the hosting account assume the role.
fn trust_fix(scenario: &Scenario, check: &Check<'_>) -> Fix {
    let partition = scenario.partition();
    let hosting = &scenario.hosting_account;
    Fix {
        note: None,
        location: format!("trust policy of {}", check.who.arn),
        statement: json!({
            "Sid": "AllowBedrockModelImport",
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": hosting},
                "ArnEquals": {"aws:SourceArn": format!("arn:{partition}:bedrock:{}:{hosting}:model-import-job/*", scenario.region)}
            }
        }),
    }
}

/// The S3 action, resource and extra `StringLike` condition of an s3-list or s3-get
/// grant, limited to the folder.
fn s3_grant(scenario: &Scenario, check: &Check<'_>) -> (&'static str, String, Option<Value>) {
    let (bucket, prefix) = scenario.bucket_and_prefix();
    // A folder's own `*`, `?` or `$` must not widen the grant operators copy.
    let prefix = literal_in_policy(&prefix);
    if check.id == "s3-list" {
        (
            "s3:ListBucket",
            check.resource.clone(),
            prefix_condition(&prefix),
        )
    } else {
        let partition = scenario.partition();
        (
            "s3:GetObject",
            format!("arn:{partition}:s3:::{bucket}/{prefix}*"),
            None,
        )
    }
}

/// The bucket policy grants the hosting account, for the execution role only.
fn bucket_fix(scenario: &Scenario, check: &Check<'_>) -> Fix {
    let (bucket, _) = scenario.bucket_and_prefix();
    let (action, resource, extra) = s3_grant(scenario, check);
    let mut condition = json!({"ArnLike": {"aws:PrincipalArn": check.who.arn}});
    if let Some(extra) = extra {
        condition["StringLike"] = extra;
    }
    let root = principal_root(&check.principal).unwrap_or_else(|| {
        format!(
            "arn:{}:iam::{}:root",
            scenario.partition(),
            scenario.hosting_account
        )
    });
    Fix {
        note: None,
        location: format!("bucket policy of {bucket}"),
        statement: json!({
            "Sid": if check.id == "s3-list" { "FerryBedrockImportList" } else { "FerryBedrockImportRead" },
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": action,
            "Resource": resource,
            "Condition": condition
        }),
    }
}

/// The role's side of an S3 grant, limited to the research account.
fn s3_identity_fix(scenario: &Scenario, check: &Check<'_>, missing: &Missing) -> Fix {
    let (action, resource, extra) = s3_grant(scenario, check);
    let mut condition = json!({"StringEquals": {"aws:ResourceAccount": scenario.research_account}});
    if let Some(extra) = extra {
        condition["StringLike"] = extra;
    }
    identity_fix(
        check,
        missing,
        json!({"Effect": "Allow", "Action": action, "Resource": resource, "Condition": condition}),
    )
}

/// The research key's policy lets the role decrypt through S3.
fn source_key_fix(scenario: &Scenario, check: &Check<'_>) -> Fix {
    Fix {
        note: None,
        location: format!("key policy of {}", check.resource),
        statement: json!({
            "Sid": "Allow use of the key by the destination account",
            "Effect": "Allow",
            "Principal": {"AWS": check.who.arn},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": format!("s3.{}.amazonaws.com", scenario.region)}}
        }),
    }
}

/// The imported-model key's policy lets the role use the key for the check's action.
fn imported_model_key_fix(check: &Check<'_>) -> Fix {
    Fix {
        note: None,
        location: format!("key policy of {}", check.resource),
        statement: json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": check.who.arn},
            "Action": check.action,
            "Resource": "*"
        }),
    }
}

/// `arn:P:iam::ACCOUNT:root` of the requester's own account and partition.
fn principal_root(principal: &RequestPrincipal) -> Option<String> {
    match principal {
        RequestPrincipal::Aws {
            account, partition, ..
        } => Some(format!("arn:{partition}:iam::{account}:root")),
        RequestPrincipal::Service(_) => None,
    }
}

fn prefix_condition(prefix: &str) -> Option<Value> {
    (!prefix.is_empty()).then(|| json!({"s3:prefix": [prefix, format!("{prefix}*")]}))
}

/// An Allow for the principal's side: its identity policy, its boundary, or an SCP level.
fn identity_fix(check: &Check<'_>, missing: &Missing, statement: Value) -> Fix {
    let location = match missing {
        Missing::Boundary => format!("permissions boundary of {}", check.who.arn),
        Missing::Scp { level } => format!("SCP level {level} that applies to {}", check.who.arn),
        _ => format!("identity policy of {}", check.who.arn),
    };
    Fix {
        note: None,
        location,
        statement,
    }
}

/// The requester for a role (its session) or user ARN.
fn aws_principal(arn: &str, partition: &str) -> RequestPrincipal {
    RequestPrincipal::from_arn(arn, partition, BEDROCK_SESSION)
}

/// The context keys every request by a role or user carries.
fn principal_context(scenario: &Scenario, arn: &str, partition: &str, now: u64) -> Context {
    let mut context = Context::default();
    let RequestPrincipal::Aws {
        arn: principal_arn,
        session_arn,
        account,
        ..
    } = aws_principal(arn, partition)
    else {
        return context;
    };
    context.insert("aws:PrincipalArn", principal_arn.clone());
    context.insert("aws:PrincipalAccount", account.clone());
    let is_role = session_arn.is_some();
    context.insert(
        "aws:PrincipalType",
        if is_role { "AssumedRole" } else { "User" },
    );
    let name = principal_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    context.insert(
        "aws:userid",
        if is_role {
            format!("AROA{}:{BEDROCK_SESSION}", name.to_uppercase())
        } else {
            name.clone()
        },
    );
    if !is_role {
        context.insert("aws:username", name);
    }
    context.insert("aws:SecureTransport", "true");
    context.insert("aws:CurrentTime", crate::text::time::rfc3339(now));
    context.insert("aws:RequestedRegion", scenario.region.clone());
    if let Some(org) = scenario.organizations.get(&account) {
        context.insert("aws:PrincipalOrgID", org.clone());
    }
    context
}

/// S3 requests carry the bucket's account (and organization).
fn s3_context(scenario: &Scenario, context: &mut Context) {
    context.insert("aws:ResourceAccount", scenario.research_account.clone());
    resource_org(scenario, context);
}

/// S3 and kms-source requests carry the research account's organization, if known.
fn resource_org(scenario: &Scenario, context: &mut Context) {
    if let Some(org) = scenario.organizations.get(&scenario.research_account) {
        context.insert("aws:ResourceOrgID", org.clone());
    }
}
