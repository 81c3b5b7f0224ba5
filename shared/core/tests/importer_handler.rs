//! The importer's logic with in-memory ports: bursts, duplicates, order, the one-job
//! slot, quota, name conflicts, throttling, rejections and alerts.

use ferry_core::outbox::MemoryBus;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use ferry_core::access::{LiveTarget, Scenario};
use ferry_core::import::{
    retry_failed, Alert, Alerts, Connect, ContentCheck, CreateOutcome, Hosting, ImportError,
    ImportRequest, ImportService, ImportState, ImporterConfig, ImporterEvent, JobInfo, JobStatus,
    LedgerItem, MemoryLedger, PortError, PortErrorKind, StageConfig,
};
use ferry_core::{FileEntry, FolderSource, S3Uri, SourceError, SourceErrorKind};
use ferry_testkit::families::family;
use ferry_testkit::fixtures::write_model;
use serde_json::{json, Value};

/// The hosting ports' clock: the system's, as the function has.
fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The importer's handler on a JSON payload, its answer as JSON (what Lambda returns).
async fn handle<C: Connect>(
    event: &Value,
    connect: &C,
    config: &ImporterConfig,
) -> Result<Value, ImportError> {
    let outcome = ferry_core::import::handle(ImporterEvent::parse(event), connect, config).await?;
    Ok(serde_json::to_value(outcome.answer).expect("an answer serializes"))
}

/// A bucket in memory: key → (bytes, etag).
#[derive(Clone, Default)]
struct Bucket(Arc<Mutex<Objects>>);

type Objects = BTreeMap<String, (Vec<u8>, String)>;

impl Bucket {
    fn put(&self, key: &str, bytes: Vec<u8>) {
        let etag = format!(
            "{:x}",
            bytes
                .iter()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
        );
        self.0.lock().unwrap().insert(key.to_owned(), (bytes, etag));
    }
}

struct MemFolder {
    bucket: Bucket,
    uri: S3Uri,
}

impl FolderSource for MemFolder {
    fn describe(&self) -> String {
        self.uri.to_string()
    }
    fn s3_uri(&self) -> Option<&S3Uri> {
        Some(&self.uri)
    }
    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        let objects = self.bucket.0.lock().unwrap();
        Ok(objects
            .iter()
            .filter_map(|(k, (b, etag))| {
                k.strip_prefix(&self.uri.prefix).map(|p| FileEntry {
                    path: p.to_owned(),
                    size: b.len() as u64,
                    version: Some(etag.clone()),
                    modified: Some(1_795_000_000),
                })
            })
            .collect())
    }
    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        let objects = self.bucket.0.lock().unwrap();
        let (bytes, _) = objects
            .get(&format!("{}{path}", self.uri.prefix))
            .ok_or_else(|| SourceError::new(SourceErrorKind::NotFound, path, "gone"))?;
        Ok(bytes[range.start as usize..range.end as usize].to_vec())
    }
}

/// Bedrock's import API as a scripted fake.
#[derive(Clone, Default)]
struct FakeBedrock(Arc<Mutex<BedrockState>>);

#[derive(Default)]
struct BedrockState {
    running: Option<JobInfo>,
    created: Vec<ImportRequest>,
    /// Scripted answers to CreateModelImportJob, used before the default (start).
    script: Vec<Result<CreateOutcome, PortError>>,
    jobs: BTreeMap<String, JobInfo>,
}

impl FakeBedrock {
    fn creates(&self) -> Vec<ImportRequest> {
        self.0.lock().unwrap().created.clone()
    }
    fn finish_running(&self) {
        self.0.lock().unwrap().running = None;
    }
    fn script(&self, answer: Result<CreateOutcome, PortError>) {
        self.0.lock().unwrap().script.push(answer);
    }
}

impl ImportService for FakeBedrock {
    async fn running_job(&self) -> Result<Option<JobInfo>, PortError> {
        Ok(self.0.lock().unwrap().running.clone())
    }
    async fn create_job(&self, request: &ImportRequest) -> Result<CreateOutcome, PortError> {
        let mut state = self.0.lock().unwrap();
        state.created.push(request.clone());
        if !state.script.is_empty() {
            return state.script.remove(0);
        }
        if state.running.is_some() {
            return Ok(CreateOutcome::SlotBusy("one job at a time".into()));
        }
        let job = JobInfo {
            job_arn: format!(
                "arn:aws:bedrock:us-east-1:777788889999:model-import-job/{:012}",
                state.created.len()
            ),
            job_name: request.job_name.clone(),
            status: JobStatus::InProgress,
            imported_model_arn: None,
            failure_message: None,
            end_time: None,
        };
        state.running = Some(job.clone());
        state.jobs.insert(job.job_name.clone(), job.clone());
        Ok(CreateOutcome::Started {
            job_arn: job.job_arn,
        })
    }
    async fn get_job(&self, name_or_arn: &str) -> Result<Option<JobInfo>, PortError> {
        Ok(self.0.lock().unwrap().jobs.get(name_or_arn).cloned())
    }
}

#[derive(Clone, Default)]
struct FakeSns(Arc<Mutex<(Vec<Alert>, usize)>>);

impl FakeSns {
    fn alerts(&self) -> Vec<Alert> {
        self.0.lock().unwrap().0.clone()
    }
    fn fail_next(&self, times: usize) {
        self.0.lock().unwrap().1 = times;
    }
}

