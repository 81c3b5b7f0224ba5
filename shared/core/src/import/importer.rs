//! The importer's handler: S3 events in, at most one validated, queued import per
//! folder content out, whatever the number, order and duplication of events.

use crate::outbox::{announce, EventBus};
use std::collections::BTreeSet;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::alert::{access_failure, is_access_failure, rejection_summary};
use super::answer::{BatchItemFailure, Handled, ImportAnswer, ImportOutcome};
use super::config::{ImporterConfig, StageConfig};
use super::ledger::{ImportState, LedgerItem, LedgerUpdate};
use super::ports::{Alerts, ContentCheck, ImportService, Ledger, PortError, PortErrorKind};
use super::start::{send_alert, start_next, Hosting, StartResult};
use crate::access::checks::deny_tests_network_keys;
use crate::access::{run_checks, LiveTarget, Scenario};
use crate::aws_names::s3_uri::S3Uri;
use crate::import::events::{
    parse_body, EventError, Events, ImporterEvent, Invocation, ObjectEvent, SqsMessage,
};
use crate::import::fingerprint::{folder_slug, identify, Identity};
use crate::import::readiness::{folder_of, index_readiness, listed_readiness, Listed, Readiness};
use crate::validate::source::{FolderSource, Remembered, SourceError};
use crate::validate::{validate_listed, ValidateOptions};
use crate::Report;
use futures_util::future::join_all;

/// How the handler reaches both accounts. `ferry-aws` implements it with the SDK; the
/// hosting side comes from an assumed role.
pub trait Connect: Sync {
    /// A model folder in the research account, read with the importer's own credentials.
    type Folder: FolderSource + Send + Sync;
    /// The import ledger in the hosting account.
    type Ledger: Ledger + Send + Sync;
    /// Bedrock's import jobs in the hosting account.
    type Imports: ImportService + Send + Sync;
    /// The alert topic in the hosting account.
    type Alerts: Alerts + Send + Sync;
    /// The default event bus in the hosting account.
    type Events: EventBus + Send + Sync;

    /// A model folder in the research account.
    fn folder(&self, uri: &S3Uri) -> Self::Folder;

    /// The hosting ports of `stage`'s account; `session` (the folder's slug) names the
    /// role session.
    fn hosting(
        &self,
        stage: &StageConfig,
        session: &str,
    ) -> impl Future<Output = Result<HostingOf<Self>, PortError>> + Send;

    /// The cross-account chain of an import into `stage`, read live: the research side
    /// with the importer's own credentials, the hosting side through `stage`'s role.
    fn read_access(
        &self,
        stage: &StageConfig,
        target: &LiveTarget,
        session: &str,
    ) -> impl Future<Output = Result<Scenario, PortError>> + Send;
}

/// The hosting ports of a [`Connect`].
pub(crate) type HostingOf<C> = Hosting<
    <C as Connect>::Ledger,
    <C as Connect>::Imports,
    <C as Connect>::Alerts,
    <C as Connect>::Events,
>;

/// What happened to one folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The folder is not complete yet (config, tokenizer, weights or the ready marker
    /// missing); a later event judges it again.
    NotReady {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// What is still missing.
        reason: String,
    },
    /// The ledger has this content already.
    Duplicate {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// The state of the item recorded before.
        state: ImportState,
    },
    /// Validation found errors: recorded as Rejected and alerted, never submitted.
    Rejected {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// How many error findings the validation report holds.
        errors: usize,
    },
    /// Valid, but the access check found a policy that stops Bedrock or the caller.
    AccessDenied {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// The denied checks' ids.
        denied: Vec<String>,
    },
    /// Valid and recorded; waiting for the import slot.
    Queued {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// Why it waits: the job in progress, the imported-models quota, or an older queued
        /// import that started first.
        reason: String,
    },
    /// CreateModelImportJob accepted this folder's import.
    Started {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// The new job's ARN.
        job_arn: String,
    },
    /// A promotion to this stage that its gate does not allow (yet), or whose content the
    /// folder no longer holds: nothing was recorded.
    NotPromoted {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage it would have gone to.
        stage: String,
        /// The content's fingerprint.
        fingerprint: String,
        /// Why not.
        reason: String,
    },
    /// Bedrock refused the job, or the folder changed after validation: the item is Failed.
    Failed {
        /// The folder, `s3://bucket/prefix/`.
        folder: String,
        /// The stage (`FERRY_STAGES`); absent without stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        /// The content's fingerprint, the key of its ledger item.
        fingerprint: String,
        /// Why, as the ledger records it.
        message: String,
    },
}

