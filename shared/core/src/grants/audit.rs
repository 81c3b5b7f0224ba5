//! Every recorded call judged by Ferry's IAM engine against what a deployment grants:
//! the caller role's identity policies, the resource's policy where it has one (bucket,
//! key, trust), across accounts as AWS does; and the reverse, every granted action no
//! call used.

use std::collections::BTreeSet;

use serde::Serialize;

use super::needs::{needs, Call, Caller, Need, NeedError};
use crate::iam::matcher::{action_matches, glob};
use crate::iam::{
    decide, Context, Decision, Denial, Inputs, Missing, NamedPolicy, Policy, Request,
    RequestPrincipal, Rule,
};

/// A role of the deployment and the identity policies attached to it.
#[derive(Debug, Clone)]
pub struct Role {
    /// The role's ARN, exactly as [`MadeCall::role_arn`] gives it.
    pub arn: String,
    /// (label, policy): the label names it in findings (`importer role policy`).
    pub policies: Vec<(String, Policy)>,
}

/// A resource policy and the resources it governs (an ARN pattern).
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    /// ARN pattern with `*` and `?` wildcards (`arn:aws:s3:::bucket/*`); the first
    /// policy whose pattern matches a resource is the one judged.
    pub covers: String,
    /// The account that owns the resources, for ARNs that carry none (S3).
    pub account: String,
    /// How findings name the policy (`bucket policy`, `research key policy`).
    pub label: String,
    /// The policy document.
    pub policy: Policy,
}

/// Resources (objects, topics) encrypted with a KMS key: the service uses the key with
/// the caller's permissions (`kms:ViaService`).
#[derive(Debug, Clone)]
pub struct Encrypted {
    /// ARN pattern, with wildcards, of the encrypted resources.
    pub covers: String,
    /// The ARN of the KMS key that encrypts them.
    pub key_arn: String,
    /// The `kms:ViaService` value, `SERVICE.REGION.amazonaws.com`.
    pub via: String,
    /// The KMS actions the service takes for a read or a publish (`kms:Decrypt`).
    pub actions: Vec<&'static str>,
    /// `kms:ResourceAliases` of the key (`alias/NAME`); empty: the request context has
    /// no such key.
    pub aliases: Vec<String>,
}

/// What a deployment grants.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The roles the calls are made with; a call by any other role finds no identity
    /// policy.
    pub roles: Vec<Role>,
    /// Bucket, key and trust policies, each with the resources it governs.
    pub resource_policies: Vec<ResourcePolicy>,
    /// What is encrypted with which key, for the KMS use behind S3 reads and SNS
    /// publishes.
    pub encrypted: Vec<Encrypted>,
}

/// A recorded call with the role that made it.
#[derive(Debug, Clone)]
pub struct MadeCall {
    /// The function or command that made it (`importer`, `tracker`).
    pub by: String,
    /// The ARN of the role whose credentials signed it; matched against [`Role::arn`].
    pub role_arn: String,
    /// The call as the request log recorded it.
    pub call: Call,
}

/// One permission of one call, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    /// The function or command that made the call.
    pub by: String,
    /// The ARN of the role that made it.
    pub role: String,
    /// `Service.Operation` (`S3.GetObject`).
    pub operation: String,
    /// The IAM action judged; one call may need several.
    pub action: String,
    /// The ARN the action was judged on.
    pub resource: String,
    /// Whether the deployment's policies allow it.
    pub allowed: bool,
    /// The statements that allowed it (`policy#sid`), or what is missing.
    pub because: Vec<String>,
}

/// Judges every permission every call needs. Errors: calls the table cannot map.
pub fn audit(calls: &[MadeCall], grants: &Grants) -> Result<Vec<Judged>, NeedError> {
    let mut judged = Vec::new();
    for made in calls {
        // The session is named for the function, so a policy naming it could match.
        let principal = RequestPrincipal::from_arn(&made.role_arn, "aws", &made.by);
        let RequestPrincipal::Aws {
            account, partition, ..
        } = &principal
        else {
            continue;
        };
        let caller = Caller { account, partition };
        // Reading an object's data (not its head) decrypts it; publishing encrypts.
        let uses_key = matches!(made.call.operation.as_str(), "GetObject" | "Publish");
        for need in needs(&made.call, caller)? {
            let needs = if uses_key {
                with_encryption(need, grants)
            } else {
                vec![need]
            };
            for need in needs {
                judged.push(judge(made, &principal, &need, caller, grants));
            }
        }
    }
    judged.sort_by(|a, b| {
        (&a.by, &a.operation, &a.action, &a.resource).cmp(&(
            &b.by,
            &b.operation,
            &b.action,
            &b.resource,
        ))
    });
    judged.dedup();
    Ok(judged)
}