impl Alerts for FakeSns {
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

#[derive(Clone, Default)]
struct World {
    bucket: Bucket,
    ledger: Arc<MemoryLedger>,
    bedrock: FakeBedrock,
    sns: FakeSns,
    bus: Arc<MemoryBus>,
    access: Arc<Mutex<AccessWorld>>,
}

/// The cross-account chain as the importer would read it: the seed's policies, with
/// the bucket policy's grant present or missing, or the bucket policy unreadable.
#[derive(Default)]
struct AccessWorld {
    bucket_grant_missing: bool,
    /// The bucket denies requests from outside a VPC (aws:SourceVpc).
    vpc_only_bucket: bool,
    bucket_policy_unreadable: bool,
    reads: usize,
}

fn chain_scenario(target: &LiveTarget, access: &AccessWorld) -> Scenario {
    let role = &target.execution_role;
    let bucket = &target.source.bucket;
    let grant = json!({"Effect": "Allow", "Principal": {"AWS": role},
        "Action": ["s3:ListBucket", "s3:GetObject"],
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]});
    let statements = if access.bucket_grant_missing {
        vec![]
    } else {
        vec![grant]
    };
    let doc = json!({
        "region": target.region,
        "source_uri": target.source.to_string(),
        "research_account": "111122223333",
        "hosting_account": role.split(':').nth(4).unwrap_or_default(),
        "bucket_policy": {"Version": "2012-10-17", "Statement": statements},
        "objects": [],
        "execution_role": {
            "arn": role,
            "trust_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "inline_policies": {"read": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}]}}
        },
        "caller": {
            "arn": target.caller_role,
            "inline_policies": {"ferry": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["iam:PassRole", "bedrock:CreateModelImportJob"], "Resource": "*"}]}}
        }
    });
    let mut scenario = Scenario::parse(&doc).unwrap();
    if access.bucket_policy_unreadable {
        scenario.bucket_policy = Some(ferry_core::iam::Policy::unknown_resource());
        scenario.unreadable.push(ferry_core::access::Unreadable {
            part: ferry_core::access::Part::BucketPolicy,
            message: format!(
                "could not read the bucket policy of {bucket}: AccessDenied (s3:GetBucketPolicy)"
            ),
        });
    }
    scenario
}

impl Connect for World {
    type Folder = MemFolder;
    type Ledger = Arc<MemoryLedger>;
    type Imports = FakeBedrock;
    type Alerts = FakeSns;
    type Events = Arc<MemoryBus>;
    fn folder(&self, uri: &S3Uri) -> MemFolder {
        MemFolder {
            bucket: self.bucket.clone(),
            uri: uri.clone(),
        }
    }
    async fn hosting(
        &self,
        _stage: &StageConfig,
        _session: &str,
    ) -> Result<Hosting<Arc<MemoryLedger>, FakeBedrock, FakeSns, Arc<MemoryBus>>, PortError> {
        Ok(Hosting {
            ledger: self.ledger.clone(),
            imports: self.bedrock.clone(),
            alerts: self.sns.clone(),
            events: self.bus.clone(),
            clock: system_clock,
        })
    }
    async fn read_access(
        &self,
        _stage: &StageConfig,
        target: &LiveTarget,
        _session: &str,
    ) -> Result<Scenario, PortError> {
        let mut access = self.access.lock().unwrap();
        access.reads += 1;
        Ok(chain_scenario(target, &access))
    }
}

/// The tracker's content check: the folder, listed again, still has the fingerprint.
struct Current(World);

impl ContentCheck for Current {
    async fn still_current(&self, item: &LedgerItem) -> Result<bool, PortError> {
        let uri = S3Uri::parse(&item.source_uri).unwrap();
        let entries = self.0.folder(&uri).list().await.unwrap();
        Ok(
            ferry_core::import::fingerprint::identify(&uri, &entries).fingerprint
                == item.fingerprint,
        )
    }
}

fn config(marker: Option<&str>) -> ImporterConfig {
    let mut env: BTreeMap<&str, &str> = BTreeMap::from([
        ("FERRY_WATCH_PREFIXES", "s3://research/fine-tunes/"),
        ("AWS_REGION", "us-east-1"),
        (
            "FERRY_HOSTING_ROLE_ARN",
            "arn:aws:iam::777788889999:role/FerryAutomation",
        ),
        ("FERRY_EXTERNAL_ID", "ext"),
        (
            "FERRY_EXECUTION_ROLE_ARN",
            "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole",
        ),
        ("FERRY_LEDGER_TABLE", "ferry-ledger"),
        (
            "FERRY_ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
        ),
    ]);
    if let Some(marker) = marker {
        env.insert("FERRY_READY_MARKER", marker);
    }
    ImporterConfig::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap()
}

/// A fixture model's files as (key, bytes), under `fine-tunes/{name}/`.
fn model_files(name: &str, fam: &str, shards: usize) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family(fam), shards).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                format!("fine-tunes/{name}/{}", e.file_name().to_string_lossy()),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn s3_event(key: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "research"}, "object": {"key": key.replace(' ', "+"), "size": 1, "eTag": "e"}}}]})
}

/// A small deterministic shuffle (no RNG crate needed for tests).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

#[tokio::test]
async fn a_burst_of_40_shuffled_duplicated_events_gives_exactly_one_job() {
    let world = World::default();
    let config = config(None);
    let mut files = model_files("llama_ft", "llama-3.1", 4);
    shuffle(&mut files, 7);
    // Upload in random order; after each upload deliver its event, sometimes twice, and
    // re-deliver earlier events at random: 40 events in all.
    let mut events: Vec<String> = Vec::new();
    let mut decisions = Vec::new();
    for (i, (key, bytes)) in files.iter().enumerate() {
        world.bucket.put(key, bytes.clone());
        events.push(key.clone());
        let mut batch = vec![key.clone()];
        for j in 0..3 {
            batch.push(events[(i * 7 + j * 3) % events.len()].clone());
        }
        for key in batch {
            let out = handle(&s3_event(&key), &world, &config).await.unwrap();
            decisions.extend(out["decisions"].as_array().cloned().unwrap_or_default());
        }
    }
    while decisions.len() < 40 {
        let key = &files[decisions.len() % files.len()].0;
        let out = handle(&s3_event(key), &world, &config).await.unwrap();
        decisions.extend(out["decisions"].as_array().cloned().unwrap_or_default());
    }
    assert!(decisions.len() >= 40);
    assert_eq!(
        world.bedrock.creates().len(),
        1,
        "exactly one CreateModelImportJob"
    );
    let started: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["decision"] == "started")
        .collect();
    assert_eq!(started.len(), 1);
    assert!(decisions.iter().any(|d| d["decision"] == "not_ready"));
    let items = world.ledger.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].state, ImportState::Submitted);
    // Its two state changes went on the bus once each, after the job's start.
    let states: Vec<String> = world
        .bus
        .events()
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.detail).unwrap()["state"].to_string())
        .collect();
    assert_eq!(states, ["\"Pending\"", "\"Submitted\""]);
    assert_eq!(items[0].events_sent, 2);
    assert_eq!(items[0].source_uri, "s3://research/fine-tunes/llama_ft/");
    let request = &world.bedrock.creates()[0];
    assert_eq!(request.s3_uri, "s3://research/fine-tunes/llama_ft/");
    assert_eq!(request.client_request_token, items[0].fingerprint);
    assert!(
        request.job_name.starts_with("llama-ft-20261118-"),
        "{}",
        request.job_name
    );
    assert!(request
        .tags
        .iter()
        .any(|(k, v)| k == "ferry:fingerprint" && v == &items[0].fingerprint));
    assert!(world.sns.alerts().is_empty());
}

