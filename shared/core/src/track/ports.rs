//! What the tracker needs besides the importer's hosting ports: the imported models,
//! their usage, and a diagnosis for failed jobs.

use std::future::Future;

use serde::Serialize;

use crate::import::{Alerts, ContentCheck, Hosting, ImportService, Ledger, LedgerItem, PortError};
use crate::outbox::EventBus;
use crate::release::ReleasePointer;
use crate::verify::InvokeModel;

/// An imported model as Bedrock describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// `modelArn`.
    pub arn: String,
    /// `modelName`: for Ferry's imports, the ledger item's name.
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Its tags as (key, value); empty from GetImportedModel, which returns none.
    pub tags: Vec<(String, String)>,
    /// `modelArchitecture`, as Bedrock reports it.
    pub architecture: Option<String>,
    /// Custom Model Units per model copy; from GetImportedModel only (`None` in a
    /// listing).
    pub custom_model_units: Option<u32>,
}

impl ModelInfo {
    /// The value of the tag `key`, when the model has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Bedrock's imported models in the hosting account.
pub trait ModelRegistry: Sync {
    /// GetImportedModel (no tags); `None` when it does not exist.
    fn get_model(
        &self,
        arn_or_name: &str,
    ) -> impl Future<Output = Result<Option<ModelInfo>, PortError>> + Send;
    /// Every imported model of the account, with its tags.
    fn list_models(&self) -> impl Future<Output = Result<Vec<ModelInfo>, PortError>> + Send;
    /// DeleteImportedModel; the weights in S3 stay.
    fn delete_model(&self, arn: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// CloudWatch `AWS/Bedrock` `Invocations` of a model.
pub trait Usage: Sync {
    /// The sum of the model's invocations from `since` to `until` (epoch seconds).
    fn invocations(
        &self,
        model_arn: &str,
        since: u64,
        until: u64,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;
}

/// Why a job failed, as far as Ferry can tell (the access checker's report).
pub trait Diagnose: Sync {
    /// The access check's report on `item`'s chain, or why it could not run; `None` when
    /// there is nothing to check (no region, no source folder).
    fn diagnose(&self, item: &LedgerItem) -> impl Future<Output = Option<String>> + Send;
}

/// Everything the tracker works with, bundled: the hosting ports (with their clock),
/// the models, their usage, the content check of queued folders, the diagnosis of
/// failed jobs, the runtime that smoke-tests new models, the release pointers.
/// [`TrackerPorts`] is what the tracker's functions take.
pub struct Tracker<L, I, A, E, M, U, C, D, R, P> {
    /// The ledger, the import jobs, the alert topic and the event bus, with their clock.
    pub hosting: Hosting<L, I, A, E>,
    /// The imported models.
    pub models: M,
    /// The models' invocations (CloudWatch).
    pub usage: U,
    /// Confirms a queued folder still holds its validated content.
    pub content: C,
    /// The diagnosis of failed jobs.
    pub diagnose: D,
    /// Bedrock's runtime, for the smoke test.
    pub runtime: R,
    /// The models' release pointers.
    pub pointer: P,
}

/// The tracker's ports behind one trait, as the importer's are behind `Connect`:
/// signatures read `tracker: &impl TrackerPorts`. Implemented by [`Tracker`].
pub trait TrackerPorts: Sync {
    /// The import ledger.
    type Ledger: Ledger;
    /// Bedrock's import jobs.
    type Imports: ImportService;
    /// The alert topic.
    type Alerts: Alerts;
    /// The event bus.
    type Events: EventBus;
    /// Bedrock's runtime.
    type Runtime: InvokeModel;
    /// The release pointers.
    type Pointer: ReleasePointer;
    /// The imported models.
    type Models: ModelRegistry;
    /// The models' invocations.
    type Usage: Usage;
    /// The content check of a queued folder.
    type Content: ContentCheck;
    /// The diagnosis of a failed job.
    type Diagnose: Diagnose;

    /// The hosting account's ports and clock (the importer's start path uses them too).
    fn hosting(&self) -> &Hosting<Self::Ledger, Self::Imports, Self::Alerts, Self::Events>;
    /// The imported models.
    fn models(&self) -> &Self::Models;
    /// The models' usage.
    fn usage(&self) -> &Self::Usage;
    /// The content check of queued folders.
    fn content(&self) -> &Self::Content;
    /// The diagnosis of failed jobs.
    fn diagnose(&self) -> &Self::Diagnose;
    /// Bedrock's runtime.
    fn runtime(&self) -> &Self::Runtime;
    /// The release pointers.
    fn pointer(&self) -> &Self::Pointer;
}

impl<L, I, A, E, M, U, C, D, R, P> TrackerPorts for Tracker<L, I, A, E, M, U, C, D, R, P>
where
    L: Ledger,
    I: ImportService,
    A: Alerts,
    E: EventBus,
    R: InvokeModel,
    P: ReleasePointer,
    M: ModelRegistry,
    U: Usage,
    C: ContentCheck,
    D: Diagnose,
{
    type Ledger = L;
    type Imports = I;
    type Alerts = A;
    type Events = E;
    type Runtime = R;
    type Pointer = P;
    type Models = M;
    type Usage = U;
    type Content = C;
    type Diagnose = D;

    fn hosting(&self) -> &Hosting<L, I, A, E> {
        &self.hosting
    }
    fn models(&self) -> &M {
        &self.models
    }
    fn usage(&self) -> &U {
        &self.usage
    }
    fn content(&self) -> &C {
        &self.content
    }
    fn diagnose(&self) -> &D {
        &self.diagnose
    }
    fn runtime(&self) -> &R {
        &self.runtime
    }
    fn pointer(&self) -> &P {
        &self.pointer
    }
}
