//! A local Amazon Bedrock Custom Model Import endpoint for Ferry's tests and demo.
//!
//! It speaks restJson1 for CreateModelImportJob, GetModelImportJob,
//! ListModelImportJobs, GetImportedModel, ListImportedModels, DeleteImportedModel (and
//! the tag operations Ferry uses), so the unmodified `aws-sdk-bedrock` client talks to
//! it through `AWS_ENDPOINT_URL_BEDROCK`. Where Ferry depends on the service it behaves
//! as `../shared/FACTS.md` says: the documented input patterns (ValidationException),
//! one running job per account and the imported-models quota
//! (ServiceQuotaExceededException), name conflicts, idempotent client tokens,
//! ListModelImportJobs filters and pagination, jobs that end Completed or Failed after
//! a configurable delay, reading the artifacts as the passed role (moto's STS and S3).
//! Faults (throttling, 500s) are injected by configuration. It also answers
//! bedrock-runtime's InvokeModel for the models it imported (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`):
//! ModelNotReadyException for a configurable number of first calls, a configurable
//! broken model, and answers in the documented response shapes. It also answers
//! CloudWatch's GetMetricStatistics (no invocations), which moto 5.2 cannot serve.
//! It can serve several accounts at one endpoint, as AWS's one regional endpoint does:
//! each request belongs to the account of its credentials (resolved through moto's STS).

mod accounts;
mod artifacts;
mod runtime;
mod server;
mod wire;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use artifacts::{no_access_message, ArtifactSource};
pub use runtime::NOT_READY_MESSAGE;
pub use server::Emulator;
pub use wire::ApiError;

/// An injected failure: every `every`-th request (counting all requests) gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub every: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 ThrottlingException
    Throttling,
    /// 500 InternalServerException
    Internal,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The account the endpoint serves (the hosting account).
    pub account: String,
    /// More accounts served, each with its own jobs, models, quota and faults (every
    /// other setting is shared). With any, a request's account is its SigV4 access
    /// key's, as STS GetCallerIdentity at `artifacts`' endpoint (moto) answers, which
    /// therefore must be set.
    pub other_accounts: Vec<String>,
    pub region: String,
    /// How long a job stays InProgress.
    pub job_duration: Duration,
    /// Imported models the account may hold (AWS's default is 3).
    pub imported_models_quota: usize,
    pub faults: Vec<Fault>,
    /// Where jobs read the artifacts; `None`: jobs complete without reading.
    pub artifacts: Option<ArtifactSource>,
    /// Imported models report a creation time this much in the past, so that cleanup's
    /// age rules can be exercised without waiting days.
    pub backdate: Duration,
    /// bedrock-runtime's InvokeModel answers ModelNotReadyException to this many first
    /// calls of each model (each HTTP attempt counts), as a model being restored does.
    pub not_ready_calls: u64,
    /// Imported models whose name matches this regular expression fail every
    /// InvokeModel with ModelErrorException, as a GPT-OSS import with an old
    /// generation_config.json does.
    pub broken_models: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            account: "777788889999".into(),
            other_accounts: Vec::new(),
            region: "us-east-1".into(),
            job_duration: Duration::from_secs(2),
            imported_models_quota: 3,
            faults: Vec::new(),
            artifacts: None,
            backdate: Duration::ZERO,
            not_ready_calls: 0,
            broken_models: None,
        }
    }
}

impl Config {
    /// `FERRY_EMULATOR_*` variables over the defaults:
    /// `ACCOUNT`, `REGION`, `JOB_SECONDS` (fractional), `MODELS_QUOTA`,
    /// `FAULTS` (`throttle:7,500:11`: every 7th request throttled, every 11th a 500),
    /// `ARTIFACTS_ENDPOINT` (moto's URL), `NOT_READY_CALLS` (a count), `BROKEN_MODELS`
    /// (a regular expression on model names).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let var = |name: &str| get(&format!("FERRY_EMULATOR_{name}")).filter(|v| !v.is_empty());
        if let Some(account) = var("ACCOUNT") {
            anyhow::ensure!(
                account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
                "FERRY_EMULATOR_ACCOUNT: {account:?} is not a 12-digit account id"
            );
            config.account = account;
        }
        if let Some(region) = var("REGION") {
            config.region = region;
        }
        if let Some(seconds) = var("JOB_SECONDS") {
            let seconds: f64 = seconds.parse().map_err(|_| {
                anyhow::anyhow!("FERRY_EMULATOR_JOB_SECONDS: {seconds:?} is not a number")
            })?;
            anyhow::ensure!(
                (0.0..=86_400.0).contains(&seconds),
                "FERRY_EMULATOR_JOB_SECONDS: between 0 and 86400"
            );
            config.job_duration = Duration::from_secs_f64(seconds);
        }
        if let Some(quota) = var("MODELS_QUOTA") {
            config.imported_models_quota = quota.parse().map_err(|_| {
                anyhow::anyhow!("FERRY_EMULATOR_MODELS_QUOTA: {quota:?} is not a count")
            })?;
        }
        if let Some(faults) = var("FAULTS") {
            config.faults = parse_faults(&faults)?;
        }
        if let Some(calls) = var("NOT_READY_CALLS") {
            config.not_ready_calls = calls.parse().map_err(|_| {
                anyhow::anyhow!("FERRY_EMULATOR_NOT_READY_CALLS: {calls:?} is not a count")
            })?;
        }
        if let Some(pattern) = var("BROKEN_MODELS") {
            regex_lite::Regex::new(&pattern)
                .map_err(|e| anyhow::anyhow!("FERRY_EMULATOR_BROKEN_MODELS: {e}"))?;
            config.broken_models = Some(pattern);
        }
        config.artifacts = var("ARTIFACTS_ENDPOINT").map(|endpoint| ArtifactSource { endpoint });
        Ok(config)
    }
}

/// `throttle:7,500:11`
pub fn parse_faults(text: &str) -> anyhow::Result<Vec<Fault>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (kind, every) = item.trim().split_once(':').ok_or_else(|| {
                anyhow::anyhow!("fault {item:?}: expected KIND:EVERY (throttle:7 or 500:11)")
            })?;
            let kind = match kind {
                "throttle" => FaultKind::Throttling,
                "500" => FaultKind::Internal,
                other => anyhow::bail!("fault kind {other:?}: expected throttle or 500"),
            };
            let every: u64 = every.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                anyhow::anyhow!("fault {item:?}: EVERY must be a whole number >= 1")
            })?;
            Ok(Fault { kind, every })
        })
        .collect()
}

/// Requests served, by operation (faulted requests count under "fault").
#[derive(Debug, Clone, Default)]
pub struct Counters(pub BTreeMap<String, u64>);

pub(crate) type Shared = Arc<Mutex<server::State>>;
