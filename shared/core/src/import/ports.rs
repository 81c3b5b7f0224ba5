//! The hosting account as the import logic sees it: the ledger, Bedrock's import jobs,
//! the alert topic. `ferry-aws` implements them with DynamoDB, Bedrock and SNS.

use std::future::Future;

use serde::Serialize;

use super::ledger::{ImportState, LedgerItem, LedgerUpdate};

/// Reads the time in seconds since the Unix epoch. Core never reads the system clock
/// itself: the adapters and the tests pass the system's (`ferry_aws::clock::now_secs`);
/// any `fn() -> u64` will do, a fixed one included. A function rather than one instant, as a lease taken after a slow validation
/// must be stamped with the time it is taken.
pub type Clock = fn() -> u64;

/// A failed call to the hosting account, classified for the caller's decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    /// What the caller should do about it.
    pub kind: PortErrorKind,
    /// The call that failed (`bedrock:CreateModelImportJob`).
    pub operation: String,
    /// What the service said (its error code and message), or what Ferry found wrong
    /// with its answer.
    pub message: String,
}

/// What a failed hosting-account call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortErrorKind {
    /// Throttling, 5xx, timeouts: retry the invocation.
    Retryable,
    /// AccessDenied and the like: a person must fix a policy.
    Denied,
    /// The request itself was refused (ValidationException): retrying will not help.
    Invalid,
    /// Anything else (an unknown error code, an answer missing a field): not known to be
    /// transient, so a failed CreateModelImportJob records the item Failed, not retried.
    Other,
}

impl PortError {
    /// An error of `kind` from `operation` (`service:Action`), saying `message`.
    pub fn new(
        kind: PortErrorKind,
        operation: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            message: message.into(),
        }
    }
}

/// The import ledger: one item per fingerprint; conditional writes make duplicate
/// events no-ops and let concurrent handlers race safely.
pub trait Ledger: Sync {
    /// The item of `fingerprint`; `None` when no item has it.
    fn get(
        &self,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<LedgerItem>, PortError>> + Send;

    /// Inserts the item unless one with its fingerprint exists. `Ok(false)`: it existed.
    fn insert_new(&self, item: &LedgerItem)
        -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Applies `update` if the item is still in state `from`. `Ok(false)`: it was not
    /// (another handler moved it first).
    fn transition(
        &self,
        fingerprint: &str,
        from: ImportState,
        update: &LedgerUpdate,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// The longest-waiting Pending item: the head of the import queue.
    fn oldest_pending(&self) -> impl Future<Output = Result<Option<LedgerItem>, PortError>> + Send;

    /// Every item in `state`, oldest first (the tracker's sweep, `ferry status`).
    fn items_in_state(
        &self,
        state: ImportState,
    ) -> impl Future<Output = Result<Vec<LedgerItem>, PortError>> + Send;
}

/// What `CreateModelImportJob` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRequest {
    /// `jobName`: the item's name (`{slug}-{yyyymmdd}-{hash8}`, `-rN` after a retry; 63
    /// characters at most).
    pub job_name: String,
    /// `importedModelName`: the same name as the job's.
    pub imported_model_name: String,
    /// `roleArn`: the execution role Bedrock assumes to read the weights.
    pub role_arn: String,
    /// `modelDataSource.s3DataSource.s3Uri`: the model folder (`s3://bucket/prefix/`).
    pub s3_uri: String,
    /// `importedModelKmsKeyId`: the hosting account's KMS key for the imported model;
    /// `None`: an AWS owned key.
    pub imported_model_kms_key_id: Option<String>,
    /// `vpcConfig`: the network the job reads S3 from; `None`: no VPC.
    pub vpc: Option<VpcConfig>,
    /// `jobTags` and `importedModelTags` alike, as (key, value): the `ferry:` tags of
    /// [`TAG_KEYS`](super::TAG_KEYS).
    pub tags: Vec<(String, String)>,
    /// `clientRequestToken`: the fingerprint (`-rN` after a retry), so that a repeated
    /// call creates no second job.
    pub client_request_token: String,
}

/// `vpcConfig` of CreateModelImportJob (`FERRY_VPC_SUBNET_IDS`,
/// `FERRY_VPC_SECURITY_GROUP_IDS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpcConfig {
    /// `subnetIds` (1 to 16).
    pub subnet_ids: Vec<String>,
    /// `securityGroupIds` (1 to 5).
    pub security_group_ids: Vec<String>,
}

/// CreateModelImportJob's answer when it started a job or refused it for a reason the
/// start path handles; any other failure is a [`PortError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The job was created.
    Started {
        /// The new job's ARN.
        job_arn: String,
    },
    /// ServiceQuotaExceeded: another job holds the account's one slot.
    SlotBusy(String),
    /// ConflictException: a job or model with this name exists already.
    NameConflict(String),
}

/// An import job's `status` at Bedrock (exactly these three values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobStatus {
    /// Running; it holds the account's one import slot.
    InProgress,
    /// Ended with the imported model created.
    Completed,
    /// Ended without a model; `failureMessage` says why.
    Failed,
}

/// An import job as GetModelImportJob or ListModelImportJobs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// `jobArn`.
    pub job_arn: String,
    /// `jobName`; for Ferry's jobs, the ledger item's name.
    pub job_name: String,
    /// Where the job stands.
    pub status: JobStatus,
    /// `importedModelArn`, once the job has created the model.
    pub imported_model_arn: Option<String>,
    /// `failureMessage` of a Failed job (2048 characters at most); `None` in a listing.
    pub failure_message: Option<String>,
    /// When the job ended (epoch seconds), once it has.
    pub end_time: Option<u64>,
}

/// Bedrock Custom Model Import, as far as starting and finding jobs goes.
pub trait ImportService: Sync {
    /// A job InProgress in the account, if any (AWS allows one at a time).
    fn running_job(&self) -> impl Future<Output = Result<Option<JobInfo>, PortError>> + Send;

    /// CreateModelImportJob: the job started, or refused for the slot or the name.
    fn create_job(
        &self,
        request: &ImportRequest,
    ) -> impl Future<Output = Result<CreateOutcome, PortError>> + Send;

    /// A job by name or ARN; `None` when there is none.
    fn get_job(
        &self,
        name_or_arn: &str,
    ) -> impl Future<Output = Result<Option<JobInfo>, PortError>> + Send;
}

/// Confirms, right before CreateModelImportJob, that the folder still holds the
/// content the item was validated with.
pub trait ContentCheck: Sync {
    /// `Ok(true)` when the folder's listing still gives `item`'s fingerprint.
    fn still_current(
        &self,
        item: &LedgerItem,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// A message for people on the alert topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// One line, at most 100 characters (SNS's subject limit).
    pub subject: String,
    /// What happened and what to do, then a JSON block for machines.
    pub body: String,
}

/// The alert topic (SNS in `ferry-aws`).
pub trait Alerts: Sync {
    /// Sends `alert` to the topic's subscribers.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}
