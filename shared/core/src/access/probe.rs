//! `ferry check --probe`: the seed's troubleshooting done by Ferry. With the execution
//! role's own credentials it lists the prefix and reads the first byte of every object,
//! then says where what really happened and what the evaluation decided disagree.

use std::future::Future;

use serde::Serialize;

use super::checks::{AccessReport, CheckDecision};
use super::live::ReadError;
use super::scenario::Scenario;

/// S3 as the execution role sees it.
pub trait Prober: Sync {
    /// Lists the bucket under `prefix` (an `s3:ListBucket` request); `Ok` when S3 lets it.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<(), ReadError>> + Send;
    /// Reads the first byte of the object (an empty object counts as read).
    fn read_first_byte(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), ReadError>> + Send;
}

/// The report's optional `probe` field: what the execution role really could do in S3,
/// request by request, against what the evaluation decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The role the probe ran as.
    pub role: String,
    /// Why the probe could not run (the role could not be assumed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
    /// One `s3-list` result, then one `s3-get` per object the evaluation judged; empty
    /// when the probe did not run.
    pub results: Vec<ProbeResult>,
    /// How many results contradict the evaluation.
    pub disagreements: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// What S3 answered when the probe made the request.
pub enum Observed {
    /// The request succeeded.
    Allowed,
    /// AWS refused it (`AccessDenied` or the like), from S3 or KMS.
    Denied,
    /// Neither: the object vanished, throttling... (see `error`).
    Error,
}

/// One request made as the execution role, and how it compares with the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// `s3-list` or `s3-get` (the latter includes `kms-source` for encrypted objects).
    pub id: &'static str,
    /// The bucket ARN with the prefix listed, or the object ARN read.
    pub resource: String,
    /// What really happened.
    pub observed: Observed,
    /// AWS's error and the call (`AccessDenied (s3:GetObject)`); `None` when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the evaluation decided for the same request.
    pub evaluated: CheckDecision,
    /// `None` when either side has no verdict.
    pub agrees: Option<bool>,
}

impl ProbeReport {
    /// A report for a probe that could not start (the role could not be assumed), with
    /// why.
    pub fn not_run(role: &str, why: String) -> Self {
        Self {
            role: role.to_owned(),
            not_run: Some(why),
            results: Vec::new(),
            disagreements: 0,
        }
    }
}

/// Probes every request the evaluation judged for S3 and compares.
pub async fn probe<P: Prober>(
    report: &AccessReport,
    scenario: &Scenario,
    prober: &P,
) -> ProbeReport {
    let partition = scenario.partition();
    let (bucket, prefix) = scenario.bucket_and_prefix();
    let mut results = Vec::new();

    let list_decision = combined(report, |c| c.id == "s3-list");
    results.push(compare(
        "s3-list",
        format!("arn:{partition}:s3:::{bucket} (prefix {prefix:?})"),
        prober.list(&bucket, &prefix).await,
        list_decision,
    ));

    let object_prefix = format!("arn:{partition}:s3:::{bucket}/");
    let gets: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.id == "s3-get")
        .filter_map(|c| c.resource.as_deref())
        .collect();
    for resource in gets {
        let Some(key) = resource.strip_prefix(&object_prefix) else {
            continue;
        };
        let kms = scenario
            .objects
            .iter()
            .find(|o| o.key == key)
            .and_then(|o| o.kms_key_arn.clone());
        // Reading an SSE-KMS object needs the key too.
        let evaluated = combined(report, |c| {
            (c.id == "s3-get" && c.resource.as_deref() == Some(resource))
                || (c.id == "kms-source"
                    && (c.resource.as_deref() == Some(resource)
                        || (kms.is_some() && c.resource == kms)))
        });
        results.push(compare(
            "s3-get",
            resource.to_owned(),
            prober.read_first_byte(&bucket, key).await,
            evaluated,
        ));
    }
    let disagreements = results.iter().filter(|r| r.agrees == Some(false)).count();
    ProbeReport {
        role: scenario.execution_role.arn.clone(),
        not_run: None,
        results,
        disagreements,
    }
}

/// Denied if any matching check is denied, skipped if any cannot be judged.
fn combined(
    report: &AccessReport,
    matches: impl Fn(&super::checks::CheckResult) -> bool,
) -> CheckDecision {
    let decisions: Vec<CheckDecision> = report
        .checks
        .iter()
        .filter(|c| matches(c))
        .map(|c| c.decision)
        .collect();
    if decisions.contains(&CheckDecision::Denied) {
        CheckDecision::Denied
    } else if decisions.is_empty() || decisions.contains(&CheckDecision::Skipped) {
        CheckDecision::Skipped
    } else {
        CheckDecision::Allowed
    }
}

fn compare(
    id: &'static str,
    resource: String,
    outcome: Result<(), ReadError>,
    evaluated: CheckDecision,
) -> ProbeResult {
    let (observed, error) = match outcome {
        Ok(()) => (Observed::Allowed, None),
        Err(e) if e.denied => (Observed::Denied, Some(e.to_string())),
        Err(e) => (Observed::Error, Some(e.to_string())),
    };
    let agrees =
        match (observed, evaluated) {
            (Observed::Allowed, CheckDecision::Allowed)
            | (Observed::Denied, CheckDecision::Denied) => Some(true),
            (Observed::Allowed, CheckDecision::Denied)
            | (Observed::Denied, CheckDecision::Allowed) => Some(false),
            _ => None,
        };
    ProbeResult {
        id,
        resource,
        observed,
        error,
        evaluated,
        agrees,
    }
}
