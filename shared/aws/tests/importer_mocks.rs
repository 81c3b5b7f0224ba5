//! The importer's AWS adapters with aws-smithy-mocks: the requests they make and how
//! they read AWS's answers; and the whole handler over mocked S3, Bedrock and SNS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_bedrock::operation::create_model_import_job::{
    CreateModelImportJobError, CreateModelImportJobOutput,
};
use aws_sdk_bedrock::operation::get_model_import_job::{
    GetModelImportJobError, GetModelImportJobOutput,
};
use aws_sdk_bedrock::operation::list_model_import_jobs::ListModelImportJobsOutput;
use aws_sdk_bedrock::types::error::{
    AccessDeniedException, ConflictException, ResourceNotFoundException,
    ServiceQuotaExceededException, ValidationException,
};
use aws_sdk_bedrock::types::{ModelImportJobStatus, ModelImportJobSummary};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use ferry_aws::{BedrockImports, HostingSession, HostingTarget, S3Folder, SnsAlerts};
use ferry_core::import::{
    handle, Connect, CreateOutcome, Hosting, ImportRequest, ImportService, ImportState,
    ImporterConfig, Ledger, MemoryLedger, PortError, PortErrorKind,
};
use ferry_core::outbox::MemoryBus;
use ferry_core::S3Uri;
use ferry_testkit::families::family;
use ferry_testkit::fixtures::write_model;
use serde_json::json;

const JOB_ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef";

fn request() -> ImportRequest {
    ImportRequest {
        job_name: "m-20261122-abcdef12".into(),
        imported_model_name: "m-20261122-abcdef12".into(),
        role_arn: "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole".into(),
        s3_uri: "s3://research/fine-tunes/m/".into(),
        imported_model_kms_key_id: None,
        vpc: None,
        tags: vec![("ferry:fingerprint".into(), "abc".into())],
        client_request_token: "abc".into(),
    }
}

fn bedrock(rules: &[&Rule]) -> BedrockImports {
    BedrockImports::new(mock_client!(aws_sdk_bedrock, RuleMode::MatchAny, rules))
}

#[tokio::test]
async fn create_sends_the_whole_request_and_reads_each_answer() {
    let sent = mock!(aws_sdk_bedrock::Client::create_model_import_job)
        .match_requests(|r| {
            r.job_name() == Some("m-20261122-abcdef12")
                && r.client_request_token() == Some("abc")
                && r.role_arn() == Some("arn:aws:iam::777788889999:role/BedrockCMIExecutionRole")
                && r.job_tags().len() == 1
                && r.imported_model_tags().len() == 1
                && r.model_data_source()
                    .and_then(|s| s.as_s3_data_source().ok())
                    .map(|s| s.s3_uri())
                    == Some("s3://research/fine-tunes/m/")
        })
        .then_output(|| {
            CreateModelImportJobOutput::builder()
                .job_arn(JOB_ARN)
                .build()
                .unwrap()
        });
    assert_eq!(
        bedrock(&[&sent]).create_job(&request()).await.unwrap(),
        CreateOutcome::Started {
            job_arn: JOB_ARN.into()
        }
    );

    let quota = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_error(|| {
        CreateModelImportJobError::ServiceQuotaExceededException(
            ServiceQuotaExceededException::builder()
                .message("one job at a time")
                .build(),
        )
    });
    assert!(
        matches!(bedrock(&[&quota]).create_job(&request()).await.unwrap(), CreateOutcome::SlotBusy(m) if m.contains("one job"))
    );

    let conflict = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_error(|| {
        CreateModelImportJobError::ConflictException(
            ConflictException::builder().message("name taken").build(),
        )
    });
    assert!(matches!(
        bedrock(&[&conflict]).create_job(&request()).await.unwrap(),
        CreateOutcome::NameConflict(_)
    ));

    let invalid = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_error(|| {
        CreateModelImportJobError::ValidationException(
            ValidationException::builder().message("bad s3Uri").build(),
        )
    });
    let err = bedrock(&[&invalid])
        .create_job(&request())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.operation.as_str()),
        (PortErrorKind::Invalid, "bedrock:CreateModelImportJob")
    );

    let denied = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_error(|| {
        CreateModelImportJobError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("iam:PassRole")
                .build(),
        )
    });
    assert_eq!(
        bedrock(&[&denied])
            .create_job(&request())
            .await
            .unwrap_err()
            .kind,
        PortErrorKind::Denied
    );
}

