//! The tracker's sweep and cleanup with in-memory ports: completions start the queue,
//! failures alert with a diagnosis, a stuck job alerts once, a foreign job holds the
//! slot, API errors lose nothing, quota pressure frees the idlest model.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ferry_core::import::Ledger;
use ferry_core::import::LedgerUpdate;
use ferry_core::import::{
    Alert, Alerts, ContentCheck, CreateOutcome, Hosting, ImportRequest, ImportService, ImportState,
    JobInfo, JobStatus, LedgerItem, MemoryLedger, PortError, PortErrorKind,
};
use ferry_core::outbox::MemoryBus;
use ferry_core::release::MemoryPointer;
use ferry_core::track::{
    run_cleanup, sweep, Diagnose, ModelInfo, ModelRegistry, TrackError, Tracker, TrackerConfig,
    TrackerEvent, TrackerPorts, Usage,
};
use ferry_core::verify::{InvokeError, InvokeErrorKind, InvokeModel, InvokeReply};
use serde_json::{json, Value};

const NOW: u64 = 2_000_000_000;
const DAY: u64 = 24 * 3600;

/// The start path's clock: the system's, as the functions have (sweeps get `NOW`).
fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The tracker's handler on a JSON payload, its answer as JSON (what Lambda returns).
async fn handle(
    event: &Value,
    tracker: &impl TrackerPorts,
    config: &TrackerConfig,
    now: u64,
) -> Result<Value, TrackError> {
    let outcome = ferry_core::track::handle(TrackerEvent::parse(event), tracker, config, now).await;
    outcome
        .result
        .map(|answer| serde_json::to_value(answer).expect("a report serializes"))
}

#[derive(Clone, Default)]
struct Bedrock(Arc<Mutex<BedrockState>>);

#[derive(Default)]
struct BedrockState {
    jobs: BTreeMap<String, JobInfo>,
    created: Vec<ImportRequest>,
    failing_gets: Vec<String>,
    models: Vec<ModelInfo>,
    deleted: Vec<String>,
    /// The imported-models quota Bedrock enforces on Create.
    quota: Option<usize>,
    /// Bedrock unreachable: every job call fails.
    down: bool,
}

impl Bedrock {
    fn job(&self, name: &str, status: JobStatus, failure: Option<&str>) {
        let arn = format!("arn:aws:bedrock:us-east-1:777788889999:model-import-job/{name}");
        self.0.lock().unwrap().jobs.insert(
            arn.clone(),
            JobInfo {
                job_arn: arn,
                job_name: name.into(),
                status,
                imported_model_arn: (status == JobStatus::Completed).then(|| {
                    format!("arn:aws:bedrock:us-east-1:777788889999:imported-model/{name}")
                }),
                failure_message: failure.map(str::to_owned),
                end_time: (status != JobStatus::InProgress).then_some(NOW - 120),
            },
        );
    }
    fn unreachable(&self, operation: &str) -> Result<(), PortError> {
        if self.0.lock().unwrap().down {
            return Err(PortError::new(
                PortErrorKind::Retryable,
                operation,
                "dispatch failure: connection timed out",
            ));
        }
        Ok(())
    }
    fn model(&self, name: &str, age_days: u64, ferry: bool) {
        let mut tags = vec![];
        if ferry {
            tags.push(("ferry:fingerprint".to_owned(), format!("fp-{name}")));
            tags.push(("ferry:model".to_owned(), name.to_owned()));
        }
        self.0.lock().unwrap().models.push(ModelInfo {
            arn: format!("arn:aws:bedrock:us-east-1:777788889999:imported-model/{name}"),
            name: name.into(),
            created_at: NOW - age_days * DAY,
            tags,
            architecture: Some("LlamaForCausalLM".into()),
            custom_model_units: Some(1),
        });
    }
}

impl ImportService for Bedrock {
    async fn running_job(&self) -> Result<Option<JobInfo>, PortError> {
        self.unreachable("bedrock:ListModelImportJobs")?;
        Ok(self
            .0
            .lock()
            .unwrap()
            .jobs
            .values()
            .find(|j| j.status == JobStatus::InProgress)
            .cloned())
    }
    async fn create_job(&self, request: &ImportRequest) -> Result<CreateOutcome, PortError> {
        {
            let mut state = self.0.lock().unwrap();
            state.created.push(request.clone());
            if state.quota.is_some_and(|q| state.models.len() >= q) {
                return Ok(CreateOutcome::SlotBusy(
                    "ServiceQuotaExceededException: imported models".into(),
                ));
            }
        }
        self.job(&request.job_name, JobStatus::InProgress, None);
        Ok(CreateOutcome::Started {
            job_arn: format!(
                "arn:aws:bedrock:us-east-1:777788889999:model-import-job/{}",
                request.job_name
            ),
        })
    }
    async fn get_job(&self, arn: &str) -> Result<Option<JobInfo>, PortError> {
        self.unreachable("bedrock:GetModelImportJob")?;
        let state = self.0.lock().unwrap();
        if state.failing_gets.iter().any(|f| arn.ends_with(f.as_str())) {
            return Err(PortError::new(
                PortErrorKind::Retryable,
                "bedrock:GetModelImportJob",
                "ThrottlingException",
            ));
        }
        Ok(state.jobs.get(arn).cloned())
    }
}

