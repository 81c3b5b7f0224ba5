//! The cross-account access checker (`../shared/specs/access-check.md`): whether
//! Bedrock, with the execution role, can read the research account's weights, and
//! whether the caller can start the import — decided before any job runs.

pub mod checks;
pub mod live;
pub mod probe;
pub mod scenario;
mod text;

pub use checks::{run_checks, AccessReport, CheckDecision, CheckResult, Fix};
pub use live::{read_live, LiveError, LiveTarget, PolicyCache, PolicyReader, ReadError, RoleInfo};
pub use probe::{probe, ProbeReport, Prober};
pub use scenario::{Part, Scenario, ScenarioError, Unreadable};
