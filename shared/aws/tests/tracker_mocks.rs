//! The tracker's adapters with aws-smithy-mocks (Bedrock's imported models, CloudWatch
//! usage), and a sweep whose ledger is DynamoDB in moto on loopback.

use aws_sdk_bedrock::operation::get_imported_model::GetImportedModelOutput;
use aws_sdk_bedrock::operation::list_imported_models::ListImportedModelsOutput;
use aws_sdk_bedrock::operation::list_model_import_jobs::ListModelImportJobsOutput;
use aws_sdk_bedrock::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_bedrock::types::error::ResourceNotFoundException;
use aws_sdk_bedrock::types::{CustomModelUnits, ImportedModelSummary, ModelImportJobStatus, Tag};
use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::Datapoint;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::DateTime;
use ferry_aws::{BedrockImports, CloudWatchUsage};
use ferry_core::track::{ModelRegistry, Usage};

const MODEL: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";

#[tokio::test]
async fn imported_models_are_read_with_details_and_tags() {
    let get = mock!(aws_sdk_bedrock::Client::get_imported_model)
        .match_requests(|r| r.model_identifier() == Some(MODEL))
        .then_output(|| {
            GetImportedModelOutput::builder()
                .model_arn(MODEL)
                .model_name("llama-20261122-abcdef12")
                .model_architecture("LlamaForCausalLM")
                .creation_time(DateTime::from_secs(1_700_000_000))
                .custom_model_units(
                    CustomModelUnits::builder()
                        .custom_model_units_per_model_copy(2)
                        .build(),
                )
                .build()
        });
    let missing = mock!(aws_sdk_bedrock::Client::get_imported_model)
        .match_requests(|r| r.model_identifier() == Some("gone"))
        .then_error(|| {
            aws_sdk_bedrock::operation::get_imported_model::GetImportedModelError::ResourceNotFoundException(
                ResourceNotFoundException::builder().message("no model").build(),
            )
        });
    let list = mock!(aws_sdk_bedrock::Client::list_imported_models).then_output(|| {
        ListImportedModelsOutput::builder()
            .model_summaries(
                ImportedModelSummary::builder()
                    .model_arn(MODEL)
                    .model_name("llama-20261122-abcdef12")
                    .creation_time(DateTime::from_secs(1_700_000_000))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let tags = mock!(aws_sdk_bedrock::Client::list_tags_for_resource)
        .match_requests(|r| r.resource_arn() == Some(MODEL))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    Tag::builder()
                        .key("ferry:protect")
                        .value("true")
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let delete = mock!(aws_sdk_bedrock::Client::delete_imported_model)
        .match_requests(|r| r.model_identifier() == Some(MODEL))
        .then_output(|| {
            aws_sdk_bedrock::operation::delete_imported_model::DeleteImportedModelOutput::builder()
                .build()
        });
    let bedrock = BedrockImports::new(mock_client!(
        aws_sdk_bedrock,
        RuleMode::MatchAny,
        [&get, &missing, &list, &tags, &delete]
    ));
    let model = bedrock.get_model(MODEL).await.unwrap().unwrap();
    assert_eq!(model.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(model.custom_model_units, Some(2));
    assert_eq!(model.created_at, 1_700_000_000);
    assert_eq!(bedrock.get_model("gone").await.unwrap(), None);
    let models = bedrock.list_models().await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].tag("ferry:protect"), Some("true"));
    bedrock.delete_model(MODEL).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(tags.num_calls(), 1);
}

#[tokio::test]
async fn usage_sums_the_daily_invocations_of_the_model() {
    let stats = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .match_requests(|r| {
            r.namespace() == Some("AWS/Bedrock")
                && r.metric_name() == Some("Invocations")
                && r.dimensions()
                    .iter()
                    .any(|d| d.name() == Some("ModelId") && d.value() == Some(MODEL))
                && r.period() == Some(86_400)
                && r.start_time().map(|t| t.secs()) == Some(1_000_000)
                && r.end_time().map(|t| t.secs()) == Some(2_209_600)
        })
        .then_output(|| {
            GetMetricStatisticsOutput::builder()
                .datapoints(Datapoint::builder().sum(3.0).build())
                .datapoints(Datapoint::builder().sum(4.0).build())
                .build()
        });
    let usage = CloudWatchUsage::new(mock_client!(aws_sdk_cloudwatch, [&stats]));
    assert_eq!(
        usage
            .invocations(MODEL, 1_000_000, 2_209_600)
            .await
            .unwrap(),
        7
    );
    assert_eq!(stats.num_calls(), 1);
}

#[tokio::test]
async fn recent_jobs_list_newest_first_for_status() {
    let jobs = mock!(aws_sdk_bedrock::Client::list_model_import_jobs)
        .match_requests(|r| r.max_results() == Some(5))
        .then_output(|| {
            ListModelImportJobsOutput::builder()
                .model_import_job_summaries(
                    aws_sdk_bedrock::types::ModelImportJobSummary::builder()
                        .job_arn(
                            "arn:aws:bedrock:us-east-1:777788889999:model-import-job/aaaaaaaaaaaa",
                        )
                        .job_name("m-20261122-abcdef12")
                        .status(ModelImportJobStatus::Completed)
                        .creation_time(DateTime::from_secs(1_700_000_000))
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let bedrock = BedrockImports::new(mock_client!(aws_sdk_bedrock, [&jobs]));
    let listed = bedrock.recent_jobs(5).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, 1_700_000_000);
}

/// A sweep over the real adapters: the ledger in DynamoDB and alerts on SNS (moto),
/// Bedrock and CloudWatch mocked. A completed job is recorded with its model's
/// details, announced, and the queued import starts.
#[tokio::test]
async fn a_sweep_over_dynamodb_and_sns_records_the_end_and_starts_the_queue() {
    use aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobOutput;
    use ferry_aws::{BedrockRuntime, DynamoLedger, EventBridgeBus, SnsAlerts, SsmReleasePointer};
    use ferry_core::import::{Hosting, ImportState, Ledger, LedgerItem};
    use ferry_core::track::{sweep, Tracker, TrackerConfig};

    struct Current;
    impl ferry_core::import::ContentCheck for Current {
        async fn still_current(
            &self,
            _: &LedgerItem,
        ) -> Result<bool, ferry_core::import::PortError> {
            Ok(true)
        }
    }
    struct NoDiagnosis;
    impl ferry_core::track::Diagnose for NoDiagnosis {
        async fn diagnose(&self, _: &LedgerItem) -> Option<String> {
            None
        }
    }

    let moto = ferry_testkit::moto::MotoServer::start().unwrap();
    let sdk = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    ferry_testkit::hosting::create_ledger_table(&dynamo, "ferry-ledger")
        .await
        .unwrap();
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("ferry-alerts")
        .send()
        .await
        .unwrap();
    let ledger = DynamoLedger::new(dynamo, "ferry-ledger");
    let now = ferry_aws::clock::now_secs();
    let job_arn = "arn:aws:bedrock:us-east-1:777788889999:model-import-job/aaaaaaaaaaaa";
    let base = LedgerItem {
        submitted_at: Some(now - 900),
        job_arn: Some(job_arn.into()),
        attempts: 1,
        ..LedgerItem::new(
            "fp-a",
            ImportState::Submitted,
            "s3://research/fine-tunes/a/",
            "a",
            "a-20261122-aaaaaaaa",
            now - 900,
        )
    };
    ledger.insert_new(&base).await.unwrap();
    let queued = LedgerItem::new(
        "fp-b",
        ImportState::Pending,
        "s3://research/fine-tunes/b/",
        "b",
        "b-20261122-bbbbbbbb",
        now - 900,
    );
    ledger.insert_new(&queued).await.unwrap();

    let get_job = mock!(aws_sdk_bedrock::Client::get_model_import_job)
        .match_requests(move |r| r.job_identifier() == Some(job_arn))
        .then_output(move || {
            aws_sdk_bedrock::operation::get_model_import_job::GetModelImportJobOutput::builder()
                .job_arn(job_arn)
                .job_name("a-20261122-aaaaaaaa")
                .status(ModelImportJobStatus::Completed)
                .imported_model_arn(MODEL)
                .build()
        });
    let get_model = mock!(aws_sdk_bedrock::Client::get_imported_model).then_output(|| {
        GetImportedModelOutput::builder()
            .model_arn(MODEL)
            .model_architecture("MistralForCausalLM")
            .custom_model_units(
                CustomModelUnits::builder()
                    .custom_model_units_per_model_copy(1)
                    .build(),
            )
            .build()
    });
    let running = mock!(aws_sdk_bedrock::Client::list_model_import_jobs)
        .then_output(|| ListModelImportJobsOutput::builder().build());
    let models = mock!(aws_sdk_bedrock::Client::list_imported_models)
        .then_output(|| ListImportedModelsOutput::builder().build());
    let create = mock!(aws_sdk_bedrock::Client::create_model_import_job)
        .match_requests(|r| r.job_name() == Some("b-20261122-bbbbbbbb"))
        .then_output(|| {
            CreateModelImportJobOutput::builder()
                .job_arn("arn:aws:bedrock:us-east-1:777788889999:model-import-job/bbbbbbbbbbbb")
                .build()
                .unwrap()
        });
    let bedrock = BedrockImports::new(mock_client!(
        aws_sdk_bedrock,
        RuleMode::MatchAny,
        [&get_job, &get_model, &running, &models, &create]
    ));
    let stats = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .then_output(|| GetMetricStatisticsOutput::builder().build());
    // A Mistral model's answer to its smoke request.
    let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model).then_output(|| {
        aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput::builder()
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(
                r#"{"outputs":[{"text":" ready","stop_reason":"stop"}]}"#,
            ))
            .content_type("application/json")
            .build()
            .unwrap()
    });
    let tracker = Tracker {
        hosting: Hosting {
            ledger: ledger.clone(),
            imports: bedrock.clone(),
            alerts: SnsAlerts::new(aws_sdk_sns::Client::new(&sdk), topic.topic_arn().unwrap()),
            events: EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk)),
            clock: ferry_aws::clock::now_secs,
        },
        models: bedrock,
        usage: CloudWatchUsage::new(mock_client!(aws_sdk_cloudwatch, [&stats])),
        content: Current,
        diagnose: NoDiagnosis,
        runtime: BedrockRuntime::new(mock_client!(aws_sdk_bedrockruntime, [&invoke])),
        pointer: SsmReleasePointer::new(aws_sdk_ssm::Client::new(&sdk), "/ferry"),
    };
    let config = TrackerConfig::from_env(|k| {
        match k {
            "FERRY_LEDGER_TABLE" => Some("ferry-ledger"),
            "FERRY_ALERT_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:ferry-alerts"),
            "FERRY_EXECUTION_ROLE_ARN" => Some("arn:aws:iam::777788889999:role/Exec"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let report = sweep(&tracker, &config, now).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.completed, ["a-20261122-aaaaaaaa"]);
    let a = ledger.get("fp-a").await.unwrap().unwrap();
    assert_eq!(a.state, ImportState::Completed);
    assert_eq!(a.architecture.as_deref(), Some("MistralForCausalLM"));
    assert_eq!(a.model_arn.as_deref(), Some(MODEL));
    assert!(a.alerted, "the completion notice went out on SNS");
    let b = ledger.get("fp-b").await.unwrap().unwrap();
    assert_eq!(b.state, ImportState::Submitted);
    assert_eq!(create.num_calls(), 1);
    assert_eq!(stats.num_calls(), 0, "no usage read without quota pressure");
}