/// A restJson1 error response as Bedrock sends it.
fn bedrock_error(
    status: u16,
    error_type: &'static str,
) -> aws_sdk_bedrock::config::http::HttpResponse {
    let mut response = aws_sdk_bedrock::config::http::HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
        aws_smithy_types::body::SdkBody::from(format!(
            "{{\"message\":\"{error_type} from the service\"}}"
        )),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", error_type);
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

#[tokio::test]
async fn errors_on_the_wire_are_parsed_and_classified() {
    for (status, error_type, kind) in [
        (400, "ValidationException", PortErrorKind::Invalid),
        (403, "AccessDeniedException", PortErrorKind::Denied),
        (404, "ResourceNotFoundException", PortErrorKind::Invalid),
        (500, "InternalServerException", PortErrorKind::Retryable),
    ] {
        let rule = mock!(aws_sdk_bedrock::Client::create_model_import_job)
            .sequence()
            .http_response(move || bedrock_error(status, error_type))
            .repeatedly()
            .build();
        let err = bedrock(&[&rule]).create_job(&request()).await.unwrap_err();
        assert_eq!(err.kind, kind, "{error_type}: {err}");
        assert!(err.message.starts_with(error_type), "{err}");
    }
    let quota = mock!(aws_sdk_bedrock::Client::create_model_import_job)
        .then_http_response(|| bedrock_error(400, "ServiceQuotaExceededException"));
    assert!(matches!(
        bedrock(&[&quota]).create_job(&request()).await.unwrap(),
        CreateOutcome::SlotBusy(_)
    ));
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_succeeds_or_fails_retryable() {
    let flaky = mock!(aws_sdk_bedrock::Client::create_model_import_job)
        .sequence()
        .http_response(|| bedrock_error(429, "ThrottlingException"))
        .output(|| {
            CreateModelImportJobOutput::builder()
                .job_arn(JOB_ARN)
                .build()
                .unwrap()
        })
        .build();
    let imports = bedrock(&[&flaky]);
    assert!(matches!(
        imports.create_job(&request()).await.unwrap(),
        CreateOutcome::Started { .. }
    ));
    assert_eq!(flaky.num_calls(), 2);

    let throttled = mock!(aws_sdk_bedrock::Client::create_model_import_job)
        .sequence()
        .http_response(|| bedrock_error(429, "ThrottlingException"))
        .repeatedly()
        .build();
    let err = bedrock(&[&throttled])
        .create_job(&request())
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Retryable, "{err}");
}

#[tokio::test]
async fn the_running_job_and_lookups() {
    let list = mock!(aws_sdk_bedrock::Client::list_model_import_jobs)
        .match_requests(|r| {
            r.status_equals() == Some(&ModelImportJobStatus::InProgress)
                && r.max_results() == Some(1)
        })
        .then_output(|| {
            ListModelImportJobsOutput::builder()
                .model_import_job_summaries(
                    ModelImportJobSummary::builder()
                        .job_arn(JOB_ARN)
                        .job_name("other-team-job")
                        .status(ModelImportJobStatus::InProgress)
                        .creation_time(DateTime::from_secs(1_795_000_000))
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let missing = mock!(aws_sdk_bedrock::Client::get_model_import_job).then_error(|| {
        GetModelImportJobError::ResourceNotFoundException(
            ResourceNotFoundException::builder().build(),
        )
    });
    let imports = bedrock(&[&list, &missing]);
    assert_eq!(
        imports.running_job().await.unwrap().unwrap().job_name,
        "other-team-job"
    );
    assert_eq!(imports.get_job("nope").await.unwrap(), None);

    let found = mock!(aws_sdk_bedrock::Client::get_model_import_job).then_output(|| {
        GetModelImportJobOutput::builder()
            .job_arn(JOB_ARN)
            .job_name("m")
            .status(ModelImportJobStatus::Failed)
            .failure_message(
                "Amazon Bedrock does not have access to the S3 location (s3://research/m)",
            )
            .build()
    });
    let job = bedrock(&[&found]).get_job("m").await.unwrap().unwrap();
    assert_eq!(job.status, ferry_core::import::JobStatus::Failed);
    assert!(job
        .failure_message
        .unwrap()
        .contains("does not have access"));
}

fn assume_role_output() -> AssumeRoleOutput {
    AssumeRoleOutput::builder()
        .credentials(
            aws_sdk_sts::types::Credentials::builder()
                .access_key_id("ASIAHOSTING")
                .secret_access_key("secret")
                .session_token("token")
                .expiration(DateTime::from_secs(
                    i64::try_from(ferry_aws::clock::now_secs()).unwrap() + 3600,
                ))
                .build()
                .unwrap(),
        )
        .build()
}

fn target() -> HostingTarget {
    HostingTarget {
        role_arn: "arn:aws:iam::777788889999:role/FerryAutomation".into(),
        external_id: "ferry-ext".into(),
        region: Some("us-west-2".into()),
        ledger_table: "ferry-ledger".into(),
        alert_topic_arn: "arn:aws:sns:us-west-2:777788889999:ferry-alerts".into(),
    }
}

fn base_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .build()
}

#[tokio::test]
async fn the_hosting_role_is_assumed_with_external_id_once_per_credentials() {
    let assume = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some("arn:aws:iam::777788889999:role/FerryAutomation")
                && r.external_id() == Some("ferry-ext")
                && r.role_session_name()
                    .is_some_and(|n| n.starts_with("ferry-0123456789abcdef"))
        })
        .then_output(assume_role_output);
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
    let session = HostingSession::new(base_config(), sts, target());
    session.ports("0123456789abcdef0123").await.unwrap();
    session.ports("another-fingerprint").await.unwrap();
    assert_eq!(
        assume.num_calls(),
        1,
        "cached across invocations until shortly before expiry"
    );
}

#[tokio::test]
async fn a_refused_assume_role_fails_loudly_with_the_sts_error() {
    let refused = mock!(aws_sdk_sts::Client::assume_role).then_http_response(|| {
        aws_sdk_sts::config::http::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>",
            ),
        )
    });
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&refused]);
    let session = HostingSession::new(base_config(), sts, target());
    let err = session
        .ports("fp")
        .await
        .err()
        .expect("AssumeRole was refused");
    assert_eq!(err.kind, PortErrorKind::Denied);
    assert!(
        err.to_string().contains("sts:AssumeRole") && err.to_string().contains("trust policy"),
        "{err}"
    );
}

