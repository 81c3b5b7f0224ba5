//! The cross-account access checker (`../shared/specs/access-check.md`): whether
//! Bedrock, with the execution role, can read the research account's weights, and
//! whether the caller can start the import — decided before any job runs.

pub mod checks;
pub mod scenario;
mod text;

pub use checks::{run_checks, AccessReport, CheckDecision, CheckResult, Fix};
pub use scenario::{Scenario, ScenarioError};
