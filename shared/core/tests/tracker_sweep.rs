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
use ferry_core::track::{
    run_cleanup, sweep, Diagnose, ModelInfo, ModelRegistry, TrackError, Tracker, TrackerConfig,
    TrackerEvent, TrackerPorts, Usage,
};
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

type World = Tracker<Arc<MemoryLedger>, Bedrock, Sns, Bedrock, Metrics, Current, Diagnosis>;

fn world() -> World {
    let bedrock = Bedrock::default();
    Tracker {
        hosting: Hosting {
            ledger: Arc::new(MemoryLedger::default()),
            imports: bedrock.clone(),
            alerts: Sns::default(),
            clock: system_clock,
        },
        models: bedrock,
        usage: Metrics::default(),
        content: Current,
        diagnose: Diagnosis,
    }
}

fn config() -> TrackerConfig {
    TrackerConfig::from_env(|k| {
        match k {
            "FERRY_LEDGER_TABLE" => Some("ferry-ledger"),
            "FERRY_ALERT_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:777788889999:ferry-alerts"),
            "FERRY_EXECUTION_ROLE_ARN" => Some("arn:aws:iam::777788889999:role/Exec"),
            _ => None,
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
            clock: system_clock,
        },
        models: bedrock,
        usage: Metrics::default(),
        content: Current,
        diagnose: Diagnosis,
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