/// The whole handler with the real S3, Bedrock and SNS adapters over mocked clients
/// (the ledger's conditions are proven against moto in `ledger_moto.rs`).
struct MockConnect {
    s3: aws_sdk_s3::Client,
    ledger: Arc<MemoryLedger>,
    bedrock: BedrockImports,
    sns: SnsAlerts,
    events: Arc<MemoryBus>,
}

impl Connect for MockConnect {
    /// These tests exercise the import path's adapters; the access check has its own
    /// tests (policy_reader_moto.rs, and core's access_live.rs) and is off here.
    async fn read_access(
        &self,
        _stage: &ferry_core::import::StageConfig,
        _target: &ferry_core::access::LiveTarget,
        _session: &str,
    ) -> Result<ferry_core::access::Scenario, PortError> {
        Err(PortError::new(
            PortErrorKind::Other,
            "access check",
            "off in these tests",
        ))
    }

    type Folder = S3Folder;
    type Ledger = Arc<MemoryLedger>;
    type Imports = BedrockImports;
    type Alerts = SnsAlerts;
    type Events = Arc<MemoryBus>;
    fn folder(&self, uri: &S3Uri) -> S3Folder {
        S3Folder::new(self.s3.clone(), uri.clone())
    }
    async fn hosting(
        &self,
        _: &ferry_core::import::StageConfig,
        _: &str,
    ) -> Result<Hosting<Arc<MemoryLedger>, BedrockImports, SnsAlerts, Arc<MemoryBus>>, PortError>
    {
        Ok(Hosting {
            ledger: self.ledger.clone(),
            imports: self.bedrock.clone(),
            alerts: self.sns.clone(),
            events: self.events.clone(),
            clock: ferry_aws::clock::now_secs,
        })
    }
}

/// Mocked S3 serving a model folder from memory.
fn s3_serving(objects: Arc<Mutex<HashMap<String, Vec<u8>>>>) -> (aws_sdk_s3::Client, Rule, Rule) {
    let listed = objects.clone();
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |r| {
        let objects = listed.lock().unwrap();
        let prefix = r.prefix().unwrap_or_default();
        let mut out = ListObjectsV2Output::builder();
        for (key, bytes) in objects.iter().filter(|(k, _)| k.starts_with(prefix)) {
            out = out.contents(
                aws_sdk_s3::types::Object::builder()
                    .key(key)
                    .size(bytes.len() as i64)
                    .e_tag(format!("\"{}\"", bytes.len()))
                    .last_modified(DateTime::from_secs(1_795_000_000))
                    .build(),
            );
        }
        out.build()
    });
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |r| {
        let objects = objects.lock().unwrap();
        let bytes = &objects[r.key().unwrap_or_default()];
        let (start, end) = r
            .range()
            .unwrap_or_default()
            .trim_start_matches("bytes=")
            .split_once('-')
            .unwrap();
        let (start, end): (usize, usize) =
            (start.parse().unwrap(), end.parse::<usize>().unwrap() + 1);
        GetObjectOutput::builder()
            .body(ByteStream::from(bytes[start..end].to_vec()))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &get]);
    (client, list, get)
}