/// Why an invocation (or one SQS message) fails: it will be retried, or go to the DLQ.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The payload, or an SQS message's body, is not an event Ferry can read.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Listing or reading the model folder failed.
    #[error("reading the model folder: {0}")]
    Source(#[from] SourceError),
    /// A call to the hosting account failed: assuming the role, the ledger, Bedrock or SNS.
    #[error("hosting account: {0}")]
    Hosting(#[from] PortError),
    /// Every message of an SQS batch failed (the text counts them).
    #[error("{0}")]
    Batch(String),
}

/// Handles one invocation payload. For SQS batches the answer lists the messages to
/// retry (`batchItemFailures`); for other deliveries any failure fails the invocation.
/// Records of other sources beside Ferry's are ignored, each logged. The metrics are
/// returned for the function to print.
pub async fn handle<C: Connect>(
    event: ImporterEvent,
    connect: &C,
    config: &ImporterConfig,
) -> Result<ImportOutcome, ImportError> {
    let events = match event.invocation? {
        Invocation::Ignored(reason) => {
            tracing::info!(decision = "ignored", %reason, "event ignored");
            return Ok(ImportOutcome {
                answer: ImportAnswer::Ignored { ignored: reason },
                metrics: Vec::new(),
            });
        }
        Invocation::Events(events) => events,
    };
    log_ignored(&events.ignored, None);
    // Folders already judged in this invocation: their other events change nothing.
    let mut done = BTreeSet::new();
    // S3 records beside an SQS batch (never sent by AWS, but judged): their failure
    // fails the invocation, and SQS retries the whole batch (every step is idempotent).
    let mut decisions = process_events(&events, connect, config, &mut done).await?;
    let mut batch_item_failures = None;
    if !events.messages.is_empty() {
        let failures =
            handle_batch(&events.messages, connect, config, &mut done, &mut decisions).await?;
        batch_item_failures = Some(failures);
    }
    let metrics = if decisions.is_empty() {
        Vec::new()
    } else {
        decision_metrics(&decisions)
    };
    Ok(ImportOutcome {
        answer: ImportAnswer::Handled(Handled {
            batch_item_failures,
            decisions,
            ignored: events.ignored,
        }),
        metrics,
    })
}

/// Each message of an SQS batch on its own; returns the failed ones.
async fn handle_batch<C: Connect>(
    messages: &[SqsMessage],
    connect: &C,
    config: &ImporterConfig,
    done: &mut BTreeSet<S3Uri>,
    decisions: &mut Vec<Decision>,
) -> Result<Vec<BatchItemFailure>, ImportError> {
    let mut failures = Vec::new();
    for message in messages {
        let id = message.message_id.as_str();
        let outcome = match parse_body(&message.body) {
            Ok(Invocation::Events(events)) => {
                log_ignored(&events.ignored, Some(id));
                process_events(&events, connect, config, done).await
            }
            Ok(Invocation::Ignored(reason)) => {
                tracing::info!(message_id = %id, decision = "ignored", %reason, "message ignored");
                Ok(Vec::new())
            }
            Err(err) => Err(ImportError::Event(err)),
        };
        match outcome {
            Ok(d) => decisions.extend(d),
            Err(err) => {
                tracing::error!(message_id = %id, error = %err, "message failed; SQS will retry it");
                failures.push(BatchItemFailure {
                    item_identifier: id.to_owned(),
                });
            }
        }
    }
    // Every message failed (say, the hosting role cannot be assumed): fail the
    // invocation too, so the function's Errors alarm fires; SQS retries them all.
    if failures.len() == messages.len() {
        return Err(ImportError::Batch(format!(
            "all {} message(s) of the batch failed; see the log lines above",
            messages.len()
        )));
    }
    Ok(failures)
}

/// One line per ignored record (their number is capped by the parser).
fn log_ignored(notes: &[String], message_id: Option<&str>) {
    for reason in notes {
        tracing::info!(message_id, decision = "ignored", %reason, "record ignored");
    }
}

/// The folders of the objects created, then the promotions the state changes ask for.
async fn process_events<C: Connect>(
    events: &Events,
    connect: &C,
    config: &ImporterConfig,
    done: &mut BTreeSet<S3Uri>,
) -> Result<Vec<Decision>, ImportError> {
    let mut decisions = process_objects(&events.objects, connect, config, done).await?;
    for change in &events.state_changes {
        let promoted = super::promote::on_state_change(change, connect, config).await?;
        promoted.iter().for_each(log_decision);
        decisions.extend(promoted);
    }
    Ok(decisions)
}

async fn process_objects<C: Connect>(
    objects: &[ObjectEvent],
    connect: &C,
    config: &ImporterConfig,
    done: &mut BTreeSet<S3Uri>,
) -> Result<Vec<Decision>, ImportError> {
    let mut decisions = Vec::new();
    for object in objects {
        if !object.created {
            tracing::info!(bucket = %object.bucket, key = %object.key, decision = "ignored", reason = "object removed", "event ignored");
            continue;
        }
        let Some(folder) = folder_of(
            &object.bucket,
            &object.key,
            &config.watch,
            config.ready_marker.as_deref(),
        ) else {
            tracing::info!(bucket = %object.bucket, key = %object.key, decision = "ignored", reason = "not a model file under a watched prefix", "event ignored");
            continue;
        };
        if done.contains(&folder) {
            continue;
        }
        let folder_decisions = process_folder(&folder, connect, config).await?;
        folder_decisions.iter().for_each(log_decision);
        done.insert(folder);
        decisions.extend(folder_decisions);
    }
    Ok(decisions)
}

/// Header reads in flight while validating (the CLI's default is 16). A header is two
/// round trips (its length, then it), so a folder takes two per wave: most models'
/// shards fit in one wave, a 300-shard folder takes five. More would save round trips
/// on the largest folders only, and each read in flight is an S3 connection, with its
/// TLS handshake on the CPU share of a 128 MB function. Public for the test that
/// counts the waves.
#[doc(hidden)]
pub const HEADER_READS_AT_ONCE: usize = 64;

/// The small files readiness, the prefetch and validation all read: once per folder.
pub(crate) const SMALL_FILES: &[&str] = &[crate::validate::CONFIG, crate::validate::INDEX];

/// Judges one folder and, in each stage that imports on upload, records and starts it
/// when it is complete, valid and new to that stage. Calls that do not need each
/// other's answers go out together: the listing with the roles (whose sessions are
/// named after the folder, not its content), then the ledgers' verdicts with the index
/// and the config. Validation runs once, whatever the number of stages; a stage's
/// failure does not stop the others (the invocation fails after them, and its retry
/// finds their work done).
pub async fn process_folder<C: Connect>(
    uri: &S3Uri,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Vec<Decision>, ImportError> {
    let folder = uri.to_string();
    let stages: Vec<&StageConfig> = config.upload_stages().collect();
    if stages.is_empty() {
        // Every stage waits for a promotion: an upload alone imports nothing.
        tracing::info!(%folder, decision = "ignored", "no stage imports on upload (FERRY_STAGES)");
        return Ok(Vec::new());
    }
    let source = Remembered::new(connect.folder(uri), SMALL_FILES);
    let session = folder_slug(uri);
    let (entries, hostings) = futures_util::join!(
        source.list(),
        join_all(stages.iter().map(|stage| connect.hosting(stage, &session)))
    );
    let entries = entries?;
    let index_size = match listed_readiness(&entries, config.ready_marker.as_deref()) {
        Listed::Decided(Readiness::Waiting(reason)) => {
            return Ok(vec![Decision::NotReady { folder, reason }])
        }
        Listed::Decided(Readiness::Ready) => None,
        Listed::ReadIndex(size) => Some(size),
    };
    let identity = identify(uri, &entries);
    // A stage whose role cannot be assumed fails alone; the others go on.
    let (existing, ready, ()) = futures_util::join!(
        join_all(hostings.iter().map(|hosting| async {
            match hosting {
                Ok(hosting) => hosting.ledger.get(&identity.fingerprint).await,
                Err(err) => Err(err.clone()),
            }
        })),
        async {
            match index_size {
                Some(size) => index_readiness(&source, &entries, size).await,
                None => Ok(Readiness::Ready),
            }
        },
        prefetch_config(&source, &entries),
    );
    let mut content = Content::new(uri, &identity, &source, entries, ready);
    let mut outcome = StagesOutcome::default();
    for ((stage, hosting), existing) in stages.iter().zip(&hostings).zip(existing) {
        let decision = match hosting {
            Ok(hosting) => in_stage(stage, hosting, existing, &mut content, connect, config).await,
            Err(err) => Err(err.clone().into()),
        };
        outcome.add(stage, decision);
    }
    outcome.into_result(&folder)
}

/// The decisions of several stages, and the first failure: one stage's failure does
/// not stop the others, and fails the invocation after them (its retry finds their
/// work done).
#[derive(Default)]
pub(crate) struct StagesOutcome {
    decisions: Vec<Decision>,
    first_error: Option<ImportError>,
}

impl StagesOutcome {
    pub(crate) fn add(&mut self, stage: &StageConfig, decision: Result<Decision, ImportError>) {
        match decision {
            // The same NotReady from every stage is said once.
            Ok(decision) if self.decisions.contains(&decision) => {}
            Ok(decision) => self.decisions.push(decision),
            Err(err) => {
                tracing::error!(stage = stage.label(), error = %err, "stage failed");
                self.first_error.get_or_insert(err);
            }
        }
    }

    /// The decisions; on a failure they are logged here, as the caller gets the error.
    pub(crate) fn into_result(self, folder: &str) -> Result<Vec<Decision>, ImportError> {
        match self.first_error {
            None => Ok(self.decisions),
            Some(err) => {
                tracing::warn!(%folder, "a stage failed; the other stages' decisions follow");
                self.decisions.iter().for_each(log_decision);
                Err(err)
            }
        }
    }
}

/// A complete folder's content as the upload path judges it in each stage: validated
/// at most once per import Region.
pub(crate) struct Content<'a, S> {
    pub(crate) uri: &'a S3Uri,
    pub(crate) identity: &'a Identity,
    source: &'a Remembered<S>,
    entries: Vec<crate::FileEntry>,
    /// What the index said about the folder's completeness.
    ready: Result<Readiness, SourceError>,
    /// The last validation, with the Region it was judged for.
    report: Option<(Option<String>, Report)>,
    /// A stage verified this content: it was valid, and is not validated again.
    pub(crate) vouched: bool,
    /// Why the content enters the stage (a promotion), for its first state change.
    pub(crate) note: Option<String>,
}

impl<'a, S: FolderSource> Content<'a, S> {
    pub(crate) fn new(
        uri: &'a S3Uri,
        identity: &'a Identity,
        source: &'a Remembered<S>,
        entries: Vec<crate::FileEntry>,
        ready: Result<Readiness, SourceError>,
    ) -> Self {
        Self {
            uri,
            identity,
            source,
            entries,
            ready,
            report: None,
            vouched: false,
            note: None,
        }
    }

    /// The validation report for `region`, validating only if it was not yet.
    async fn report(&mut self, region: &Option<String>) -> Result<&Report, SourceError> {
        if self.report.as_ref().map(|(r, _)| r) != Some(region) {
            let options = ValidateOptions {
                region: region.clone(),
                concurrency: HEADER_READS_AT_ONCE,
                ..Default::default()
            };
            let report = validate_listed(self.source, self.entries.clone(), &options).await?;
            self.report = Some((region.clone(), report));
        }
        Ok(&self.report.as_ref().expect("set above").1)
    }
}

/// The upload path in one stage: a content the stage's ledger has is judged again
/// ([`judged_before`]), a new one validated, checked and started; the events owed for
/// the item go out unless the start path put them.
pub(crate) async fn in_stage<C: Connect>(
    stage: &StageConfig,
    hosting: &HostingOf<C>,
    existing: Result<Option<LedgerItem>, PortError>,
    content: &mut Content<'_, C::Folder>,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    let folder = content.uri.to_string();
    let fingerprint = content.identity.fingerprint.clone();
    // Known content was complete when it was judged: the index has nothing to add.
    let (decision, may_owe) = match existing {
        Ok(Some(item)) => {
            let owed = item.events_owed();
            let decision = judged_before(stage, hosting, connect, folder, item).await;
            let unchanged = matches!(decision, Ok(Decision::Duplicate { .. }));
            (decision, owed || !unchanged)
        }
        existing => {
            match &content.ready {
                Ok(Readiness::Waiting(reason)) => {
                    let reason = reason.clone();
                    return Ok(Decision::NotReady { folder, reason });
                }
                Err(err) => return Err(err.clone().into()),
                Ok(Readiness::Ready) => {}
            }
            existing?;
            let decision = judge_content(stage, hosting, content, connect, config).await;
            (decision, true)
        }
    };
    // The start path put the events of what it started or failed (`start::record_start`,
    // `supersede`); any other change of this content's item goes now.
    let announced = matches!(
        decision,
        Ok(Decision::Started { .. } | Decision::Failed { .. })
    );
    if may_owe && !announced {
        announce(hosting, &fingerprint).await;
    }
    decision
}

/// Reads the config while the index and the ledger are read, for validation to find it.
async fn prefetch_config<S: FolderSource>(source: &Remembered<S>, entries: &[crate::FileEntry]) {
    if let Some(entry) = entries.iter().find(|e| e.path == crate::validate::CONFIG) {
        source.prefetch(&entry.path, entry.size).await;
    }
}

/// Judges a complete folder whose content `stage`'s ledger does not have.
async fn judge_content<C: Connect>(
    stage: &StageConfig,
    hosting: &HostingOf<C>,
    content: &mut Content<'_, C::Folder>,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    let (uri, identity) = (content.uri, content.identity);
    let folder = uri.to_string();
    let fingerprint = identity.fingerprint.clone();
    let note = content.note.clone();
    if content.vouched {
        return admit(stage, hosting, identity, uri, note, connect, config).await;
    }
    let report = content.report(&stage.import_region).await?;
    if !report.ok {
        let errors = report.errors();
        let summary = rejection_summary(report);
        let item = new_item(
            hosting.now_secs(),
            identity,
            uri,
            stage,
            ImportState::Rejected,
            Some(summary),
        );
        if hosting.ledger.insert_new(&item).await? {
            send_alert(hosting, &fingerprint).await?;
        }
        return Ok(Decision::Rejected {
            folder,
            stage: stage.name.clone(),
            fingerprint,
            errors,
        });
    }
    admit(stage, hosting, identity, uri, note, connect, config).await
}

/// Records a valid content in `stage` and starts its queue, unless the stage's access
/// check denies it; `note` says why it entered the stage (a promotion).
pub(crate) async fn admit<C: Connect>(
    stage: &StageConfig,
    hosting: &HostingOf<C>,
    identity: &Identity,
    uri: &S3Uri,
    note: Option<String>,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    let folder = uri.to_string();
    let fingerprint = identity.fingerprint.clone();
    let now = hosting.now_secs();
    if let Some(denied) = access_denial(stage, uri, connect, config, &fingerprint, now).await? {
        return record_denial(stage, hosting, identity, uri, denied, note).await;
    }
    let mut item = new_item(now, identity, uri, stage, ImportState::Pending, None);
    item.history[0].note = note;
    if !hosting.ledger.insert_new(&item).await? {
        return Ok(Decision::Duplicate {
            folder,
            stage: stage.name.clone(),
            fingerprint,
            state: ImportState::Pending,
        });
    }
    start_and_decide(stage, hosting, connect, folder, fingerprint).await
}

/// A folder whose content the stage's ledger has: a Pending one is started again (a
/// retry after a throttled start, or the slot freed since), a failure whose alert did
/// not go out last time alerts now; the decision is a duplicate otherwise.
pub(crate) async fn judged_before<C: Connect>(
    stage: &StageConfig,
    hosting: &HostingOf<C>,
    connect: &C,
    folder: String,
    existing: LedgerItem,
) -> Result<Decision, ImportError> {
    let fingerprint = existing.fingerprint;
    match existing.state {
        ImportState::Pending => {
            return start_and_decide(stage, hosting, connect, folder, fingerprint).await;
        }
        ImportState::Rejected | ImportState::Failed if !existing.alerted => {
            send_alert(hosting, &fingerprint).await?;
        }
        _ => {}
    }
    Ok(Decision::Duplicate {
        folder,
        stage: stage.name.clone(),
        fingerprint,
        state: existing.state,
    })
}

/// Records a folder the access check denied, and alerts; a concurrent handler that
/// recorded this content first keeps its decision.
async fn record_denial<L: Ledger, I, A: Alerts, E>(
    stage: &StageConfig,
    hosting: &Hosting<L, I, A, E>,
    identity: &Identity,
    uri: &S3Uri,
    denied: AccessDenial,
    note: Option<String>,
) -> Result<Decision, ImportError> {
    let folder = uri.to_string();
    let fingerprint = identity.fingerprint.clone();
    let mut item = new_item(
        hosting.now_secs(),
        identity,
        uri,
        stage,
        ImportState::Rejected,
        Some(denied.failure),
    );
    item.history[0].note = note;
    if !hosting.ledger.insert_new(&item).await? {
        let state = hosting
            .ledger
            .get(&fingerprint)
            .await?
            .map_or(ImportState::Rejected, |i| i.state);
        return Ok(Decision::Duplicate {
            folder,
            stage: stage.name.clone(),
            fingerprint,
            state,
        });
    }
    send_alert(hosting, &fingerprint).await?;
    Ok(Decision::AccessDenied {
        folder,
        stage: stage.name.clone(),
        fingerprint,
        denied: denied.ids,
    })
}

/// What the access check denied: the check ids and the failure text for the ledger.
struct AccessDenial {
    ids: Vec<String>,
    failure: String,
}

/// The pre-flight: the live access check of the chain for this folder in `stage`
/// (its execution role, keys and caller). `None` when nothing is denied (or the check
/// is off); a chain that could not be read entirely is logged and does not stop the
/// import, since Ferry does not guess. `now`: the time the checks are judged at
/// (seconds since the epoch).
async fn access_denial<C: Connect>(
    stage: &StageConfig,
    uri: &S3Uri,
    connect: &C,
    config: &ImporterConfig,
    fingerprint: &str,
    now: u64,
) -> Result<Option<AccessDenial>, ImportError> {
    if !config.access_check {
        return Ok(None);
    }
    let Some(region) = stage.import_region.clone() else {
        tracing::warn!(folder = %uri, "no import region (FERRY_HOSTING_REGION or AWS_REGION): access check skipped");
        return Ok(None);
    };
    let target = LiveTarget {
        source: uri.clone(),
        region,
        execution_role: stage.start.execution_role_arn.clone(),
        imported_model_key: stage.start.imported_model_kms_key_arn.clone(),
        caller_role: Some(stage.hosting_role_arn.clone()),
    };
    let scenario = connect.read_access(stage, &target, fingerprint).await?;
    let report = run_checks(&scenario, now);
    let stage_name = stage.label();
    if !report.complete() {
        tracing::warn!(folder = %uri, stage = stage_name, %fingerprint, unreadable = ?report.unreadable, "access check incomplete: some policies could not be read; the checks resting on them were not judged");
    }
    if report.ok {
        return Ok(None);
    }
    // An explicit Deny on the network path (VPC, endpoint, IP) may not apply to
    // Bedrock's own requests: say so, do not reject.
    if deny_tests_network_keys(&scenario)
        && report.denied().all(|c| c.reason == Some("explicit-deny"))
    {
        tracing::warn!(folder = %uri, stage = stage_name, %fingerprint, "access check: an explicit Deny tests the network path (aws:SourceVpc, aws:SourceIp...), which Ferry cannot know for Bedrock's requests; starting the import");
        return Ok(None);
    }
    let mut ids: Vec<String> = report.denied().map(|c| c.id.to_owned()).collect();
    ids.dedup();
    Ok(Some(AccessDenial {
        ids,
        failure: access_failure(&report),
    }))
}

/// Starts the head of `stage`'s queue and says what that means for this folder.
async fn start_and_decide<C: Connect, L: Ledger, I: ImportService, A: Alerts, E: EventBus>(
    stage: &StageConfig,
    hosting: &Hosting<L, I, A, E>,
    connect: &C,
    folder: String,
    fingerprint: String,
) -> Result<Decision, ImportError> {
    let stage_name = stage.name.clone();
    Ok(
        match start_next(hosting, &stage.start, &FolderContent(connect)).await? {
            StartResult::Started {
                fingerprint: started,
                job_arn,
            } if started == fingerprint => Decision::Started {
                folder,
                stage: stage_name,
                fingerprint,
                job_arn,
            },
            StartResult::Failed {
                fingerprint: failed,
                message,
            } if failed == fingerprint => Decision::Failed {
                folder,
                stage: stage_name,
                fingerprint,
                message,
            },
            StartResult::SlotBusy { reason } => Decision::Queued {
                folder,
                stage: stage_name,
                fingerprint,
                reason,
            },
            other => Decision::Queued {
                folder,
                stage: stage_name,
                fingerprint,
                reason: format!(
                    "an older queued import went first ({})",
                    serde_json::to_string(&other).unwrap_or_default()
                ),
            },
        },
    )
}

/// The research folder as the start path's content check: list it again and compare
/// fingerprints, so a folder changed after validation is never imported under the
/// old content's name.
struct FolderContent<'a, C>(&'a C);