#[tokio::test]
async fn concurrent_handlers_on_one_folder_start_one_job() {
    let world = World::default();
    let config = config(None);
    let files = model_files("qwen", "qwen3", 3);
    for (key, bytes) in &files {
        world.bucket.put(key, bytes.clone());
    }
    let runs = (0..40).map(|i| {
        let (world, config, key) = (
            world.clone(),
            config.clone(),
            files[i % files.len()].0.clone(),
        );
        tokio::spawn(async move { handle(&s3_event(&key), &world, &config).await.unwrap() })
    });
    for run in runs.collect::<Vec<_>>() {
        run.await.unwrap();
    }
    assert_eq!(world.bedrock.creates().len(), 1);
    assert_eq!(world.ledger.items().len(), 1);
}

#[tokio::test]
async fn a_second_model_waits_for_the_slot_and_starts_when_it_frees() {
    let world = World::default();
    let config = config(None);
    for (name, fam) in [("first", "mistral"), ("second", "qwen2.5")] {
        for (key, bytes) in model_files(name, fam, 1) {
            world.bucket.put(&key, bytes);
        }
        handle(
            &s3_event(&format!("fine-tunes/{name}/config.json")),
            &world,
            &config,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        world.bedrock.creates().len(),
        1,
        "the second waits without calling Create"
    );
    let states: Vec<(String, ImportState)> = world
        .ledger
        .items()
        .iter()
        .map(|i| (i.slug.clone(), i.state))
        .collect();
    assert!(
        states.contains(&("second".into(), ImportState::Pending)),
        "{states:?}"
    );

    // The tracker's path (same code): the first job ends, the queue moves.
    world.bedrock.finish_running();
    let hosting = world.hosting(&config.stages[0], "tracker").await.unwrap();
    let result =
        ferry_core::import::start_next(&hosting, &config.stages[0].start, &Current(world.clone()))
            .await
            .unwrap();
    assert!(
        matches!(result, ferry_core::import::StartResult::Started { .. }),
        "{result:?}"
    );
    assert_eq!(
        world.bedrock.creates()[1].job_name.split('-').next(),
        Some("second")
    );
}

#[tokio::test]
async fn quota_exceeded_keeps_the_item_pending_and_counts_the_attempt() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    world.bedrock.script(Ok(CreateOutcome::SlotBusy(
        "ServiceQuotaExceededException: one job".into(),
    )));
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "queued");
    let item = &world.ledger.items()[0];
    assert_eq!((item.state, item.attempts), (ImportState::Pending, 1));

    // A later duplicate event finds the slot free and starts it.
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started");
    assert_eq!(world.ledger.items()[0].attempts, 2);
}

#[tokio::test]
async fn a_name_conflict_records_the_existing_job() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    // Our own earlier create went through but its answer was lost.
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    let job_arn = out["decisions"][0]["job_arn"].as_str().unwrap().to_owned();
    let item = world.ledger.items()[0].clone();
    let ledger = Arc::new(MemoryLedger::default());
    let mut pending = item.clone();
    pending.state = ImportState::Pending;
    pending.job_arn = None;
    use ferry_core::import::Ledger;
    ledger.insert_new(&pending).await.unwrap();
    let world = World { ledger, ..world };
    world.bedrock.finish_running();
    world.bedrock.script(Ok(CreateOutcome::NameConflict(
        "ConflictException: name in use".into(),
    )));
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
    assert_eq!(
        world.ledger.items()[0].job_arn.as_deref(),
        Some(job_arn.as_str())
    );
}

#[tokio::test]
async fn throttling_fails_the_invocation_and_the_retry_succeeds() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    world.bedrock.script(Err(PortError::new(
        PortErrorKind::Retryable,
        "bedrock:CreateModelImportJob",
        "ThrottlingException",
    )));
    let err = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(
        world.ledger.items()[0].state,
        ImportState::Pending,
        "nothing is lost"
    );
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started");
    assert_eq!(world.bedrock.creates().len(), 2);
    assert_eq!(
        world.bedrock.creates()[0],
        world.bedrock.creates()[1],
        "the retry sends the same request"
    );
}

#[tokio::test]
async fn a_refused_request_fails_the_item_and_alerts_once() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    world.bedrock.script(Err(PortError::new(
        PortErrorKind::Denied,
        "bedrock:CreateModelImportJob",
        "AccessDeniedException: not authorized to perform iam:PassRole",
    )));
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "failed");
    handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    let alerts = world.sns.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].subject, "Ferry: import of m failed");
    assert!(alerts[0].body.contains("iam:PassRole"));
}

#[tokio::test]
async fn a_rejected_folder_alerts_once_and_starts_nothing() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("gpt2", "gpt2", 1) {
        world.bucket.put(&key, bytes);
    }
    world.sns.fail_next(1);
    let err = handle(&s3_event("fine-tunes/gpt2/config.json"), &world, &config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sns:Publish"), "{err}");
    for _ in 0..3 {
        let out = handle(
            &s3_event("fine-tunes/gpt2/model.safetensors"),
            &world,
            &config,
        )
        .await
        .unwrap();
        assert_eq!(out["decisions"][0]["decision"], "duplicate");
    }
    assert!(world.bedrock.creates().is_empty());
    let alerts = world.sns.alerts();
    assert_eq!(
        alerts.len(),
        1,
        "the alert that failed is sent on retry, once"
    );
    assert!(
        alerts[0]
            .subject
            .starts_with("Ferry: gpt2 rejected, 1 error(s)"),
        "{}",
        alerts[0].subject
    );
    assert!(alerts[0].body.contains("unsupported-architecture"));
    assert_eq!(world.ledger.items()[0].state, ImportState::Rejected);
}

