//! Importing: the ledger, the ports to the hosting account, and the logic that turns
//! S3 events into one import per folder content.

pub(crate) mod alert;
pub mod answer;
pub mod config;
pub mod events;
pub mod fingerprint;
pub mod importer;
pub mod ledger;
pub mod ports;
pub mod promote;
pub(crate) mod readiness;
pub mod start;

pub use answer::{BatchItemFailure, Handled, ImportAnswer, ImportOutcome};
pub use config::{ImporterConfig, StageConfig, StartConfig};
pub use events::ImporterEvent;
pub use importer::{
    handle, process_folder, retry_failed, retry_failed_in, Connect, Decision, ImportError,
};
pub use ledger::{ImportState, LedgerItem, LedgerUpdate, MemoryLedger, SmokeRecord, StateChange};
pub use ports::{
    Alert, Alerts, Clock, ContentCheck, CreateOutcome, ImportRequest, ImportService, JobInfo,
    JobStatus, Ledger, PortError, PortErrorKind, VpcConfig,
};
pub use promote::{promote, Cause};

pub use start::{start_next, Hosting, StartResult, TAG_KEYS};