impl<C: Connect> ContentCheck for FolderContent<'_, C> {
    async fn still_current(&self, item: &LedgerItem) -> Result<bool, PortError> {
        let uri = S3Uri::parse(&item.source_uri)
            .map_err(|e| PortError::new(PortErrorKind::Invalid, "ledger", e.to_string()))?;
        let entries = self.0.folder(&uri).list().await.map_err(|e| {
            let kind = if e.is_retryable() {
                PortErrorKind::Retryable
            } else {
                PortErrorKind::Other
            };
            PortError::new(kind, "s3:ListObjectsV2", e.to_string())
        })?;
        Ok(identify(&uri, &entries).fingerprint == item.fingerprint)
    }
}

/// `ferry import --retry` in the first stage (see [`retry_failed_in`]).
pub async fn retry_failed<C: Connect>(
    uri: &S3Uri,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    retry_failed_in(&config.stages[0], uri, connect, config).await
}

/// `ferry import --retry [--stage S]`: puts a Failed item (or one whose model cleanup
/// deleted) back in `stage`'s queue under a new name and token (Bedrock keeps the old
/// job's name), then starts the queue.
pub async fn retry_failed_in<C: Connect>(
    stage: &StageConfig,
    uri: &S3Uri,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    let folder_name = uri.to_string();
    let entries = connect.folder(uri).list().await?;
    let identity = identify(uri, &entries);
    let fingerprint = identity.fingerprint.clone();
    let hosting = connect.hosting(stage, &folder_slug(uri)).await?;
    let Some(item) = hosting.ledger.get(&fingerprint).await? else {
        return first_time(stage, uri, &identity, connect, config).await;
    };
    if item.state == ImportState::Rejected && is_access_failure(item.failure.as_deref()) {
        return recheck_access(stage, uri, connect, config, &hosting, item).await;
    }
    // A Failed import, or a model cleanup deleted: again, under a new name.
    if !matches!(item.state, ImportState::Failed | ImportState::Deleted) {
        return Ok(Decision::Duplicate {
            folder: folder_name,
            stage: stage.name.clone(),
            fingerprint,
            state: item.state,
        });
    }
    let retry = item.retry + 1;
    let requeue = LedgerUpdate {
        state: Some(ImportState::Pending),
        now: hosting.now_secs(),
        set_name: Some(super::start::retry_name(&identity.name, retry)),
        add_retry: true,
        // Cleared: a Pending item with a failure text is one that waits for a limit.
        failure: Some(String::new()),
        set_alerted: Some(false),
        set_lease: Some(0),
        ..Default::default()
    };
    if !hosting
        .ledger
        .transition(&fingerprint, item.state, &requeue)
        .await?
    {
        return Ok(Decision::Duplicate {
            folder: folder_name,
            stage: stage.name.clone(),
            fingerprint,
            state: item.state,
        });
    }
    start_and_decide(stage, &hosting, connect, folder_name, fingerprint).await
}