/// The need, and the key permissions a service uses on the caller's behalf for it
/// (S3 decrypting an SSE-KMS object, SNS encrypting a message for its topic).
fn with_encryption(need: Need, grants: &Grants) -> Vec<Need> {
    let mut out = Vec::new();
    for encrypted in &grants.encrypted {
        let applies = glob(&encrypted.covers, &need.resource, false)
            && matches!(need.action, "s3:GetObject" | "sns:Publish");
        if !applies {
            continue;
        }
        for action in &encrypted.actions {
            let mut context = vec![("kms:ViaService", vec![encrypted.via.clone()])];
            if !encrypted.aliases.is_empty() {
                context.push(("kms:ResourceAliases", encrypted.aliases.clone()));
            }
            out.push(Need {
                action,
                resource: encrypted.key_arn.clone(),
                context,
                rule: Rule::Kms,
                same_account_only: false,
            });
        }
    }
    out.insert(0, need);
    out
}

fn judge(
    made: &MadeCall,
    principal: &RequestPrincipal,
    need: &Need,
    caller: Caller<'_>,
    grants: &Grants,
) -> Judged {
    let resource_policy = grants
        .resource_policies
        .iter()
        .find(|r| glob(&r.covers, &need.resource, false));
    let resource_account = need
        .resource
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .or(resource_policy.map(|r| r.account.as_str()))
        .unwrap_or(caller.account);
    let role = grants.roles.iter().find(|r| r.arn == made.role_arn);
    let (allowed, because) = if need.same_account_only && resource_account != caller.account {
        (
            false,
            vec![format!(
                "AWS refuses {} across accounts (account {} asking of {resource_account}), whatever the policies say",
                need.action, caller.account
            )],
        )
    } else {
        let request = Request {
            principal: principal.clone(),
            action: need.action.to_owned(),
            resource: need.resource.clone(),
            context: context(made, need, caller, resource_account),
        };
        let inputs = Inputs {
            identity: role
                .map(|r| {
                    r.policies
                        .iter()
                        .map(|(label, policy)| NamedPolicy { label, policy })
                        .collect()
                })
                .unwrap_or_default(),
            resource: resource_policy.map(|r| NamedPolicy {
                label: &r.label,
                policy: &r.policy,
            }),
            rule: Some(need.rule),
            same_account: resource_account == caller.account,
            ..Default::default()
        };
        let decision = decide(&request, &inputs);
        let because = explain(&decision, role, resource_policy);
        (decision.allowed(), because)
    };
    Judged {
        by: made.by.clone(),
        role: made.role_arn.clone(),
        operation: format!("{}.{}", made.call.service, made.call.operation),
        action: need.action.to_owned(),
        resource: need.resource.clone(),
        allowed,
        because,
    }
}

/// The request's context: the principal's keys, the resource's account, the need's own.
fn context(made: &MadeCall, need: &Need, caller: Caller<'_>, resource_account: &str) -> Context {
    let mut context = Context::default();
    context.insert("aws:PrincipalArn", made.role_arn.clone());
    context.insert("aws:PrincipalAccount", caller.account);
    context.insert("aws:ResourceAccount", resource_account);
    context.insert("aws:SecureTransport", "true");
    for (key, values) in &need.context {
        for value in values {
            context.insert(key, value.clone());
        }
    }
    context
}

/// The statements that allowed the request, or what is missing or denies it.
fn explain(
    decision: &Decision,
    role: Option<&Role>,
    resource_policy: Option<&ResourcePolicy>,
) -> Vec<String> {
    match &decision.denial {
        None => decision
            .matched
            .iter()
            .map(|m| format!("{}#{}", m.policy, m.sid))
            .collect(),
        Some(Denial::Explicit) => decision
            .matched
            .iter()
            .map(|m| format!("denied by {}#{}", m.policy, m.sid))
            .collect(),
        Some(Denial::Implicit(missing)) => missing
            .iter()
            .map(|m| missing_text(m, role, resource_policy))
            .collect(),
    }
}

fn missing_text(
    missing: &Missing,
    role: Option<&Role>,
    resource: Option<&ResourcePolicy>,
) -> String {
    match (missing, role, resource) {
        (Missing::Identity, None, _) => {
            "no identity policy: the role is not in the deployment".into()
        }
        (Missing::Identity, Some(role), _) => {
            format!("no Allow in the identity policies of {}", role.arn)
        }
        (Missing::Resource, _, Some(r)) => format!("no Allow for the caller in the {}", r.label),
        (Missing::Resource, _, None) => "no resource policy allows it".into(),
        (Missing::Boundary, _, _) => "the permissions boundary does not allow it".into(),
        (Missing::Scp { level }, _, _) => format!("SCP level {level} does not allow it"),
    }
}