impl ModelRegistry for Bedrock {
    async fn get_model(&self, arn: &str) -> Result<Option<ModelInfo>, PortError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .models
            .iter()
            .find(|m| m.arn == arn)
            .cloned())
    }
    async fn list_models(&self) -> Result<Vec<ModelInfo>, PortError> {
        Ok(self.0.lock().unwrap().models.clone())
    }
    async fn delete_model(&self, arn: &str) -> Result<(), PortError> {
        let mut state = self.0.lock().unwrap();
        state.models.retain(|m| m.arn != arn);
        state.deleted.push(arn.to_owned());
        Ok(())
    }
}

/// Invocations per model name; absent: 0.
#[derive(Clone, Default)]
struct Metrics(Arc<Mutex<BTreeMap<String, u64>>>);

impl Usage for Metrics {
    async fn invocations(&self, arn: &str, _since: u64, _until: u64) -> Result<u64, PortError> {
        let name = arn.rsplit('/').next().unwrap_or("");
        Ok(self.0.lock().unwrap().get(name).copied().unwrap_or(0))
    }
}

#[derive(Clone, Default)]
struct Sns(Arc<Mutex<(Vec<Alert>, usize)>>);

impl Sns {
    fn subjects(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .0
            .iter()
            .map(|a| a.subject.clone())
            .collect()
    }
}

impl Alerts for Sns {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        let mut state = self.0.lock().unwrap();
        if state.1 > 0 {
            state.1 -= 1;
            return Err(PortError::new(
                PortErrorKind::Retryable,
                "sns:Publish",
                "Throttling",
            ));
        }
        state.0.push(alert.clone());
        Ok(())
    }
}

struct Current;
impl ContentCheck for Current {
    async fn still_current(&self, _item: &LedgerItem) -> Result<bool, PortError> {
        Ok(true)
    }
}

struct Diagnosis;
impl Diagnose for Diagnosis {
    async fn diagnose(&self, _item: &LedgerItem) -> Option<String> {
        Some("✗ kms-source  kms:Decrypt  arn:aws:kms:...: add to the key policy ...".into())
    }
}

/// Bedrock's runtime: `not_ready` calls answer ModelNotReadyException (after the SDK's
/// 3 attempts each), then a broken model fails and a sound one answers.
#[derive(Clone, Default)]
struct Runtime(Arc<Mutex<RuntimeState>>);

#[derive(Default)]
struct RuntimeState {
    not_ready: u32,
    broken: bool,
    calls: u32,
}

impl Runtime {
    fn calls(&self) -> u32 {
        self.0.lock().unwrap().calls
    }
}

impl InvokeModel for Runtime {
    async fn invoke(&self, _model_arn: &str, _body: &[u8]) -> Result<InvokeReply, InvokeError> {
        let mut state = self.0.lock().unwrap();
        state.calls += 1;
        if state.calls <= state.not_ready {
            return Err(InvokeError::new(
                InvokeErrorKind::NotReady,
                "Model is not ready for inference. Wait and try your request again.",
                3,
            ));
        }
        if state.broken {
            let kind = InvokeErrorKind::ModelError {
                original_status: Some(500),
            };
            return Err(InvokeError::new(kind, "the model server failed", 1));
        }
        Ok(InvokeReply {
            body: br#"{"generation": "ready", "stop_reason": "stop"}"#.to_vec(),
            attempts: 1,
            latency_ms: 420,
        })
    }
}

type World = Tracker<
    Arc<MemoryLedger>,
    Bedrock,
    Sns,
    Arc<MemoryBus>,
    Bedrock,
    Metrics,
    Current,
    Diagnosis,
    Runtime,
    Arc<MemoryPointer>,
>;

fn world() -> World {
    let bedrock = Bedrock::default();
    Tracker {
        hosting: Hosting {
            ledger: Arc::new(MemoryLedger::default()),
            imports: bedrock.clone(),
            alerts: Sns::default(),
            events: Arc::new(MemoryBus::default()),
            clock: system_clock,
        },
        models: bedrock,
        usage: Metrics::default(),
        content: Current,
        diagnose: Diagnosis,
        runtime: Runtime::default(),
        pointer: Arc::new(MemoryPointer::default()),
    }
}

/// The sweep as before the smoke test (off) and release (manual) existed.
fn config() -> TrackerConfig {
    config_with(&[("FERRY_SMOKE_TEST", "off"), ("FERRY_RELEASE", "manual")])
}

fn config_with(vars: &[(&str, &str)]) -> TrackerConfig {
    TrackerConfig::from_env(|k| {
        match k {
            "FERRY_LEDGER_TABLE" => Some("ferry-ledger"),
            "FERRY_ALERT_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:777788889999:ferry-alerts"),
            "FERRY_EXECUTION_ROLE_ARN" => Some("arn:aws:iam::777788889999:role/Exec"),
            _ => vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v),
        }
        .map(str::to_owned)
    })
    .unwrap()
}

async fn item(world: &World, name: &str, state: ImportState, created_at: u64) {
    let submitted = state == ImportState::Submitted;
    let item = LedgerItem {
        submitted_at: submitted.then_some(created_at),
        job_arn: submitted
            .then(|| format!("arn:aws:bedrock:us-east-1:777788889999:model-import-job/{name}")),
        ..LedgerItem::new(
            format!("fp-{name}"),
            state,
            format!("s3://research/fine-tunes/{name}/"),
            name,
            name,
            created_at,
        )
    };
    assert!(world.hosting.ledger.insert_new(&item).await.unwrap());
}

fn state_of(world: &World, name: &str) -> LedgerItem {
    world
        .hosting
        .ledger
        .items()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap()
}