fn config() -> ImporterConfig {
    let env = HashMap::from([
        ("FERRY_WATCH_PREFIXES", "s3://research/fine-tunes/"),
        ("FERRY_ACCESS_CHECK", "off"),
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
    ImporterConfig::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap()
}

fn load_model(
    objects: &Mutex<HashMap<String, Vec<u8>>>,
    name: &str,
    fam: &str,
    shards: usize,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family(fam), shards).unwrap();
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let key = format!("fine-tunes/{name}/{}", entry.file_name().to_string_lossy());
        objects
            .lock()
            .unwrap()
            .insert(key.clone(), std::fs::read(entry.path()).unwrap());
        keys.push(key);
    }
    keys.sort();
    keys
}

fn event(key: &str) -> ferry_core::import::ImporterEvent {
    ferry_core::import::ImporterEvent::parse(
        &json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "research"}, "object": {"key": key, "size": 1, "eTag": "e"}}}]}),
    )
}

#[tokio::test]
async fn forty_events_for_one_sharded_model_make_one_create_call() {
    let objects = Arc::new(Mutex::new(HashMap::new()));
    let keys = load_model(&objects, "llama", "llama-3.1", 5);
    let (s3, _list, _get) = s3_serving(objects);
    let no_job = mock!(aws_sdk_bedrock::Client::list_model_import_jobs)
        .then_output(|| ListModelImportJobsOutput::builder().build());
    let create = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_output(|| {
        CreateModelImportJobOutput::builder()
            .job_arn(JOB_ARN)
            .build()
            .unwrap()
    });
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let connect = MockConnect {
        s3,
        ledger: Arc::default(),
        bedrock: bedrock(&[&no_job, &create]),
        sns: SnsAlerts::new(
            mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]),
            "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
        ),
        events: Arc::default(),
    };
    let config = config();
    // 40 events: every key several times, in an interleaved order, duplicates included.
    let events: Vec<&String> = (0..40).map(|i| &keys[(i * 7) % keys.len()]).collect();
    for key in events {
        handle(event(key), &connect, &config).await.unwrap();
    }
    assert_eq!(create.num_calls(), 1, "exactly one CreateModelImportJob");
    assert_eq!(publish.num_calls(), 0);
    let items = connect.ledger.items();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].state, items[0].job_arn.as_deref()),
        (ImportState::Submitted, Some(JOB_ARN))
    );
    assert_eq!(states_put(&connect.events), ["Pending", "Submitted"]);
    assert_eq!(items[0].events_sent, 2);
}

/// The `state` of every event put on `bus`, in order.
fn states_put(bus: &MemoryBus) -> Vec<String> {
    bus.events()
        .iter()
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            assert_eq!(
                (e.source.as_str(), e.detail_type.as_str()),
                ("ferry", "Ferry Import State Change")
            );
            detail["state"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_rejected_folder_publishes_one_alert_and_starts_no_job() {
    let objects = Arc::new(Mutex::new(HashMap::new()));
    let keys = load_model(&objects, "bert", "bert", 1);
    let (s3, _list, _get) = s3_serving(objects);
    let create = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_output(|| {
        CreateModelImportJobOutput::builder()
            .job_arn(JOB_ARN)
            .build()
            .unwrap()
    });
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.topic_arn() == Some("arn:aws:sns:us-east-1:777788889999:ferry-alerts")
                && r.subject()
                    .is_some_and(|s| s.starts_with("Ferry: bert rejected"))
                && r.message()
                    .is_some_and(|m| m.contains("--- details (JSON) ---"))
        })
        .then_output(|| PublishOutput::builder().build());
    let connect = MockConnect {
        s3,
        ledger: Arc::default(),
        bedrock: bedrock(&[&create]),
        sns: SnsAlerts::new(
            mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]),
            "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
        ),
        events: Arc::default(),
    };
    let config = config();
    for key in keys.iter().chain(keys.iter()) {
        if key.ends_with("vocab.txt") {
            continue; // not a file that completes a folder
        }
        handle(event(key), &connect, &config).await.unwrap();
    }
    assert_eq!(publish.num_calls(), 1);
    assert_eq!(create.num_calls(), 0);
    assert_eq!(connect.ledger.items()[0].state, ImportState::Rejected);
    assert_eq!(states_put(&connect.events), ["Rejected"]);
}

