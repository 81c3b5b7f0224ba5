//! The unmodified aws-sdk-bedrock client against the emulator: the wire format, the
//! documented refusals, the one-job slot, the models quota, pagination, faults, and a
//! job that reads (or cannot read) its artifacts from moto as the passed role.

use std::time::Duration;

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource, Tag};
use aws_sdk_bedrock::Client;
use ferry_bedrock_emulator::{ArtifactSource, Config, Emulator, Fault, FaultKind};

mod common;

const ROLE: &str = "arn:aws:iam::777788889999:role/FerryBedrockImportExecution";

async fn client(emulator: &Emulator) -> Client {
    let config = aws_sdk_bedrock::config::Builder::from(&common::sdk_config(emulator))
        // Faults are asserted on; the SDK's own retries would hide them.
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn quick(duration_ms: u64) -> Config {
    Config {
        job_duration: Duration::from_millis(duration_ms),
        ..Config::default()
    }
}

fn source(uri: &str) -> ModelDataSource {
    ModelDataSource::S3DataSource(S3DataSource::builder().s3_uri(uri).build().unwrap())
}

async fn create(
    client: &Client,
    job: &str,
    model: &str,
    token: Option<&str>,
) -> Result<String, String> {
    client
        .create_model_import_job()
        .job_name(job)
        .imported_model_name(model)
        .role_arn(ROLE)
        .model_data_source(source("s3://model-artifacts-111122223333/models/llama/"))
        .set_client_request_token(token.map(str::to_owned))
        .imported_model_tags(
            Tag::builder()
                .key("ferry:source")
                .value("s3://x/models/llama/")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|out| out.job_arn().to_owned())
        .map_err(|e| {
            let service = e.into_service_error();
            format!(
                "{}: {}",
                service.meta().code().unwrap_or("?"),
                service.meta().message().unwrap_or("")
            )
        })
}

async fn wait_for_end(client: &Client, job: &str) -> ModelImportJobStatus {
    for _ in 0..1000 {
        let out = client
            .get_model_import_job()
            .job_identifier(job)
            .send()
            .await
            .unwrap();
        let status = out.status().cloned().unwrap();
        if status != ModelImportJobStatus::InProgress {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{job} never ended");
}

#[tokio::test]
async fn one_job_at_a_time_then_a_model_with_its_tags() {
    let emulator = Emulator::start(quick(3000), 0).await.unwrap();
    let client = client(&emulator).await;
    let arn = create(&client, "job-1", "model-1", Some("token1"))
        .await
        .unwrap();
    assert!(
        arn.starts_with("arn:aws:bedrock:us-east-1:777788889999:model-import-job/"),
        "{arn}"
    );
    let id = arn.rsplit('/').next().unwrap();
    assert!(
        id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );

    // The same token again is the same request; a second job waits for the slot.
    assert_eq!(
        create(&client, "job-1", "model-1", Some("token1"))
            .await
            .unwrap(),
        arn
    );
    let busy = create(&client, "job-2", "model-2", None).await.unwrap_err();
    assert!(busy.starts_with("ServiceQuotaExceededException"), "{busy}");

    let running = client
        .list_model_import_jobs()
        .status_equals(ModelImportJobStatus::InProgress)
        .send()
        .await
        .unwrap();
    assert_eq!(running.model_import_job_summaries().len(), 1);

    assert_eq!(
        wait_for_end(&client, &arn).await,
        ModelImportJobStatus::Completed
    );
    let job = client
        .get_model_import_job()
        .job_identifier("job-1")
        .send()
        .await
        .unwrap();
    let model_arn = job.imported_model_arn().unwrap().to_owned();
    assert!(job.end_time().is_some());
    let model = client
        .get_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_name(), Some("model-1"));
    assert_eq!(
        model
            .custom_model_units()
            .and_then(|u| u.custom_model_units_per_model_copy()),
        Some(1)
    );
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&model_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "ferry:source");

    // Names are taken: the job's and the model's.
    let again = create(&client, "job-1", "model-9", None).await.unwrap_err();
    assert!(again.starts_with("ConflictException"), "{again}");
    let again = create(&client, "job-9", "model-1", None).await.unwrap_err();
    assert!(again.starts_with("ConflictException"), "{again}");

    client
        .delete_imported_model()
        .model_identifier("model-1")
        .send()
        .await
        .unwrap();
    let gone = client
        .get_imported_model()
        .model_identifier("model-1")
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn documented_patterns_are_refused_with_validation_exception() {
    let emulator = Emulator::start(quick(10), 0).await.unwrap();
    let client = client(&emulator).await;
    for (job, model) in [
        ("-bad", "model"),
        ("job", "two--dashes"),
        ("job", "dots.not.allowed"),
    ] {
        let err = create(&client, job, model, None).await.unwrap_err();
        assert!(err.starts_with("ValidationException"), "{err}");
    }
    let err = client
        .create_model_import_job()
        .job_name("job")
        .imported_model_name("model")
        .role_arn("arn:aws:iam::111122223333:role/Elsewhere")
        .model_data_source(source("s3://bucket/models/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_validation_exception());
    let err = client
        .create_model_import_job()
        .job_name("job")
        .imported_model_name("model")
        .role_arn(ROLE)
        .model_data_source(source("s3://bucket/my model/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_validation_exception());
}

#[tokio::test]
async fn the_imported_models_quota_refuses_a_new_job() {
    let emulator = Emulator::start(
        Config {
            imported_models_quota: 2,
            ..quick(10)
        },
        0,
    )
    .await
    .unwrap();
    let client = client(&emulator).await;
    for n in 0..2 {
        let arn = create(&client, &format!("job-{n}"), &format!("model-{n}"), None)
            .await
            .unwrap();
        wait_for_end(&client, &arn).await;
    }
    let err = create(&client, "job-2", "model-2", None).await.unwrap_err();
    assert!(
        err.starts_with("ServiceQuotaExceededException") && err.contains("imported models"),
        "{err}"
    );
}

#[tokio::test]
async fn lists_filter_sort_and_paginate() {
    let emulator = Emulator::start(
        Config {
            imported_models_quota: 10,
            ..quick(0)
        },
        0,
    )
    .await
    .unwrap();
    let client = client(&emulator).await;
    for n in 0..7 {
        let arn = create(&client, &format!("ferry-{n}"), &format!("m-{n}"), None)
            .await
            .unwrap();
        wait_for_end(&client, &arn).await;
        // Distinct creation seconds are not needed: the order is stable.
    }
    let pages: Vec<_> = client
        .list_model_import_jobs()
        .max_results(3)
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let names: Vec<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.unwrap()
                .model_import_job_summaries()
                .iter()
                .map(|j| j.job_name().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        names,
        (0..7).map(|n| format!("ferry-{n}")).collect::<Vec<_>>()
    );
    let named = client
        .list_model_import_jobs()
        .name_contains("ferry-3")
        .send()
        .await
        .unwrap();
    assert_eq!(named.model_import_job_summaries().len(), 1);
    let models = client
        .list_imported_models()
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(models.model_summaries().len(), 5);
    assert!(models.next_token().is_some());
    let bad = client
        .list_model_import_jobs()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert!(bad.into_service_error().is_validation_exception());
}

#[tokio::test]
async fn injected_faults_throttle_and_fail() {
    let emulator = Emulator::start(quick(0), 0).await.unwrap();
    emulator.set_faults(vec![
        Fault {
            kind: FaultKind::Throttling,
            every: 2,
        },
        Fault {
            kind: FaultKind::Internal,
            every: 3,
        },
    ]);
    let client = client(&emulator).await;
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let result = client.list_imported_models().send().await;
        outcomes.push(match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e
                .into_service_error()
                .meta()
                .code()
                .unwrap_or("?")
                .to_owned(),
        });
    }
    assert_eq!(
        outcomes,
        [
            "ok",
            "ThrottlingException",
            "InternalServerException",
            "ThrottlingException",
            "ok",
            "ThrottlingException"
        ]
    );
    assert_eq!(emulator.counters().0["fault"], 4);
}

#[tokio::test]
async fn a_job_reads_its_artifacts_as_the_role_or_fails_as_aws_does() {
    let moto = ferry_testkit::moto::MotoServer::start().unwrap();
    let research = moto.sdk_config().await;
    let s3 = ferry_testkit::s3::s3_client(&research);
    ferry_testkit::s3::create_bucket(&s3, "model-artifacts")
        .await
        .unwrap();
    let folder = tempfile_folder();
    ferry_testkit::s3::upload_dir(&s3, "model-artifacts", "models/llama/", folder.path())
        .await
        .unwrap();

    let emulator = Emulator::start(
        Config {
            artifacts: Some(ArtifactSource {
                endpoint: moto.endpoint(),
            }),
            ..quick(50)
        },
        0,
    )
    .await
    .unwrap();
    let client = client(&emulator).await;
    let good = client
        .create_model_import_job()
        .job_name("good")
        .imported_model_name("good")
        .role_arn(ROLE)
        .model_data_source(source("s3://model-artifacts/models/llama/"))
        .send()
        .await
        .unwrap();
    let status = wait_for_end(&client, good.job_arn()).await;
    let job = client
        .get_model_import_job()
        .job_identifier("good")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status,
        ModelImportJobStatus::Completed,
        "{:?}",
        job.failure_message()
    );
    let model = client
        .get_imported_model()
        .model_identifier("good")
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_architecture(), Some("LlamaForCausalLM"));

    let missing = client
        .create_model_import_job()
        .job_name("missing")
        .imported_model_name("missing")
        .role_arn(ROLE)
        .model_data_source(source("s3://no-such-bucket/models/llama/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wait_for_end(&client, missing.job_arn()).await,
        ModelImportJobStatus::Failed
    );
    let job = client
        .get_model_import_job()
        .job_identifier("missing")
        .send()
        .await
        .unwrap();
    assert_eq!(
        job.failure_message(),
        Some("Amazon Bedrock does not have access to the S3 location (s3://no-such-bucket/models/llama). Update the permissions and try again.")
    );
}

fn tempfile_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(dir.path(), &family, 2).unwrap();
    dir
}

/// A client with the credentials of `role_arn`, assumed through moto's STS.
async fn client_as(
    moto: &ferry_testkit::moto::MotoServer,
    emulator: &Emulator,
    role_arn: &str,
) -> Client {
    let base = moto.sdk_config().await;
    let assumed = ferry_testkit::hosting::assumed(&base, role_arn)
        .await
        .unwrap();
    let config = aws_sdk_bedrock::config::Builder::from(&assumed)
        .endpoint_url(emulator.endpoint())
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

#[tokio::test]
async fn each_account_has_its_own_slot_models_and_arns() {
    const STAGING: &str = "555566667777";
    let moto = ferry_testkit::moto::MotoServer::start().unwrap();
    let emulator = Emulator::start(
        Config {
            other_accounts: vec![STAGING.into()],
            artifacts: Some(ArtifactSource {
                endpoint: moto.endpoint(),
            }),
            ..quick(60_000)
        },
        0,
    )
    .await
    .unwrap();
    let dev = client_as(&moto, &emulator, "arn:aws:iam::777788889999:role/Deployer").await;
    let staging = client_as(
        &moto,
        &emulator,
        &format!("arn:aws:iam::{STAGING}:role/Deployer"),
    )
    .await;
    let staging_role = format!("arn:aws:iam::{STAGING}:role/FerryBedrockImportExecution");

    let in_dev = create(&dev, "job", "model", None).await.unwrap();
    assert!(in_dev.contains(":777788889999:"), "{in_dev}");
    // The same names in another account, while dev's job runs: its own slot.
    let in_staging = staging
        .create_model_import_job()
        .job_name("job")
        .imported_model_name("model")
        .role_arn(&staging_role)
        .model_data_source(source("s3://model-artifacts/models/llama/"))
        .send()
        .await
        .unwrap();
    assert!(in_staging.job_arn().contains(&format!(":{STAGING}:")));
    assert_eq!(emulator.jobs_in(STAGING).len(), 1);
    assert_eq!(emulator.jobs().len(), 1);
    // Each account's second job waits for its own slot.
    let busy = create(&dev, "job-2", "model-2", None).await.unwrap_err();
    assert!(busy.starts_with("ServiceQuotaExceededException"), "{busy}");
    // A role of another account is not passed.
    let crossed = staging
        .create_model_import_job()
        .job_name("job-3")
        .imported_model_name("model-3")
        .role_arn(ROLE)
        .model_data_source(source("s3://model-artifacts/models/llama/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crossed.into_service_error().meta().code(),
        Some("ValidationException")
    );
    // moto's default account is not served.
    let other = client(&emulator).await;
    let denied = other.list_model_import_jobs().send().await.unwrap_err();
    assert_eq!(
        denied.into_service_error().meta().code(),
        Some("AccessDeniedException")
    );
}