#[tokio::test]
async fn a_completion_is_recorded_announced_and_starts_the_next_queued_import() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 3600).await;
    item(&w, "b", ImportState::Pending, NOW - 600).await;
    item(&w, "c", ImportState::Pending, NOW - 300).await;
    w.models.model("a", 0, true);
    w.models.job("a", JobStatus::Completed, None);

    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(report.completed, ["a"]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let a = state_of(&w, "a");
    assert_eq!(a.state, ImportState::Completed);
    assert_eq!(a.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(a.custom_model_units, Some(1));
    assert_eq!(report.job_seconds, [3600 - 120], "to the job's endTime");
    assert_eq!(w.hosting.alerts.subjects(), ["Ferry: a imported"]);
    // The oldest Pending item started, one job at a time.
    assert_eq!(state_of(&w, "b").state, ImportState::Submitted);
    assert_eq!(state_of(&w, "c").state, ImportState::Pending);
    assert_eq!(report.queue_depth, 1);
    let metrics = ferry_core::track::metrics::emf_line(&report.metrics(), NOW * 1000);
    assert!(metrics.contains("\"ImportsStarted\":1.0"), "{metrics}");

    // Next sweep: b still runs, c waits.
    let report = sweep(&w, &config(), NOW + 60).await;
    assert_eq!(report.running, 1);
    assert!(report.start.is_none());
    assert_eq!(state_of(&w, "c").state, ImportState::Pending);
}

#[tokio::test]
async fn a_failure_alerts_once_with_the_access_diagnosis() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 3600).await;
    w.models.job(
        "a",
        JobStatus::Failed,
        Some("Amazon Bedrock does not have access to the S3 location (s3://research/fine-tunes/a). Update the permissions and try again."),
    );
    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(report.failed, ["a"]);
    let a = state_of(&w, "a");
    assert_eq!(a.state, ImportState::Failed);
    assert!(a.failure.as_deref().unwrap().contains("✗ kms-source"));
    let alerts = w.hosting.alerts.0.lock().unwrap().0.clone();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .body
            .contains("Ferry's access check of the chain now"),
        "{}",
        alerts[0].body
    );
    sweep(&w, &config(), NOW + 60).await;
    assert_eq!(w.hosting.alerts.subjects().len(), 1, "no second alert");
}

#[tokio::test]
async fn a_stuck_job_alerts_once_and_its_end_alerts_again() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 7 * 3600).await;
    w.models.job("a", JobStatus::InProgress, None);
    for t in 0..3 {
        let report = sweep(&w, &config(), NOW + t * 300).await;
        assert_eq!(report.running, 1);
    }
    assert_eq!(
        w.hosting.alerts.subjects(),
        ["Ferry: import of a is taking long"]
    );
    w.models.job("a", JobStatus::Failed, Some("internal error"));
    sweep(&w, &config(), NOW + 1000).await;
    assert_eq!(w.hosting.alerts.subjects().len(), 2);
    assert_eq!(w.hosting.alerts.subjects()[1], "Ferry: import of a failed");
}

#[tokio::test]
async fn a_foreign_job_holds_the_slot_and_is_reported_once() {
    let w = world();
    item(&w, "b", ImportState::Pending, NOW - 600).await;
    w.models.job("someone-elses", JobStatus::InProgress, None);
    for t in 0..2 {
        let report = sweep(&w, &config(), NOW + t).await;
        assert!(report.foreign_job.is_some());
        assert!(report.start.is_none());
    }
    assert_eq!(state_of(&w, "b").state, ImportState::Pending);
    assert_eq!(
        w.hosting.alerts.subjects(),
        ["Ferry: a job Ferry did not start holds the import slot"]
    );
    assert!(w.models.0.lock().unwrap().created.is_empty());
}

#[tokio::test]
async fn an_api_error_mid_sweep_loses_no_update() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    item(&w, "b", ImportState::Submitted, NOW - 200).await;
    w.models.job("a", JobStatus::Completed, None);
    w.models.job("b", JobStatus::Completed, None);
    w.models.0.lock().unwrap().failing_gets.push("/a".into());
    // A publish error for b's completion too.
    w.hosting.alerts.0.lock().unwrap().1 = 1;
    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(report.completed, ["b"]);
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(state_of(&w, "a").state, ImportState::Submitted);
    // b's notice failed once and went out on the sweep's pass over unsent alerts.
    assert!(state_of(&w, "b").alerted);
    assert_eq!(report.alerts_resent, 1);

    w.models.0.lock().unwrap().failing_gets.clear();
    let report = sweep(&w, &config(), NOW + 60).await;
    assert_eq!(report.completed, ["a"]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(state_of(&w, "a").state, ImportState::Completed);
    let mut subjects = w.hosting.alerts.subjects();
    subjects.sort();
    assert_eq!(subjects, ["Ferry: a imported", "Ferry: b imported"]);
}

#[tokio::test]
async fn a_failing_end_alert_does_not_hold_back_the_next_import() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 3600).await;
    item(&w, "b", ImportState::Pending, NOW - 600).await;
    w.models.job("a", JobStatus::Failed, Some("boom"));
    // The ended job's alert fails (it goes out beside the queue's start).
    w.hosting.alerts.0.lock().unwrap().1 = 1;
    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(report.failed, ["a"]);
    assert_eq!(
        state_of(&w, "b").state,
        ImportState::Submitted,
        "{report:?}"
    );
    assert!(matches!(
        report.start,
        Some(ferry_core::import::StartResult::Started { .. })
    ));
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(report.errors[0].starts_with("a: "), "{:?}", report.errors);
    // The same sweep's pass over unalerted items sent it.
    assert_eq!(report.alerts_resent, 1);
    assert_eq!(w.hosting.alerts.subjects(), ["Ferry: import of a failed"]);
}

