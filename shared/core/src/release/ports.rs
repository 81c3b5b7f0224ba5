//! The release pointer as the release logic sees it. `ferry-aws` implements it with an
//! SSM parameter per model (`/ferry/<model>/live`); [`MemoryPointer`] is for tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use crate::import::PortError;

/// Where applications read a model's live version from.
pub trait ReleasePointer: Sync {
    /// The live model ARN of `model`; `None` when nothing was released yet.
    fn live(&self, model: &str) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Points `model` at `model_arn` (version `version`, for the parameter's description).
    fn set_live(
        &self,
        model: &str,
        model_arn: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Pointers in memory, with every value each one had.
#[derive(Debug, Default)]
pub struct MemoryPointer {
    values: Mutex<BTreeMap<String, Vec<String>>>,
}

impl MemoryPointer {
    /// Every value `model`'s pointer had, oldest first.
    pub fn history(&self, model: &str) -> Vec<String> {
        self.lock().get(model).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<String>>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReleasePointer for MemoryPointer {
    async fn live(&self, model: &str) -> Result<Option<String>, PortError> {
        Ok(self.lock().get(model).and_then(|v| v.last().cloned()))
    }
    async fn set_live(
        &self,
        model: &str,
        model_arn: &str,
        _version: &str,
    ) -> Result<(), PortError> {
        self.lock()
            .entry(model.to_owned())
            .or_default()
            .push(model_arn.to_owned());
        Ok(())
    }
}

impl<P: ReleasePointer + Send> ReleasePointer for std::sync::Arc<P> {
    async fn live(&self, model: &str) -> Result<Option<String>, PortError> {
        (**self).live(model).await
    }
    async fn set_live(&self, model: &str, model_arn: &str, version: &str) -> Result<(), PortError> {
        (**self).set_live(model, model_arn, version).await
    }
}
