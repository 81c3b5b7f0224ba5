//! The hosting account as the import logic sees it: the ledger, Bedrock's import jobs,
//! the alert topic. `ferry-aws` implements them with DynamoDB, Bedrock and SNS.

use std::future::Future;

use serde::Serialize;

use super::ledger::{ImportState, LedgerItem, LedgerUpdate};

/// Reads the time in seconds since the Unix epoch. Core never reads the system clock
/// itself: the adapters pass the system's (`ferry_aws::clock::now_secs`), tests a fixed
/// one. A function rather than one instant, as a lease taken after a slow validation
/// must be stamped with the time it is taken.
pub type Clock = fn() -> u64;

/// A failed call to the hosting account, classified for the caller's decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    pub kind: PortErrorKind,
    /// The call that failed (`bedrock:CreateModelImportJob`).
    pub operation: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortErrorKind {
    /// Throttling, 5xx, timeouts: retry the invocation.
    Retryable,
    /// AccessDenied and the like: a person must fix a policy.
    Denied,
    /// The request itself was refused (ValidationException): retrying will not help.
    Invalid,
    Other,
}

impl PortError {
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
    pub job_name: String,
    pub imported_model_name: String,
    pub role_arn: String,
    pub s3_uri: String,
    pub imported_model_kms_key_id: Option<String>,
    pub vpc: Option<VpcConfig>,
    pub tags: Vec<(String, String)>,
    pub client_request_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpcConfig {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Started {
        job_arn: String,
    },
    /// ServiceQuotaExceeded: another job holds the account's one slot.
    SlotBusy(String),
    /// ConflictException: a job or model with this name exists already.
    NameConflict(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobStatus {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub job_arn: String,
    pub job_name: String,
    pub status: JobStatus,
    pub imported_model_arn: Option<String>,
    pub failure_message: Option<String>,
    /// When the job ended (epoch seconds), once it has.
    pub end_time: Option<u64>,
}

/// Bedrock Custom Model Import, as far as starting and finding jobs goes.
pub trait ImportService: Sync {
    /// A job InProgress in the account, if any (AWS allows one at a time).
    fn running_job(&self) -> impl Future<Output = Result<Option<JobInfo>, PortError>> + Send;

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

pub trait Alerts: Sync {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}