#[tokio::test]
async fn a_ready_marker_holds_the_folder_until_it_arrives() {
    let world = World::default();
    let config = config(Some("_READY"));
    for (key, bytes) in model_files("m", "mistral", 2) {
        world.bucket.put(&key, bytes);
    }
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "not_ready");
    world.bucket.put("fine-tunes/m/_READY", Vec::new());
    let out = handle(&s3_event("fine-tunes/m/_READY"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started");
}

#[tokio::test]
async fn malformed_foreign_and_unwatched_events() {
    let world = World::default();
    let config = config(None);
    let err = handle(&json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}}]}), &world, &config)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed event: Records[0].s3.object: is missing"
    );
    let out = handle(
        &json!({"source": "aws.ec2", "detail-type": "x"}),
        &world,
        &config,
    )
    .await
    .unwrap();
    assert!(out["ignored"].is_string());
    let out = handle(&s3_event("elsewhere/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"], json!([]));
    assert!(world.ledger.items().is_empty());
}

#[tokio::test]
async fn an_sqs_batch_returns_only_the_failed_messages() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    let good = s3_event("fine-tunes/m/config.json").to_string();
    let batch = json!({"Records": [
        {"messageId": "ok-1", "body": good, "eventSource": "aws:sqs"},
        {"messageId": "bad", "body": "{not json", "eventSource": "aws:sqs"},
        {"messageId": "ok-2", "body": good, "eventSource": "aws:sqs"},
        {"messageId": "test", "body": "{\"Event\":\"s3:TestEvent\"}", "eventSource": "aws:sqs"},
    ]});
    let out = handle(&batch, &world, &config).await.unwrap();
    assert_eq!(out["batchItemFailures"], json!([{"itemIdentifier": "bad"}]));
    assert_eq!(world.bedrock.creates().len(), 1);
}

#[tokio::test]
async fn late_small_files_do_not_start_a_second_import() {
    let world = World::default();
    let config = config(None);
    let files = model_files("m", "qwen3", 2);
    for (key, bytes) in files.iter().filter(|(k, _)| {
        !k.ends_with("tokenizer_config.json") && !k.ends_with("generation_config.json")
    }) {
        world.bucket.put(key, bytes.clone());
        handle(&s3_event(key), &world, &config).await.unwrap();
    }
    assert_eq!(world.bedrock.creates().len(), 1);
    world.bedrock.finish_running();
    for (key, bytes) in files.iter().filter(|(k, _)| {
        k.ends_with("tokenizer_config.json") || k.ends_with("generation_config.json")
    }) {
        world.bucket.put(key, bytes.clone());
        let out = handle(&s3_event(key), &world, &config).await.unwrap();
        assert_eq!(out["decisions"][0]["decision"], "duplicate", "{out}");
    }
    assert_eq!(world.bedrock.creates().len(), 1);
}

#[tokio::test]
async fn a_folder_changed_while_queued_is_not_imported_under_the_old_name() {
    let world = World::default();
    let config = config(None);
    // Another job holds the slot, so "m" waits in the queue.
    for (key, bytes) in model_files("first", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    handle(&s3_event("fine-tunes/first/config.json"), &world, &config)
        .await
        .unwrap();
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    let queued = world
        .ledger
        .items()
        .into_iter()
        .find(|i| i.slug == "m")
        .unwrap();
    assert_eq!(queued.state, ImportState::Pending);
    // The weights are replaced before the slot frees.
    let mut changed = model_files("m", "qwen2.5", 1);
    changed.retain(|(k, _)| k.ends_with("model.safetensors") || k.ends_with("config.json"));
    for (key, bytes) in &changed {
        world.bucket.put(key, bytes.clone());
    }
    world.bedrock.finish_running();
    let hosting = world.hosting(&config.stages[0], "tracker").await.unwrap();
    let result =
        ferry_core::import::start_next(&hosting, &config.stages[0].start, &Current(world.clone()))
            .await
            .unwrap();
    assert!(
        matches!(&result, ferry_core::import::StartResult::Failed { message, .. } if message.contains("changed after it was validated")),
        "{result:?}"
    );
    assert_eq!(
        world.bedrock.creates().len(),
        1,
        "only the first model's job"
    );
    assert!(world.sns.alerts().is_empty(), "nothing for a person to do");
    // The new content's own event imports it.
    let out = handle(&s3_event("fine-tunes/m/model.safetensors"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
}

#[tokio::test]
async fn a_full_model_quota_alerts_once_and_keeps_the_item_queued() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    for _ in 0..3 {
        world.bedrock.script(Ok(CreateOutcome::SlotBusy(
            "ServiceQuotaExceededException: too many models".into(),
        )));
        let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
            .await
            .unwrap();
        assert_eq!(out["decisions"][0]["decision"], "queued");
    }
    let alerts = world.sns.alerts();
    assert_eq!(alerts.len(), 1, "one alert, not one per attempt");
    assert_eq!(alerts[0].subject, "Ferry: import of m is waiting");
    assert!(alerts[0].body.contains("imported-models quota"));
    let item = &world.ledger.items()[0];
    assert_eq!((item.state, item.attempts), (ImportState::Pending, 3));
    // Once it starts, a later failure must still alert.
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started");
    assert!(!world.ledger.items()[0].alerted);
}

#[tokio::test]
async fn a_failed_import_is_retried_under_a_new_name_on_request() {
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    world.bedrock.script(Err(PortError::new(
        PortErrorKind::Denied,
        "bedrock:CreateModelImportJob",
        "AccessDeniedException: iam:PassRole",
    )));
    handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    let failed = world.ledger.items()[0].clone();
    assert_eq!(failed.state, ImportState::Failed);
    // Uploading the same content again changes nothing...
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "duplicate");
    // ...an explicit retry does, with a new name and token.
    let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
    let decision = retry_failed(&uri, &world, &config).await.unwrap();
    assert!(
        matches!(decision, ferry_core::import::Decision::Started { .. }),
        "{decision:?}"
    );
    let creates = world.bedrock.creates();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[1].job_name, format!("{}-r1", failed.name));
    assert_eq!(
        creates[1].client_request_token,
        format!("{}-r1", failed.fingerprint)
    );
}