#[tokio::test]
async fn a_lost_failure_alert_is_sent_again_exactly_once() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    w.models.job("a", JobStatus::Failed, Some("boom"));
    w.hosting.alerts.0.lock().unwrap().1 = 1;
    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(report.failed, ["a"]);
    assert_eq!(report.errors.len(), 1, "the publish error is reported");
    // The same sweep's pass over unalerted items sends it; later sweeps do not repeat it.
    assert_eq!(report.alerts_resent, 1);
    let report = sweep(&w, &config(), NOW + 120).await;
    assert_eq!(report.alerts_resent, 0);
    assert_eq!(w.hosting.alerts.subjects(), ["Ferry: import of a failed"]);
}

async fn quota_world() -> World {
    let w = world();
    w.models.model("busy", 40, true);
    w.models.model("idle-old", 60, true);
    w.models.model("theirs", 90, false);
    w.usage.0.lock().unwrap().insert("busy".into(), 12);
    item(&w, "next", ImportState::Pending, NOW - 60).await;
    w
}

fn assert_freed_idle_old(w: &World, report: &ferry_core::track::SweepReport) {
    assert_eq!(report.freed.len(), 1, "{report:?}");
    assert!(report.freed[0].ends_with("/idle-old"));
    assert!(
        matches!(
            report.start,
            Some(ferry_core::import::StartResult::Started { .. })
        ),
        "{report:?}"
    );
    let record = w
        .hosting
        .ledger
        .items()
        .into_iter()
        .find(|i| i.state == ImportState::Deleted)
        .unwrap();
    assert!(record.failure.unwrap().contains("no invocations"));
    assert!(w
        .hosting
        .alerts
        .subjects()
        .contains(&"Ferry: deleted idle model idle-old".to_owned()));
}

#[tokio::test]
async fn a_quota_refusal_frees_the_idlest_candidate_and_starts() {
    let w = quota_world().await;
    w.models.0.lock().unwrap().quota = Some(3);
    // Each Ferry model is the only version of its folder: keep none so they can go.
    let mut config = config();
    config.cleanup.keep_newest = 0;
    let report = sweep(&w, &config, NOW).await;
    assert_freed_idle_old(&w, &report);
}

#[tokio::test]
async fn a_configured_quota_frees_a_model_before_the_queue_exceeds_it() {
    let w = quota_world().await;
    let mut config = config();
    config.cleanup.keep_newest = 0;
    config.models_quota = Some(3);
    let report = sweep(&w, &config, NOW).await;
    assert_freed_idle_old(&w, &report);
    assert_eq!(
        w.models.0.lock().unwrap().created.len(),
        1,
        "freed first, one Create"
    );
}

#[tokio::test]
async fn without_quota_pressure_nothing_is_freed() {
    let w = quota_world().await;
    let mut config = config();
    config.cleanup.keep_newest = 0;
    let report = sweep(&w, &config, NOW).await;
    assert!(report.freed.is_empty());
    assert!(w.models.0.lock().unwrap().deleted.is_empty());
}

#[tokio::test]
async fn ferrys_own_job_still_pending_in_the_ledger_is_not_foreign() {
    // The job was created but the ledger still says Pending (the Submitted write has
    // not landed): not a foreign job.
    let w = world();
    item(&w, "a", ImportState::Pending, NOW - 60).await;
    w.models.job("a", JobStatus::InProgress, None);
    let report = sweep(&w, &config(), NOW).await;
    assert!(report.foreign_job.is_none(), "{report:?}");
    assert!(w.hosting.alerts.subjects().is_empty());
}

#[tokio::test]
async fn a_dry_run_plans_the_same_and_deletes_nothing() {
    let w = world();
    w.models.model("idle-1", 60, true);
    w.models.model("idle-2", 30, true);
    let mut rules = config().cleanup;
    rules.keep_newest = 0;
    let dry = run_cleanup(&w.hosting, &w.models, &w.usage, &rules, true, None, NOW)
        .await
        .unwrap();
    assert!(w.models.0.lock().unwrap().deleted.is_empty());
    assert!(dry.deleted.is_empty());
    let real = run_cleanup(&w.hosting, &w.models, &w.usage, &rules, false, None, NOW)
        .await
        .unwrap();
    assert_eq!(dry.plan, real.plan, "same plan");
    assert_eq!(real.deleted.len(), 2);
    assert_eq!(w.models.0.lock().unwrap().deleted.len(), 2);
}

/// A ledger that cannot be reached.
struct DownLedger;

fn ledger_down<T>() -> Result<T, PortError> {
    Err(PortError::new(
        PortErrorKind::Denied,
        "dynamodb:Query",
        "AccessDeniedException: not authorized to perform dynamodb:Query",
    ))
}

impl Ledger for DownLedger {
    async fn get(&self, _fingerprint: &str) -> Result<Option<LedgerItem>, PortError> {
        ledger_down()
    }
    async fn insert_new(&self, _item: &LedgerItem) -> Result<bool, PortError> {
        ledger_down()
    }
    async fn transition(
        &self,
        _fingerprint: &str,
        _from: ImportState,
        _update: &LedgerUpdate,
    ) -> Result<bool, PortError> {
        ledger_down()
    }
    async fn oldest_pending(&self) -> Result<Option<LedgerItem>, PortError> {
        ledger_down()
    }
    async fn items_in_state(&self, _state: ImportState) -> Result<Vec<LedgerItem>, PortError> {
        ledger_down()
    }
}