/// Two handlers racing on the same folder, with the real DynamoDB ledger (moto) and
/// mocked S3 and Bedrock: one item, one CreateModelImportJob.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_handlers_race_on_one_folder_against_dynamodb() {
    struct DynamoConnect {
        s3: aws_sdk_s3::Client,
        ledger: ferry_aws::DynamoLedger,
        bedrock: BedrockImports,
        sns: SnsAlerts,
        events: Arc<MemoryBus>,
    }
    impl Connect for DynamoConnect {
        /// These tests exercise the import path's adapters; the access check has its own
        /// tests (policy_reader_moto.rs, and core's access_live.rs) and is off here.
        async fn read_access(
            &self,
            _stage: &ferry_core::import::StageConfig,
            _target: &ferry_core::access::LiveTarget,
            _session: &str,
        ) -> Result<ferry_core::access::Scenario, PortError> {
            Err(PortError::new(
                PortErrorKind::Other,
                "access check",
                "off in these tests",
            ))
        }

        type Folder = S3Folder;
        type Ledger = ferry_aws::DynamoLedger;
        type Imports = BedrockImports;
        type Alerts = SnsAlerts;
        type Events = Arc<MemoryBus>;
        fn folder(&self, uri: &S3Uri) -> S3Folder {
            S3Folder::new(self.s3.clone(), uri.clone())
        }
        async fn hosting(
            &self,
            _: &ferry_core::import::StageConfig,
            _: &str,
        ) -> Result<
            Hosting<ferry_aws::DynamoLedger, BedrockImports, SnsAlerts, Arc<MemoryBus>>,
            PortError,
        > {
            Ok(Hosting {
                ledger: self.ledger.clone(),
                imports: self.bedrock.clone(),
                alerts: self.sns.clone(),
                events: self.events.clone(),
                clock: ferry_aws::clock::now_secs,
            })
        }
    }

    let moto = ferry_testkit::moto::MotoServer::start().unwrap();
    let dynamo_config = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&dynamo_config);
    ferry_testkit::hosting::create_ledger_table(&dynamo, "ferry-ledger")
        .await
        .unwrap();

    let objects = Arc::new(Mutex::new(HashMap::new()));
    let keys = load_model(&objects, "race", "qwen3", 3);
    let (s3, _list, _get) = s3_serving(objects);
    let no_job = mock!(aws_sdk_bedrock::Client::list_model_import_jobs)
        .then_output(|| ListModelImportJobsOutput::builder().build());
    let create = mock!(aws_sdk_bedrock::Client::create_model_import_job).then_output(|| {
        CreateModelImportJobOutput::builder()
            .job_arn(JOB_ARN)
            .build()
            .unwrap()
    });
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let connect = Arc::new(DynamoConnect {
        s3,
        ledger: ferry_aws::DynamoLedger::new(dynamo.clone(), "ferry-ledger"),
        bedrock: bedrock(&[&no_job, &create]),
        sns: SnsAlerts::new(
            mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]),
            "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
        ),
        events: Arc::new(MemoryBus::default()),
    });
    let config = Arc::new(config());
    let handlers: Vec<_> = (0..8)
        .map(|i| {
            let (connect, config, key) = (
                connect.clone(),
                config.clone(),
                keys[i % keys.len()].clone(),
            );
            tokio::spawn(async move {
                handle(event(&key), connect.as_ref(), &config)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for handler in handlers {
        handler.await.unwrap();
    }
    assert!(create.num_calls() <= 1, "never two jobs");
    let items = dynamo
        .scan()
        .table_name("ferry-ledger")
        .send()
        .await
        .unwrap();
    assert_eq!(items.count(), 1, "one ledger item");
    let state = items.items()[0]["state"].as_s().unwrap().clone();
    // A handler that lost the race may have seen the slot "busy" with the winner's job
    // in a real account; with the mock, the winner always records Submitted.
    assert_eq!((state.as_str(), create.num_calls()), ("Submitted", 1));
    // Each state change went out at most once, in order, and the item counts them.
    let item = connect
        .ledger
        .get(&fingerprint_of(&items.items()[0]))
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<String> = connect
        .events
        .events()
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.detail).unwrap()["eventId"].to_string()
        })
        .collect();
    let expected: Vec<String> = (1..=ids.len())
        .map(|n| format!("\"{}#{n}\"", item.fingerprint))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(item.events_sent as usize, ids.len());
    assert!(
        ids.len() <= item.history.len(),
        "{ids:?} {:?}",
        item.history
    );
}

fn fingerprint_of(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> String {
    item["fingerprint"].as_s().unwrap().clone()
}