#[tokio::test]
async fn an_sqs_batch_where_every_message_fails_fails_the_invocation() {
    let world = World::default();
    let config = config(None);
    let batch = json!({"Records": [
        {"messageId": "a", "body": "{not json", "eventSource": "aws:sqs"},
        {"messageId": "b", "body": "[", "eventSource": "aws:sqs"}]});
    let err = handle(&batch, &world, &config).await.unwrap_err();
    assert!(err.to_string().contains("all 2 message(s)"), "{err}");
}

#[tokio::test]
async fn an_access_denial_rejects_the_import_with_the_fix_and_a_retry_after_the_fix_starts_it() {
    let world = World::default();
    let config = config(None);
    world.access.lock().unwrap().bucket_grant_missing = true;
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "access_denied", "{out}");
    assert_eq!(out["decisions"][0]["denied"], json!(["s3-list", "s3-get"]));
    assert!(
        world.bedrock.creates().is_empty(),
        "no job for a chain that would fail"
    );
    let item = world.ledger.items()[0].clone();
    assert_eq!(item.state, ImportState::Rejected);
    let alerts = world.sns.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].subject,
        "Ferry: m not imported: the access check denied it"
    );
    assert!(alerts[0].body.contains("✗ s3-list"), "{}", alerts[0].body);
    assert!(
        alerts[0]
            .body
            .contains("add to the bucket policy of research:"),
        "{}",
        alerts[0].body
    );
    assert!(
        alerts[0].body.contains("ferry import --retry"),
        "{}",
        alerts[0].body
    );

    // More events of the same content change nothing.
    let out = handle(&s3_event("fine-tunes/m/model.safetensors"), &world, &config)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "duplicate");

    // A retry before the fix is judged again and stays rejected...
    let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
    let decision = retry_failed(&uri, &world, &config).await.unwrap();
    assert!(
        matches!(decision, ferry_core::import::Decision::AccessDenied { .. }),
        "{decision:?}"
    );
    assert!(world.bedrock.creates().is_empty());
    // ...and after the fix it starts, under the original name (no job ever existed).
    world.access.lock().unwrap().bucket_grant_missing = false;
    let decision = retry_failed(&uri, &world, &config).await.unwrap();
    assert!(
        matches!(decision, ferry_core::import::Decision::Started { .. }),
        "{decision:?}"
    );
    let creates = world.bedrock.creates();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].job_name, item.name);
    assert_eq!(world.ledger.items()[0].state, ImportState::Submitted);
}

#[tokio::test]
async fn an_unreadable_policy_does_not_stop_the_import_and_the_check_can_be_off() {
    let world = World::default();
    world.access.lock().unwrap().bucket_policy_unreadable = true;
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config(None))
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");

    // Off: the chain is not read at all.
    let world = World::default();
    world.access.lock().unwrap().bucket_grant_missing = true;
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    let mut off = config(None);
    off.access_check = false;
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &off)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
    assert_eq!(world.access.lock().unwrap().reads, 0);
}

#[tokio::test]
async fn a_deny_on_the_network_path_does_not_reject_the_import() {
    // Bedrock reads through the customer's VPC in a VPC import: Ferry cannot know
    // aws:SourceVpc for it, so the Deny is not taken as certain.
    let world = World::default();
    world.access.lock().unwrap().vpc_only_bucket = true;
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    let out = handle(&s3_event("fine-tunes/m/config.json"), &world, &config(None))
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
}

#[tokio::test]
async fn a_model_cleanup_deleted_is_imported_again_on_request() {
    use ferry_core::import::{Ledger, LedgerUpdate};
    let world = World::default();
    let config = config(None);
    for (key, bytes) in model_files("m", "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
    handle(&s3_event("fine-tunes/m/config.json"), &world, &config)
        .await
        .unwrap();
    let item = world.ledger.items()[0].clone();
    for (from, to) in [
        (ImportState::Submitted, ImportState::Completed),
        (ImportState::Completed, ImportState::Deleted),
    ] {
        let update = LedgerUpdate {
            state: Some(to),
            now: 1,
            failure: Some("deleted by cleanup: idle".into()),
            ..Default::default()
        };
        assert!(world
            .ledger
            .transition(&item.fingerprint, from, &update)
            .await
            .unwrap());
    }
    world.bedrock.0.lock().unwrap().running = None;
    let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
    let decision = retry_failed(&uri, &world, &config).await.unwrap();
    assert!(
        matches!(decision, ferry_core::import::Decision::Started { .. }),
        "{decision:?}"
    );
    let again = world.ledger.items()[0].clone();
    assert_eq!(again.name, format!("{}-r1", item.name));
    assert_eq!(again.failure.as_deref(), Some(""));
}

fn ready_model(world: &World, name: &str) {
    for (key, bytes) in model_files(name, "mistral", 1) {
        world.bucket.put(&key, bytes);
    }
}

#[tokio::test]
async fn an_s3_record_beside_records_of_other_sources_is_handled() {
    let world = World::default();
    let config = config(None);
    ready_model(&world, "m");
    let mut event = s3_event("fine-tunes/m/config.json");
    let records = event["Records"].as_array_mut().unwrap();
    records.insert(
        0,
        json!({"eventSource": "aws:dynamodb", "eventName": "INSERT"}),
    );
    records.push(json!({"eventSource": "aws:kinesis"}));
    let out = handle(&event, &world, &config).await.unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
    assert_eq!(out["ignored"].as_array().map(Vec::len), Some(2), "{out}");
    assert_eq!(world.bedrock.creates().len(), 1);
}

#[tokio::test]
async fn an_sns_message_with_an_s3_record_and_a_foreign_one_keeps_the_s3_record() {
    let world = World::default();
    let config = config(None);
    ready_model(&world, "m");
    let s3 = s3_event("fine-tunes/m/config.json")["Records"][0].clone();
    let message = json!({"Records": [s3, {"eventSource": "aws:codecommit"}]}).to_string();
    let event = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "Sns": {"Type": "Notification", "MessageId": "x", "Message": message}}]});
    let out = handle(&event, &world, &config).await.unwrap();
    assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
    let ignored = out["ignored"].as_array().cloned().unwrap_or_default();
    assert_eq!(ignored.len(), 1, "{out}");
    assert!(
        ignored[0].as_str().unwrap().contains("aws:codecommit"),
        "{out}"
    );
}