#[tokio::test]
async fn a_sweep_that_cannot_reach_the_ledger_fails_the_invocation() {
    let bedrock = Bedrock::default();
    let tracker = Tracker {
        hosting: Hosting {
            ledger: DownLedger,
            imports: bedrock.clone(),
            alerts: Sns::default(),
            events: MemoryBus::default(),
            clock: system_clock,
        },
        models: bedrock,
        usage: Metrics::default(),
        content: Current,
        diagnose: Diagnosis,
        runtime: Runtime::default(),
        pointer: MemoryPointer::default(),
    };
    let err = handle(&json!({"action": "sweep"}), &tracker, &config(), NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("the sweep could not do its work"), "{err}");
    assert!(
        err.contains("dynamodb:Query: AccessDeniedException"),
        "{err}"
    );
    assert!(err.contains("ledger"), "says what to check: {err}");
}

#[tokio::test]
async fn a_sweep_that_cannot_reach_bedrock_fails_the_invocation() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    item(&w, "b", ImportState::Submitted, NOW - 200).await;
    item(&w, "c", ImportState::Pending, NOW - 100).await;
    w.models.0.lock().unwrap().down = true;
    let err = handle(&json!({"action": "sweep"}), &w, &config(), NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("the sweep could not do its work"), "{err}");
    assert!(err.contains("3 call(s) failed"), "{err}");
    assert!(err.contains("bedrock:GetModelImportJob"), "{err}");
    assert_eq!(state_of(&w, "a").state, ImportState::Submitted);
    assert_eq!(state_of(&w, "c").state, ImportState::Pending);
}

#[tokio::test]
async fn one_failing_item_among_successes_does_not_fail_the_invocation() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    item(&w, "b", ImportState::Submitted, NOW - 200).await;
    w.models.job("a", JobStatus::Completed, None);
    w.models.job("b", JobStatus::Completed, None);
    w.models.0.lock().unwrap().failing_gets.push("/a".into());
    let out = handle(&json!({"action": "sweep"}), &w, &config(), NOW)
        .await
        .unwrap();
    assert_eq!(out["completed"], json!(["b"]));
    assert_eq!(out["errors"].as_array().map(Vec::len), Some(1), "{out}");
}

#[tokio::test]
async fn a_sweep_with_nothing_to_do_succeeds() {
    let w = world();
    let out = handle(&json!({"action": "sweep"}), &w, &config(), NOW)
        .await
        .unwrap();
    assert_eq!(out["errors"], json!([]));
}

