//! What the tracker needs besides the importer's hosting ports: the imported models,
//! their usage, and a diagnosis for failed jobs.

use std::future::Future;

use serde::Serialize;

use crate::import::{LedgerItem, PortError};

/// An imported model as Bedrock describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    pub arn: String,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub tags: Vec<(String, String)>,
    pub architecture: Option<String>,
    pub custom_model_units: Option<u32>,
}

impl ModelInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub trait ModelRegistry: Sync {
    /// GetImportedModel (no tags); `None` when it does not exist.
    fn get_model(
        &self,
        arn_or_name: &str,
    ) -> impl Future<Output = Result<Option<ModelInfo>, PortError>> + Send;
    /// Every imported model of the account, with its tags.
    fn list_models(&self) -> impl Future<Output = Result<Vec<ModelInfo>, PortError>> + Send;
    fn delete_model(&self, arn: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// CloudWatch `AWS/Bedrock` `Invocations` of a model.
pub trait Usage: Sync {
    fn invocations(
        &self,
        model_arn: &str,
        since: u64,
        until: u64,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;
}

/// Why a job failed, as far as Ferry can tell (the access checker's report).
pub trait Diagnose: Sync {
    fn diagnose(&self, item: &LedgerItem) -> impl Future<Output = Option<String>> + Send;
}