#[tokio::test]
async fn an_sqs_batch_beside_records_of_other_sources_keeps_its_messages() {
    let world = World::default();
    let config = config(None);
    ready_model(&world, "m");
    ready_model(&world, "n");
    let batch = json!({"Records": [
        {"messageId": "ok", "body": s3_event("fine-tunes/m/config.json").to_string(), "eventSource": "aws:sqs"},
        {"eventSource": "aws:dynamodb", "eventName": "INSERT"},
        s3_event("fine-tunes/n/config.json")["Records"][0].clone(),
    ]});
    let out = handle(&batch, &world, &config).await.unwrap();
    assert_eq!(out["batchItemFailures"], json!([]), "{out}");
    let decisions: Vec<&str> = out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions.len(), 2, "both folders judged: {out}");
    assert!(decisions.contains(&"started"), "{out}");
    assert_eq!(out["ignored"].as_array().map(Vec::len), Some(1), "{out}");
}

#[tokio::test]
async fn a_huge_field_of_the_wrong_type_is_echoed_truncated() {
    let world = World::default();
    let config = config(None);
    let mut event = s3_event("k");
    event["Records"][0]["s3"]["object"]["key"] = json!(vec![0; 200_000]);
    let err = handle(&event, &world, &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.len() < 400, "{} bytes: {}", err.len(), &err[..400]);
    assert!(
        err.starts_with("malformed event: Records[0].s3.object.key: is [0,0,0,"),
        "{err}"
    );
    assert!(err.ends_with("…, not a string"), "{err}");
}

#[tokio::test]
async fn a_payload_that_is_a_json_string_of_json_is_named_so() {
    let world = World::default();
    let config = config(None);
    let twice = json!(s3_event("fine-tunes/m/config.json").to_string());
    let out = handle(&twice, &world, &config).await.unwrap();
    assert_eq!(
        out["ignored"],
        "the payload is a string holding JSON (encoded twice?), not an S3 notification"
    );
    let out = handle(&json!("hello"), &world, &config).await.unwrap();
    assert_eq!(
        out["ignored"],
        "the payload is a string, not an S3 notification"
    );
}

/// Three stages, each a hosting world of its own (ledger, Bedrock, topic, bus, policies),
/// reading one research bucket.
mod stages {
    use super::*;
    use ferry_core::import::{promote, Cause, Ledger, LedgerUpdate};

    const ACCOUNTS: [(&str, &str); 3] = [
        ("dev", "777788889999"),
        ("staging", "444455556666"),
        ("prod", "222233334444"),
    ];

    #[derive(Clone)]
    struct Staged {
        worlds: BTreeMap<String, World>,
    }

    impl Staged {
        fn new() -> Self {
            let bucket = Bucket::default();
            let worlds = ACCOUNTS
                .iter()
                .map(|(name, _)| {
                    let world = World {
                        bucket: bucket.clone(),
                        ..World::default()
                    };
                    (name.to_string(), world)
                })
                .collect();
            Self { worlds }
        }

        fn at(&self, stage: &str) -> &World {
            &self.worlds[stage]
        }
    }

    impl Connect for Staged {
        type Folder = MemFolder;
        type Ledger = Arc<MemoryLedger>;
        type Imports = FakeBedrock;
        type Alerts = FakeSns;
        type Events = Arc<MemoryBus>;
        fn folder(&self, uri: &S3Uri) -> MemFolder {
            self.at("dev").folder(uri)
        }
        async fn hosting(
            &self,
            stage: &StageConfig,
            session: &str,
        ) -> Result<Hosting<Arc<MemoryLedger>, FakeBedrock, FakeSns, Arc<MemoryBus>>, PortError>
        {
            self.at(stage.label()).hosting(stage, session).await
        }
        async fn read_access(
            &self,
            stage: &StageConfig,
            target: &LiveTarget,
            session: &str,
        ) -> Result<Scenario, PortError> {
            self.at(stage.label())
                .read_access(stage, target, session)
                .await
        }
    }

    fn staged_config(stages: &str) -> ImporterConfig {
        let count = stages.split(',').count();
        let list = |f: &dyn Fn(&str) -> String| -> String {
            ACCOUNTS[..count]
                .iter()
                .map(|(_, account)| f(account))
                .collect::<Vec<_>>()
                .join(",")
        };
        let env: BTreeMap<&str, String> = BTreeMap::from([
            ("FERRY_WATCH_PREFIXES", "s3://research/fine-tunes/".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("FERRY_STAGES", stages.into()),
            (
                "FERRY_HOSTING_ROLE_ARN",
                list(&|a| format!("arn:aws:iam::{a}:role/FerryAutomation")),
            ),
            ("FERRY_EXTERNAL_ID", "ext".into()),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                list(&|a| format!("arn:aws:iam::{a}:role/FerryBedrockImportExecution")),
            ),
            ("FERRY_LEDGER_TABLE", "ferry-ledger".into()),
            (
                "FERRY_ALERT_TOPIC_ARN",
                list(&|a| format!("arn:aws:sns:us-east-1:{a}:ferry-alerts")),
            ),
        ]);
        ImporterConfig::from_env(|k| env.get(k).cloned()).unwrap()
    }

    /// What EventBridge delivers to the research account's queue: the stage's event, as
    /// its tracker put it, in the envelope of the account it was put in.
    fn state_change(world: &World, account: &str, state: &str) -> Value {
        let item = world.ledger.items()[0].clone();
        let index = item.history.iter().rposition(|c| c.state.as_str() == state);
        let detail = ferry_core::outbox::bus_event(&item, index.expect("that state"))
            .expect("an event")
            .detail;
        json!({"version": "0", "id": "e1", "detail-type": "Ferry Import State Change",
            "source": "ferry", "account": account, "time": "2026-11-28T10:00:00Z",
            "region": "us-east-1", "resources": [],
            "detail": serde_json::from_str::<Value>(&detail).unwrap()})
    }