#[tokio::test]
async fn a_sweep_whose_only_item_fails_fails_the_invocation() {
    // The slot check succeeding is not the sweep's work done when the queue is empty:
    // nothing the sweep was there for got done.
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    w.models.job("a", JobStatus::Completed, None);
    w.models.0.lock().unwrap().failing_gets.push("/a".into());
    let err = handle(&json!({"action": "sweep"}), &w, &config(), NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 call(s) failed"), "{err}");
}

#[tokio::test]
async fn a_failed_sweep_still_returns_its_metrics_for_the_main_to_print() {
    let w = world();
    item(&w, "a", ImportState::Submitted, NOW - 300).await;
    w.models.0.lock().unwrap().down = true;
    let outcome = ferry_core::track::handle(
        TrackerEvent::parse(&json!({"action": "sweep"})),
        &w,
        &config(),
        NOW,
    )
    .await;
    assert!(outcome.result.is_err());
    let errors = outcome
        .metrics
        .iter()
        .find(|m| m.name == "SweepErrors")
        .map(|m| m.values.clone());
    assert_eq!(errors, Some(vec![2.0]), "{:?}", outcome.metrics);
}

// --- After the import: smoke test, events, release (issue 16) ---

fn on() -> TrackerConfig {
    config_with(&[])
}

/// A job that completed at Bedrock for Submitted item `name`.
async fn completed_job(w: &World, name: &str) {
    item(w, name, ImportState::Submitted, NOW - 3600).await;
    w.models.model(name, 0, true);
    w.models.job(name, JobStatus::Completed, None);
}

fn states_put(w: &World, fingerprint: &str) -> Vec<(String, String)> {
    w.hosting
        .events
        .events()
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.detail).unwrap())
        .filter(|d| d["fingerprint"] == fingerprint)
        .map(|d| {
            (
                d["state"].as_str().unwrap().to_owned(),
                d["eventId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_model_not_ready_three_times_then_answering_ends_verified_and_released() {
    let w = world();
    completed_job(&w, "a").await;
    w.runtime.0.lock().unwrap().not_ready = 3;
    for minute in 0..3 {
        let report = sweep(&w, &on(), NOW + minute * 60).await;
        assert_eq!(report.warming, ["a"], "{:?}", report.errors);
        assert_eq!(state_of(&w, "a").state, ImportState::Completed);
    }
    let report = sweep(&w, &on(), NOW + 180).await;
    assert_eq!(
        (report.verified.as_slice(), report.released.as_slice()),
        (&["a".to_owned()][..], &["a".to_owned()][..])
    );
    let a = state_of(&w, "a");
    assert_eq!(a.state, ImportState::Released);
    assert_eq!(a.smoke.passed, Some(true));
    assert_eq!(a.smoke.answer.as_deref(), Some("ready"));
    assert_eq!(a.smoke.latency_ms, Some(420));
    assert_eq!(a.smoke.attempts, 3 * 3 + 1, "the SDK's attempts counted");
    assert_eq!(
        a.smoke.first_answer_secs,
        Some(180),
        "from the recorded end of the job"
    );
    assert_eq!(w.runtime.calls(), 4, "one call per sweep");
    let arn = "arn:aws:bedrock:us-east-1:777788889999:imported-model/a";
    assert_eq!(w.pointer.history("a"), [arn]);
    // Every state change went out once, in order, each with its own id.
    let put = states_put(&w, "fp-a");
    let states: Vec<&str> = put.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["Submitted", "Completed", "Verified", "Released"]);
    let ids: std::collections::BTreeSet<&str> = put.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    // Later sweeps neither test nor announce it again.
    sweep(&w, &on(), NOW + 240).await;
    assert_eq!((w.runtime.calls(), states_put(&w, "fp-a").len()), (4, 4));
}

#[tokio::test]
async fn a_model_never_ready_fails_at_the_deadline() {
    let w = world();
    completed_job(&w, "a").await;
    w.runtime.0.lock().unwrap().not_ready = u32::MAX;
    sweep(&w, &on(), NOW).await;
    let report = sweep(&w, &on(), NOW + 15 * 60).await;
    assert_eq!(report.smoke_failed, ["a"]);
    let a = state_of(&w, "a");
    assert_eq!(a.state, ImportState::SmokeFailed);
    assert!(a.failure.unwrap().contains("still not ready 15 minutes"));
}

#[tokio::test]
async fn a_tracker_that_was_down_gives_a_warming_model_its_full_deadline() {
    let w = world();
    completed_job(&w, "a").await;
    sweep(
        &w,
        &config_with(&[("FERRY_SMOKE_TEST", "off"), ("FERRY_RELEASE", "manual")]),
        NOW,
    )
    .await;
    w.runtime.0.lock().unwrap().not_ready = 1;
    // First attempt an hour after the job's end: not ready, yet not failed.
    let report = sweep(&w, &on(), NOW + 3600).await;
    assert_eq!(report.warming, ["a"]);
    let report = sweep(&w, &on(), NOW + 3660).await;
    assert_eq!(report.verified, ["a"]);
    assert_eq!(state_of(&w, "a").smoke.first_answer_secs, Some(3660));
}

#[tokio::test]
async fn a_broken_model_fails_its_smoke_test_is_alerted_and_not_released() {
    let w = world();
    completed_job(&w, "a").await;
    w.runtime.0.lock().unwrap().broken = true;
    let config = config_with(&[("FERRY_PRICE_PER_CMU_MINUTE", "0.0785")]);
    let report = sweep(&w, &config, NOW).await;
    assert_eq!(report.smoke_failed, ["a"]);
    assert!(report.released.is_empty());
    let a = state_of(&w, "a");
    assert_eq!(a.state, ImportState::SmokeFailed);
    assert_eq!(a.smoke.passed, Some(false));
    assert!(w.pointer.history("a").is_empty(), "not released");
    let alerts = w.hosting.alerts.0.lock().unwrap().0.clone();
    let alert = alerts
        .iter()
        .find(|a| a.subject.contains("smoke test"))
        .expect("alerted");
    assert_eq!(
        alert.subject,
        "Ferry: a imported but failed its smoke test; not released"
    );
    for part in [
        "Sent (InvokeModel body):",
        "\"prompt\"",
        "Came back:",
        "ModelError",
        "What to do:",
        "$0.392",
    ] {
        assert!(alert.body.contains(part), "{part}: {}", alert.body);
    }
    // Alerted once, tested once.
    sweep(&w, &config, NOW + 60).await;
    assert_eq!(w.runtime.calls(), 1);
    assert_eq!(
        w.hosting
            .alerts
            .0
            .lock()
            .unwrap()
            .0
            .iter()
            .filter(|a| a.subject.contains("smoke"))
            .count(),
        1
    );
    let states: Vec<String> = states_put(&w, "fp-a").into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, ["Submitted", "Completed", "SmokeFailed"]);
}

#[tokio::test]
async fn with_release_manual_a_verified_version_waits_for_ferry_release() {
    let w = world();
    completed_job(&w, "a").await;
    sweep(&w, &config_with(&[("FERRY_RELEASE", "manual")]), NOW).await;
    assert_eq!(state_of(&w, "a").state, ImportState::Verified);
    assert!(w.pointer.history("a").is_empty());
}

#[tokio::test]
async fn a_crash_between_the_ledger_write_and_the_put_loses_no_event_and_duplicates_none() {
    let w = world();
    completed_job(&w, "a").await;
    // The bus is unreachable when the sweep records the completion: the write lands,
    // the put does not (as if the function died between the two).
    w.hosting.events.fail_with(Some(PortError::new(
        PortErrorKind::Retryable,
        "events:PutEvents",
        "connection reset",
    )));
    let report = sweep(&w, &config(), NOW).await;
    assert_eq!(state_of(&w, "a").state, ImportState::Completed);
    assert!(
        report.errors.iter().any(|e| e.contains("events:PutEvents")),
        "{:?}",
        report.errors
    );
    assert!(w.hosting.events.events().is_empty());
    // A crash for real: a state change written straight to the ledger, never put.
    let mut crashed = LedgerItem::new(
        "fp-b",
        ImportState::Pending,
        "s3://research/b/",
        "b",
        "b",
        NOW,
    );
    crashed.events_sent = 0;
    w.hosting.ledger.insert_new(&crashed).await.unwrap();

    w.hosting.events.fail_with(None);
    let report = sweep(&w, &config(), NOW + 60).await;
    assert_eq!(report.events_put, 2, "a's two, owed: {report:?}");
    let states: Vec<String> = states_put(&w, "fp-a").into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, ["Submitted", "Completed"]);
    // b's Pending went out with its Submitted, when the sweep started it.
    let states: Vec<String> = states_put(&w, "fp-b").into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, ["Pending", "Submitted"]);
    // Nothing goes twice.
    let before = w.hosting.events.events().len();
    sweep(&w, &config(), NOW + 120).await;
    assert_eq!(w.hosting.events.events().len(), before);
}