/// `--retry` of a content `stage` has never seen: judged as an upload when the stage
/// imports on upload; other stages take it by promotion only.
async fn first_time<C: Connect>(
    stage: &StageConfig,
    uri: &S3Uri,
    identity: &Identity,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Decision, ImportError> {
    if stage.gate != crate::stages::Gate::Upload {
        return Ok(Decision::NotPromoted {
            folder: uri.to_string(),
            stage: stage.label().to_owned(),
            fingerprint: identity.fingerprint.clone(),
            reason: format!(
                "{} has no import of this content; it waits for {} (ferry promote --to {} starts it now)",
                stage.label(),
                stage.gate.waits_for(),
                stage.label()
            ),
        });
    }
    // This stage alone: the other upload stages are not the retry's business.
    let cause = super::promote::Cause::Upload;
    let fingerprint = Some(identity.fingerprint.as_str());
    super::promote::promote(uri, fingerprint, stage, &cause, connect, config).await
}

/// `--retry` on an import the access check rejected: judge the chain again; when it
/// passes now, the item goes back in the queue under its name (no job was created).
async fn recheck_access<C: Connect, L: Ledger, I: ImportService, A: Alerts, E: EventBus>(
    stage: &StageConfig,
    uri: &S3Uri,
    connect: &C,
    config: &ImporterConfig,
    hosting: &Hosting<L, I, A, E>,
    item: LedgerItem,
) -> Result<Decision, ImportError> {
    let folder_name = uri.to_string();
    let fingerprint = item.fingerprint.clone();
    if let Some(denied) = access_denial(
        stage,
        uri,
        connect,
        config,
        &fingerprint,
        hosting.now_secs(),
    )
    .await?
    {
        let update = LedgerUpdate {
            now: hosting.now_secs(),
            failure: Some(denied.failure),
            ..Default::default()
        };
        hosting
            .ledger
            .transition(&fingerprint, ImportState::Rejected, &update)
            .await?;
        return Ok(Decision::AccessDenied {
            folder: folder_name,
            stage: stage.name.clone(),
            fingerprint,
            denied: denied.ids,
        });
    }
    let requeue = LedgerUpdate {
        state: Some(ImportState::Pending),
        now: hosting.now_secs(),
        // Cleared: a Pending item with a failure text is one that waits for a limit.
        failure: Some(String::new()),
        set_alerted: Some(false),
        set_lease: Some(0),
        ..Default::default()
    };
    if !hosting
        .ledger
        .transition(&fingerprint, ImportState::Rejected, &requeue)
        .await?
    {
        return Ok(Decision::Duplicate {
            folder: folder_name,
            stage: stage.name.clone(),
            fingerprint,
            state: item.state,
        });
    }
    start_and_decide(stage, hosting, connect, folder_name, fingerprint).await
}

pub(crate) fn new_item(
    now: u64,
    identity: &Identity,
    uri: &S3Uri,
    stage: &StageConfig,
    state: ImportState,
    failure: Option<String>,
) -> LedgerItem {
    LedgerItem {
        finished_at: (state == ImportState::Rejected).then_some(now),
        failure,
        stage: stage.name.clone(),
        ..LedgerItem::new(
            &identity.fingerprint,
            state,
            uri.to_string(),
            &identity.slug,
            &identity.name,
            now,
        )
    }
}

/// The importer's share of Ferry's metrics, one EMF line per invocation that decided
/// something (the tracker counts completions and failures of running jobs).
pub(crate) fn decision_metrics(decisions: &[Decision]) -> Vec<crate::track::metrics::Metric> {
    use crate::track::metrics::Metric;
    let count = |pred: fn(&Decision) -> bool| decisions.iter().filter(|d| pred(d)).count();
    vec![
        Metric::count(
            "ImportsStarted",
            count(|d| matches!(d, Decision::Started { .. })),
        ),
        Metric::count(
            "ImportsQueued",
            count(|d| matches!(d, Decision::Queued { .. })),
        ),
        Metric::count(
            "ImportsRejected",
            count(|d| matches!(d, Decision::Rejected { .. } | Decision::AccessDenied { .. })),
        ),
        Metric::count(
            "ImportsFailed",
            count(|d| matches!(d, Decision::Failed { .. })),
        ),
    ]
}

/// One structured line per decision: stage, fingerprint, folder, decision, reason.
pub(crate) fn log_decision(decision: &Decision) {
    let (folder, fingerprint, reason) = match decision {
        Decision::NotReady { folder, reason } => (folder, "", reason.clone()),
        Decision::Queued {
            folder,
            fingerprint,
            reason,
            ..
        }
        | Decision::NotPromoted {
            folder,
            fingerprint,
            reason,
            ..
        } => (folder, fingerprint.as_str(), reason.clone()),
        Decision::Duplicate {
            folder,
            fingerprint,
            state,
            ..
        } => (
            folder,
            fingerprint.as_str(),
            format!("already in the ledger as {}", state.as_str()),
        ),
        Decision::Rejected {
            folder,
            fingerprint,
            errors,
            ..
        } => (
            folder,
            fingerprint.as_str(),
            format!("{errors} validation error(s)"),
        ),
        Decision::AccessDenied {
            folder,
            fingerprint,
            denied,
            ..
        } => (
            folder,
            fingerprint.as_str(),
            format!("access check denied: {}", denied.join(", ")),
        ),
        Decision::Started {
            folder,
            fingerprint,
            job_arn,
            ..
        } => (folder, fingerprint.as_str(), format!("job {job_arn}")),
        Decision::Failed {
            folder,
            fingerprint,
            message,
            ..
        } => (folder, fingerprint.as_str(), message.clone()),
    };
    let stage = decision.stage();
    tracing::info!(stage, fingerprint, %folder, decision = decision.name(), %reason, "folder decision");
}

impl Decision {
    /// The decision as logs and JSON name it (`not_ready`, `started`...).
    pub fn name(&self) -> &'static str {
        match self {
            Decision::NotReady { .. } => "not_ready",
            Decision::Duplicate { .. } => "duplicate",
            Decision::Rejected { .. } => "rejected",
            Decision::AccessDenied { .. } => "access_denied",
            Decision::Queued { .. } => "queued",
            Decision::Started { .. } => "started",
            Decision::NotPromoted { .. } => "not_promoted",
            Decision::Failed { .. } => "failed",
        }
    }

    /// The stage it was made in; `None` without stages, and for a folder not complete.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Decision::NotReady { .. } => None,
            Decision::NotPromoted { stage, .. } => Some(stage),
            Decision::Duplicate { stage, .. }
            | Decision::Rejected { stage, .. }
            | Decision::AccessDenied { stage, .. }
            | Decision::Queued { stage, .. }
            | Decision::Started { stage, .. }
            | Decision::Failed { stage, .. } => stage.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_count_into_metrics() {
        let f = || "f".to_owned();
        let decisions = [
            Decision::Started {
                folder: f(),
                stage: None,
                fingerprint: f(),
                job_arn: f(),
            },
            Decision::AccessDenied {
                folder: f(),
                stage: None,
                fingerprint: f(),
                denied: vec![],
            },
            Decision::Rejected {
                folder: f(),
                stage: None,
                fingerprint: f(),
                errors: 2,
            },
        ];
        let metrics = decision_metrics(&decisions);
        let value = |name: &str| metrics.iter().find(|m| m.name == name).map(|m| m.values[0]);
        assert_eq!(value("ImportsStarted"), Some(1.0));
        assert_eq!(value("ImportsRejected"), Some(2.0));
        assert_eq!(value("ImportsFailed"), Some(0.0));
    }

    #[test]
    fn decision_names_are_the_serialized_tags() {
        let f = || "f".to_owned();
        let decisions = [
            Decision::NotReady {
                folder: f(),
                reason: f(),
            },
            Decision::Duplicate {
                folder: f(),
                stage: None,
                fingerprint: f(),
                state: ImportState::Pending,
            },
            Decision::Rejected {
                folder: f(),
                stage: None,
                fingerprint: f(),
                errors: 1,
            },
            Decision::AccessDenied {
                folder: f(),
                stage: None,
                fingerprint: f(),
                denied: vec![f()],
            },
            Decision::Queued {
                folder: f(),
                stage: None,
                fingerprint: f(),
                reason: f(),
            },
            Decision::Started {
                folder: f(),
                stage: None,
                fingerprint: f(),
                job_arn: f(),
            },
            Decision::NotPromoted {
                folder: f(),
                stage: f(),
                fingerprint: f(),
                reason: f(),
            },
            Decision::Failed {
                folder: f(),
                stage: None,
                fingerprint: f(),
                message: f(),
            },
        ];
        for d in decisions {
            assert_eq!(serde_json::to_value(&d).unwrap()["decision"], d.name());
        }
    }
}