    /// The stage's import completes and passes its smoke test (the tracker's part).
    async fn verify(world: &World) {
        let item = world.ledger.items()[0].clone();
        for (from, to) in [
            (ImportState::Submitted, ImportState::Completed),
            (ImportState::Completed, ImportState::Verified),
        ] {
            let update = LedgerUpdate {
                state: Some(to),
                now: system_clock(),
                ..Default::default()
            };
            assert!(world
                .ledger
                .transition(&item.fingerprint, from, &update)
                .await
                .unwrap());
        }
        world.bedrock.finish_running();
    }

    fn sqs_batch(bodies: &[Value]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"eventSource": "aws:sqs", "messageId": format!("m{i}"), "body": body.to_string()}))
            .collect();
        json!({"Records": records})
    }

    fn manual(force: bool) -> Cause {
        Cause::Manual {
            by: "arn:aws:sts::111122223333:assumed-role/Releaser/ana".into(),
            reason: "release train 48".into(),
            force,
        }
    }

    #[tokio::test]
    async fn one_upload_goes_through_dev_staging_and_prod_each_behind_its_gate() {
        let staged = Staged::new();
        let config = staged_config("dev,staging,prod=manual");
        for (key, bytes) in model_files("m", "mistral", 2) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        let out = handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        assert_eq!(out["decisions"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(out["decisions"][0]["decision"], "started");
        assert_eq!(out["decisions"][0]["stage"], "dev");
        let dev_item = staged.at("dev").ledger.items()[0].clone();
        assert_eq!(dev_item.stage.as_deref(), Some("dev"));
        for stage in ["staging", "prod"] {
            assert!(staged.at(stage).ledger.items().is_empty(), "{stage}");
        }

        // An event claiming dev verified it while dev's ledger says Submitted (forged,
        // or a Submitted event a rule let through) promotes nothing.
        let early = state_change(staged.at("dev"), "777788889999", "Submitted");
        let out = handle(&early, &staged, &config).await.unwrap();
        assert_eq!(out["decisions"][0]["decision"], "not_promoted", "{out}");
        assert!(staged.at("staging").ledger.items().is_empty());

        verify(staged.at("dev")).await;
        let verified = state_change(staged.at("dev"), "777788889999", "Verified");
        // From another account than dev's: ignored.
        let mut forged = verified.clone();
        forged["account"] = json!("999999999999");
        handle(&forged, &staged, &config).await.unwrap();
        assert!(staged.at("staging").ledger.items().is_empty());

        let out = handle(&verified, &staged, &config).await.unwrap();
        assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
        assert_eq!(out["decisions"][0]["stage"], "staging");
        let staging_item = staged.at("staging").ledger.items()[0].clone();
        assert_eq!(staging_item.fingerprint, dev_item.fingerprint);
        assert_eq!(
            staging_item.history[0].note.as_deref(),
            Some("promoted: the content verified in dev")
        );
        assert!(
            staged.at("prod").ledger.items().is_empty(),
            "prod is manual"
        );

        // ferry promote --to prod: staging has not verified it yet.
        let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
        let prod = config.stage("prod").unwrap();
        let early = promote(&uri, None, prod, &manual(false), &staged, &config)
            .await
            .unwrap();
        let text = format!("{early:?}");
        assert!(
            text.contains("NotPromoted") && text.contains("--force"),
            "{text}"
        );
        verify(staged.at("staging")).await;
        let started = promote(&uri, None, prod, &manual(false), &staged, &config)
            .await
            .unwrap();
        assert!(
            matches!(started, ferry_core::import::Decision::Started { .. }),
            "{started:?}"
        );
        let prod_item = staged.at("prod").ledger.items()[0].clone();
        assert_eq!(prod_item.stage.as_deref(), Some("prod"));
        let note = prod_item.history[0].note.clone().unwrap_or_default();
        assert!(
            note.contains("assumed-role/Releaser/ana") && note.contains("release train 48"),
            "{note}"
        );
        for stage in ["dev", "staging", "prod"] {
            assert_eq!(staged.at(stage).bedrock.creates().len(), 1, "{stage}");
        }
        // The stage's event names it.
        let event = ferry_core::outbox::bus_event(&prod_item, 0).unwrap();
        assert!(
            event.detail.contains("\"stage\":\"prod\""),
            "{}",
            event.detail
        );
    }

    #[tokio::test]
    async fn duplicated_and_reordered_promotion_events_start_one_job_per_stage() {
        let staged = Staged::new();
        let config = staged_config("dev,staging=after:dev,prod=after:staging");
        for (key, bytes) in model_files("m", "qwen2.5", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        verify(staged.at("dev")).await;
        let verified = state_change(staged.at("dev"), "777788889999", "Verified");
        let completed = state_change(staged.at("dev"), "777788889999", "Completed");
        let mut bodies = vec![
            verified.clone(),
            completed.clone(),
            verified.clone(),
            verified,
        ];
        shuffle(&mut bodies, 7);
        // Two handlers at once, each with a batch of duplicates.
        let batch = sqs_batch(&bodies);
        let (a, b) = tokio::join!(
            handle(&batch, &staged, &config),
            handle(&batch, &staged, &config)
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(staged.at("staging").bedrock.creates().len(), 1);
        assert_eq!(staged.at("staging").ledger.items().len(), 1);
        // Prod waits for staging's own verification, not dev's.
        assert!(staged.at("prod").ledger.items().is_empty());
        verify(staged.at("staging")).await;
        let staging_verified = state_change(staged.at("staging"), "444455556666", "Verified");
        for _ in 0..3 {
            handle(&staging_verified, &staged, &config).await.unwrap();
        }
        assert_eq!(staged.at("prod").bedrock.creates().len(), 1);
    }

    #[tokio::test]
    async fn an_event_of_an_item_from_before_the_stages_is_matched_by_its_account() {
        let staged = Staged::new();
        let config = staged_config("dev,staging");
        for (key, bytes) in model_files("m", "mistral", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        verify(staged.at("dev")).await;
        let mut verified = state_change(staged.at("dev"), "777788889999", "Verified");
        verified["detail"].as_object_mut().unwrap().remove("stage");
        let out = handle(&verified, &staged, &config).await.unwrap();
        assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
        assert_eq!(out["decisions"][0]["stage"], "staging");
    }

    #[tokio::test]
    async fn hostile_state_change_events_are_refused_naming_the_field() {
        let staged = Staged::new();
        let config = staged_config("dev,staging");
        for (key, bytes) in model_files("m", "mistral", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        verify(staged.at("dev")).await;
        let good = state_change(staged.at("dev"), "777788889999", "Verified");
        for (field, value, expected) in [
            ("stage", json!("dev\u{1b}[2J".repeat(5000)), "detail.stage"),
            (
                "folder",
                json!(format!("s3://research/{}/", "k".repeat(100_000))),
                "detail.folder",
            ),
            ("state", json!("Verified\n"), "detail.state"),
            ("fingerprint", json!("../../etc"), "detail.fingerprint"),
            ("fingerprint", json!(7), "detail.fingerprint"),
        ] {
            let mut event = good.clone();
            event["detail"][field] = value;
            let err = handle(&event, &staged, &config)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.len() < 2_000, "bounded: {} bytes", err.len());
            assert!(!err.contains('\u{1b}'), "{err}");
        }
        assert!(staged.at("staging").ledger.items().is_empty());
    }

    #[tokio::test]
    async fn a_failure_mid_promotion_loses_nothing_and_the_redelivery_starts_it_once() {
        let staged = Staged::new();
        let config = staged_config("dev,staging");
        for (key, bytes) in model_files("m", "mistral", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        verify(staged.at("dev")).await;
        let verified = state_change(staged.at("dev"), "777788889999", "Verified");
        // The item is written, then Create is throttled: the message fails (SQS keeps it).
        staged.at("staging").bedrock.script(Err(PortError::new(
            PortErrorKind::Retryable,
            "bedrock:CreateModelImportJob",
            "ThrottlingException",
        )));
        let batch = sqs_batch(&[verified]);
        let out = handle(&batch, &staged, &config).await;
        assert!(out.is_err(), "the only message failed: {out:?}");
        let item = staged.at("staging").ledger.items()[0].clone();
        assert_eq!(item.state, ImportState::Pending);
        // SQS delivers it again.
        let out = handle(&batch, &staged, &config).await.unwrap();
        assert_eq!(out["decisions"][0]["decision"], "started", "{out}");
        let creates = staged.at("staging").bedrock.creates();
        assert_eq!(creates.len(), 2);
        assert_eq!(creates[0], creates[1], "the retry sends the same request");
    }

    #[tokio::test]
    async fn a_policy_mistake_in_prod_blocks_prod_alone_with_the_checkers_explanation() {
        let staged = Staged::new();
        let config = staged_config("dev,staging,prod=manual");
        staged
            .at("prod")
            .access
            .lock()
            .unwrap()
            .bucket_grant_missing = true;
        for (key, bytes) in model_files("m", "mistral", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        verify(staged.at("dev")).await;
        let verified = state_change(staged.at("dev"), "777788889999", "Verified");
        handle(&verified, &staged, &config).await.unwrap();
        verify(staged.at("staging")).await;
        let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
        let prod = config.stage("prod").unwrap();
        let denied = promote(&uri, None, prod, &manual(false), &staged, &config)
            .await
            .unwrap();
        assert!(
            matches!(denied, ferry_core::import::Decision::AccessDenied { .. }),
            "{denied:?}"
        );
        assert!(staged.at("prod").bedrock.creates().is_empty());
        let alerts = staged.at("prod").sns.alerts();
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0].subject.starts_with("Ferry [prod]:"),
            "{}",
            alerts[0].subject
        );
        assert!(
            alerts[0].body.contains("Stage prod.") && alerts[0].body.contains("s3:"),
            "{}",
            alerts[0].body
        );
        for stage in ["dev", "staging"] {
            assert!(staged.at(stage).sns.alerts().is_empty(), "{stage}");
            assert_eq!(staged.at(stage).bedrock.creates().len(), 1, "{stage}");
        }
    }

    #[tokio::test]
    async fn a_manual_first_stage_imports_only_when_promoted_and_then_validates() {
        let staged = Staged::new();
        let config = staged_config("dev=manual,staging");
        // An unsupported architecture: validation rejects it.
        for (key, bytes) in model_files("m", "gpt2", 1) {
            staged.at("dev").bucket.put(&key, bytes);
        }
        let out = handle(&s3_event("fine-tunes/m/config.json"), &staged, &config)
            .await
            .unwrap();
        assert_eq!(out["decisions"], json!([]), "{out}");
        assert!(staged.at("dev").ledger.items().is_empty());
        // No stage before dev vouches for it: promoting validates it first.
        let uri = S3Uri::parse("s3://research/fine-tunes/m/").unwrap();
        let dev = config.stage("dev").unwrap();
        let rejected = promote(&uri, None, dev, &manual(false), &staged, &config)
            .await
            .unwrap();
        assert!(
            matches!(rejected, ferry_core::import::Decision::Rejected { .. }),
            "{rejected:?}"
        );
        assert!(staged.at("dev").bedrock.creates().is_empty());
    }

    #[test]
    fn stages_in_one_account_and_region_are_refused() {
        let env: BTreeMap<&str, &str> = BTreeMap::from([
            ("FERRY_WATCH_PREFIXES", "s3://research/fine-tunes/"),
            ("AWS_REGION", "us-east-1"),
            ("FERRY_STAGES", "dev,prod"),
            ("FERRY_HOSTING_ROLE_ARN", "arn:aws:iam::777788889999:role/A"),
            ("FERRY_EXTERNAL_ID", "ext"),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/E",
            ),
            ("FERRY_LEDGER_TABLE", "a,b,c"),
            (
                "FERRY_ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:777788889999:t",
            ),
        ]);
        let err = ImporterConfig::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("FERRY_LEDGER_TABLE has 3 values for 2 stages"),
            "{text}"
        );
        assert!(
            text.contains("stages dev and prod are both in account 777788889999"),
            "{text}"
        );
    }
}