#[tokio::test]
async fn two_handlers_never_put_the_same_events() {
    let w = world();
    completed_job(&w, "a").await;
    sweep(&w, &config(), NOW).await;
    let item = state_of(&w, "a");
    // A second handler that read the item before the first recorded its put.
    let stale = LedgerItem {
        events_sent: 0,
        ..item
    };
    assert_eq!(stale.history.len(), 2);
    let claim = LedgerUpdate {
        now: NOW,
        set_events_lease: Some(NOW + 60),
        expect_events_free: Some((NOW, stale.events_sent)),
        ..Default::default()
    };
    let won = w
        .hosting
        .ledger
        .transition(&stale.fingerprint, stale.state, &claim)
        .await
        .unwrap();
    assert!(
        !won,
        "the count moved on: its claim fails, so it puts nothing"
    );
}

/// A version of `model` already imported and Verified.
async fn version(w: &World, model: &str, name: &str, created_at: u64) -> String {
    let fingerprint = format!("fp-{name}");
    let item = LedgerItem {
        model_arn: Some(format!(
            "arn:aws:bedrock:us-east-1:777788889999:imported-model/{name}"
        )),
        ..LedgerItem::new(
            &fingerprint,
            ImportState::Verified,
            format!("s3://research/{model}/"),
            model,
            name,
            created_at,
        )
    };
    assert!(w.hosting.ledger.insert_new(&item).await.unwrap());
    fingerprint
}

#[tokio::test]
async fn release_then_rollback_flips_the_pointer_and_keeps_the_history() {
    use ferry_core::release::{release, rollback, ReleaseError};
    let w = world();
    version(&w, "chat", "chat-v1", NOW - 100).await;
    version(&w, "chat", "chat-v2", NOW - 50).await;
    let err = rollback(&w.hosting, &*w.pointer, "chat", "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no live version"), "{err}");
    release(
        &w.hosting,
        &*w.pointer,
        "chat",
        "chat-v1",
        "by alice: first",
        false,
    )
    .await
    .unwrap();
    let err = rollback(&w.hosting, &*w.pointer, "chat", "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("first release"), "{err}");
    let out = release(
        &w.hosting,
        &*w.pointer,
        "chat",
        "fp-chat-v9",
        "by alice",
        false,
    )
    .await;
    assert!(
        matches!(out, Err(ReleaseError::UnknownVersion { .. })),
        "{out:?}"
    );
    let out = release(
        &w.hosting,
        &*w.pointer,
        "chat",
        "fp-chat-v",
        "by alice",
        false,
    )
    .await;
    assert!(
        matches!(out, Err(ReleaseError::Ambiguous { count: 2, .. })),
        "{out:?}"
    );
    let out = release(
        &w.hosting,
        &*w.pointer,
        "chat",
        "fp-chat-v2",
        "by alice: new",
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (out.live.as_str(), out.previous.as_deref()),
        ("chat-v2", Some("chat-v1"))
    );
    assert_eq!(state_of(&w, "chat-v1").state, ImportState::Retired);

    let out = rollback(&w.hosting, &*w.pointer, "chat", "by bob: bad answers")
        .await
        .unwrap();
    assert_eq!(out.live, "chat-v1");
    let arn = |n: &str| format!("arn:aws:bedrock:us-east-1:777788889999:imported-model/{n}");
    assert_eq!(
        w.pointer.history("chat"),
        [arn("chat-v1"), arn("chat-v2"), arn("chat-v1")]
    );
    let (v1, v2) = (state_of(&w, "chat-v1"), state_of(&w, "chat-v2"));
    assert_eq!(
        (v1.state, v2.state),
        (ImportState::Released, ImportState::Retired)
    );
    let last = v1.history.last().unwrap();
    assert_eq!(
        last.note.as_deref(),
        Some("rollback from chat-v2: by bob: bad answers")
    );
    // Released again: the same version is live, nothing changes.
    let again = release(&w.hosting, &*w.pointer, "chat", "chat-v1", "again", false)
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(w.pointer.history("chat").len(), 3);
}

#[tokio::test]
async fn an_unverified_version_needs_force_and_a_missing_one_is_named() {
    use ferry_core::release::release;
    let w = world();
    version(&w, "chat", "chat-v1", NOW - 100).await;
    let fp = "fp-chat-v1";
    let failed = LedgerUpdate {
        state: Some(ImportState::SmokeFailed),
        now: NOW,
        ..Default::default()
    };
    w.hosting
        .ledger
        .transition(fp, ImportState::Verified, &failed)
        .await
        .unwrap();
    let err = release(&w.hosting, &*w.pointer, "chat", "chat-v1", "x", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    release(&w.hosting, &*w.pointer, "chat", "chat-v1", "x", true)
        .await
        .unwrap();
    let err = release(&w.hosting, &*w.pointer, "nope", "v", "x", false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no imported version of model \"nope\""),
        "{err}"
    );
}

/// A Verified version's release that wrote the ledger (released at `at`, replacing
/// `replaced`) and died before the parameter and the retirements.
async fn released_by_a_crash(w: &World, fingerprint: &str, at: u64, replaced: Option<&str>) {
    let released = LedgerUpdate {
        state: Some(ImportState::Released),
        now: at,
        set_released_at: Some(at),
        set_replaced: replaced.map(str::to_owned),
        ..Default::default()
    };
    w.hosting
        .ledger
        .transition(fingerprint, ImportState::Verified, &released)
        .await
        .unwrap();
}

