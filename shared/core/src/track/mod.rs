//! The tracker (hosting account): follows every submitted import to its end, starts
//! the queue through the importer's start path, alerts, and removes idle models.

pub mod after_import;
mod after_sweep;
pub mod cleanup;
pub mod config;
pub mod handler;
pub mod metrics;
pub mod ports;
pub mod sweep;

pub use cleanup::{cleanup, run_cleanup, CleanupReport, CleanupRules, PlanEntry, ReleaseRole};
pub use config::TrackerConfig;
pub use handler::{
    handle, parse_action, Action, TrackAnswer, TrackError, TrackOutcome, TrackerEvent,
};
pub use ports::{Diagnose, ModelInfo, ModelRegistry, Tracker, TrackerPorts, Usage};
pub use sweep::{sweep, SweepReport};