/// A statement's action that no judged call used, for one role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unused {
    /// The ARN of the role whose policy grants it.
    pub role: String,
    /// The policy's label (`importer role policy`).
    pub policy: String,
    /// The statement's `Sid`, or `#index` when it has none.
    pub sid: String,
    /// The action pattern as written in the statement (wildcards included).
    pub action: String,
}

/// Every action a role's Allow statements list that no allowed call of that role
/// matched (wildcard actions count as used when any call matches them).
pub fn unused(judged: &[Judged], grants: &Grants) -> Vec<Unused> {
    let mut out = BTreeSet::new();
    for role in &grants.roles {
        let used: Vec<&str> = judged
            .iter()
            .filter(|j| j.allowed && j.role == role.arn)
            .map(|j| j.action.as_str())
            .collect();
        for (label, policy) in &role.policies {
            for statement in &policy.statements {
                if statement.effect != crate::iam::Effect::Allow {
                    continue;
                }
                let Some(actions) = &statement.actions else {
                    continue;
                };
                for pattern in &actions.patterns {
                    if !used.iter().any(|a| action_matches(pattern, a)) {
                        out.insert(Unused {
                            role: role.arn.clone(),
                            policy: label.clone(),
                            sid: statement.label(),
                            action: pattern.clone(),
                        });
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// A Markdown table of each role's calls, the permissions they need and the statements
/// that allow them (resources left out: one row per operation and action).
pub fn table(judged: &[Judged]) -> String {
    let rows: BTreeSet<(String, &str, &str, String)> = judged
        .iter()
        .map(|j| {
            let role = j.role.rsplit('/').next().unwrap_or_default().to_owned();
            let allowed_by = if j.allowed {
                j.because.join(", ")
            } else {
                format!("**not allowed**: {}", j.because.join("; "))
            };
            (role, j.operation.as_str(), j.action.as_str(), allowed_by)
        })
        .collect();
    let mut out = String::from("| Role | Call | Needs | Allowed by |\n|---|---|---|---|\n");
    for (role, operation, action, allowed_by) in rows {
        out.push_str(&format!(
            "| {role} | {operation} | `{action}` | {allowed_by} |\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn policy(value: serde_json::Value) -> Policy {
        Policy::parse(&value, "p").unwrap()
    }

    #[test]
    fn reads_aws_allows_only_in_their_own_account_are_refused_across_accounts() {
        let tracker = "arn:aws:iam::777788889999:role/FerryTracker";
        let grants = Grants {
            roles: vec![Role {
                arn: tracker.into(),
                policies: vec![(
                    "tracker role policy".into(),
                    policy(json!({"Version": "2012-10-17", "Statement": [
                        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})),
                )],
            }],
            resource_policies: vec![ResourcePolicy {
                covers: "arn:aws:s3:::research-bucket".into(),
                account: "123456789012".into(),
                label: "bucket policy".into(),
                policy: policy(json!({"Version": "2012-10-17", "Statement": [
                    {"Sid": "Tracker", "Effect": "Allow", "Principal": {"AWS": tracker},
                     "Action": ["s3:GetBucketPolicy", "s3:ListBucket"], "Resource": "arn:aws:s3:::research-bucket"}]})),
            }],
            encrypted: Vec::new(),
        };
        let call = |operation: &str| MadeCall {
            by: "tracker".into(),
            role_arn: tracker.into(),
            call: Call {
                service: "S3".into(),
                operation: operation.into(),
                region: "us-east-1".into(),
                params: match json!({"bucket": "research-bucket", "prefix": "m/"}) {
                    serde_json::Value::Object(map) => map,
                    _ => Map::new(),
                },
            },
        };
        let judged = audit(&[call("GetBucketPolicy"), call("ListObjectsV2")], &grants).unwrap();
        let policy_read = judged
            .iter()
            .find(|j| j.action == "s3:GetBucketPolicy")
            .unwrap();
        assert!(!policy_read.allowed, "{policy_read:?}");
        assert!(
            policy_read.because[0].contains("across accounts"),
            "{policy_read:?}"
        );
        let list = judged.iter().find(|j| j.action == "s3:ListBucket").unwrap();
        assert!(list.allowed, "both sides grant the listing: {list:?}");
    }
}