#[tokio::test]
async fn two_released_versions_left_by_a_crash_are_repaired_by_the_sweep() {
    let w = world();
    for (name, at) in [("chat-v1", NOW - 100), ("chat-v2", NOW - 50)] {
        let fp = version(&w, "chat", name, at).await;
        released_by_a_crash(&w, &fp, at, None).await;
    }
    sweep(&w, &config(), NOW).await;
    assert_eq!(state_of(&w, "chat-v2").state, ImportState::Released);
    assert_eq!(state_of(&w, "chat-v1").state, ImportState::Retired);
    assert_eq!(
        w.pointer.history("chat"),
        ["arn:aws:bedrock:us-east-1:777788889999:imported-model/chat-v2"]
    );
}

#[tokio::test]
async fn cleanup_never_deletes_the_live_or_the_previous_release() {
    use ferry_core::release::release;
    let w = world();
    for (name, age) in [("chat-v1", 90), ("chat-v2", 60), ("chat-v3", 30)] {
        version(&w, "chat", name, NOW - age * DAY).await;
        w.models.model(name, age, true);
    }
    release(&w.hosting, &*w.pointer, "chat", "chat-v1", "x", false)
        .await
        .unwrap();
    release(&w.hosting, &*w.pointer, "chat", "chat-v2", "x", false)
        .await
        .unwrap();
    let mut rules = config().cleanup;
    rules.keep_newest = 0;
    let report = run_cleanup(&w.hosting, &w.models, &w.usage, &rules, false, None, NOW)
        .await
        .unwrap();
    let deleted: Vec<&str> = report
        .deleted
        .iter()
        .map(|a| a.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(deleted, ["chat-v3"], "{:#?}", report.plan);
    assert_eq!(state_of(&w, "chat-v3").state, ImportState::Deleted);
}

#[tokio::test]
async fn a_first_release_whose_parameter_write_was_lost_is_repaired_by_the_sweep() {
    let w = world();
    let fp = version(&w, "chat", "chat-v1", NOW - 100).await;
    // The ledger says Released; the process died before the parameter was written.
    released_by_a_crash(&w, &fp, NOW, None).await;
    assert!(w.pointer.history("chat").is_empty());
    sweep(&w, &config(), NOW + 60).await;
    assert_eq!(
        w.pointer.history("chat"),
        ["arn:aws:bedrock:us-east-1:777788889999:imported-model/chat-v1"]
    );
    // In agreement now: no more writes.
    sweep(&w, &config(), NOW + 120).await;
    assert_eq!(w.pointer.history("chat").len(), 1);
}

#[tokio::test]
async fn rolling_back_while_two_versions_are_released_goes_back_not_forward() {
    use ferry_core::release::rollback;
    let w = world();
    let v1 = version(&w, "chat", "chat-v1", NOW - 100).await;
    let v2 = version(&w, "chat", "chat-v2", NOW - 50).await;
    ferry_core::release::release(&w.hosting, &*w.pointer, "chat", "chat-v1", "x", false)
        .await
        .unwrap();
    // v2's release crashed after its ledger write: two Released, the pointer on v1.
    released_by_a_crash(&w, &v2, NOW + 10, Some(&v1)).await;
    let out = rollback(&w.hosting, &*w.pointer, "chat", "back")
        .await
        .unwrap();
    assert_eq!(out.live, "chat-v1");
    assert!(out.changed);
    let arn = |n: &str| format!("arn:aws:bedrock:us-east-1:777788889999:imported-model/{n}");
    assert_eq!(w.pointer.history("chat").last(), Some(&arn("chat-v1")));
    assert_eq!(state_of(&w, "chat-v2").state, ImportState::Retired);
}

#[tokio::test]
async fn the_auto_rule_never_puts_an_older_version_over_a_newer_live_one() {
    let w = world();
    version(&w, "a", "a-new", NOW - 50).await;
    ferry_core::release::release(&w.hosting, &*w.pointer, "a", "a-new", "x", false)
        .await
        .unwrap();
    // An older version of the same folder completes only now (a slow import).
    let old = LedgerItem {
        submitted_at: Some(NOW - 3600),
        job_arn: Some("arn:aws:bedrock:us-east-1:777788889999:model-import-job/a".into()),
        ..LedgerItem::new(
            "fp-a",
            ImportState::Submitted,
            "s3://research/a/",
            "a",
            "a",
            NOW - 3600,
        )
    };
    w.hosting.ledger.insert_new(&old).await.unwrap();
    w.models.model("a", 0, true);
    w.models.job("a", JobStatus::Completed, None);
    let report = sweep(&w, &on(), NOW).await;
    assert_eq!(report.verified, ["a"]);
    assert!(report.released.is_empty(), "{report:?}");
    assert_eq!(state_of(&w, "a-new").state, ImportState::Released);
    assert_eq!(state_of(&w, "a").state, ImportState::Verified);
}

#[tokio::test]
async fn a_verified_version_whose_release_failed_is_released_by_a_later_sweep() {
    let w = world();
    completed_job(&w, "a").await;
    // The first sweep verifies it with release manual (as if the release had failed).
    sweep(&w, &config_with(&[("FERRY_RELEASE", "manual")]), NOW).await;
    assert_eq!(state_of(&w, "a").state, ImportState::Verified);
    let report = sweep(&w, &on(), NOW + 60).await;
    assert_eq!(report.released, ["a"]);
    assert_eq!(state_of(&w, "a").state, ImportState::Released);
}
