//! `ferry import` end to end against moto: S3 in the research account, STS into the
//! hosting account, the ledger in DynamoDB and alerts on SNS there.

use assert_cmd::Command;
use ferry_testkit::families::family;
use ferry_testkit::fixtures::write_model;
use ferry_testkit::hosting::{assumed, create_ledger_table};
use ferry_testkit::moto::MotoServer;
use ferry_testkit::s3::{create_bucket, upload_dir};
use serde_json::Value;

const HOSTING_ROLE: &str = "arn:aws:iam::777788889999:role/FerryAutomation";

struct Stack {
    moto: MotoServer,
    topic_arn: String,
    hosting: aws_config::SdkConfig,
}

async fn stack() -> Stack {
    let moto = MotoServer::start().unwrap();
    let research = moto.sdk_config().await;
    create_bucket(
        &ferry_aws::s3_client(&research),
        "model-artifacts-111122223333",
    )
    .await
    .unwrap();
    let hosting = assumed(&research, HOSTING_ROLE).await.unwrap();
    create_ledger_table(&aws_sdk_dynamodb::Client::new(&hosting), "ferry-ledger")
        .await
        .unwrap();
    let topic = aws_sdk_sns::Client::new(&hosting)
        .create_topic()
        .name("ferry-alerts")
        .send()
        .await
        .unwrap();
    Stack {
        moto,
        topic_arn: topic.topic_arn().unwrap().to_owned(),
        hosting,
    }
}

async fn upload(stack: &Stack, fam: &str, name: &str) -> String {
    let research = stack.moto.sdk_config().await;
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family(fam), 2).unwrap();
    let prefix = format!("fine-tunes/{name}/");
    upload_dir(
        &ferry_aws::s3_client(&research),
        "model-artifacts-111122223333",
        &prefix,
        dir.path(),
    )
    .await
    .unwrap();
    format!("s3://model-artifacts-111122223333/{prefix}")
}

/// `ferry import` with the access check off: these tests' moto stack holds no chain
/// policies (the access check's own test below installs them).
fn ferry_import(stack: &Stack, uri: &str) -> std::process::Output {
    ferry_import_with(stack, uri, &[("FERRY_ACCESS_CHECK", "off")])
}

fn ferry_import_with(stack: &Stack, uri: &str, env: &[(&str, &str)]) -> std::process::Output {
    Command::cargo_bin("ferry")
        .unwrap()
        .args(["import", "--format", "json", uri])
        .env("AWS_ENDPOINT_URL", stack.moto.endpoint())
        // Bedrock is not in moto: nothing listens here, so any Bedrock call fails.
        .env("AWS_ENDPOINT_URL_BEDROCK", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("FERRY_HOSTING_ROLE_ARN", HOSTING_ROLE)
        .env("FERRY_EXTERNAL_ID", "ferry-test")
        .env(
            "FERRY_EXECUTION_ROLE_ARN",
            "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole",
        )
        .env("FERRY_LEDGER_TABLE", "ferry-ledger")
        .env("FERRY_ALERT_TOPIC_ARN", &stack.topic_arn)
        .env_remove("FERRY_WATCH_PREFIXES")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

async fn ledger_states(stack: &Stack) -> Vec<(String, String, bool)> {
    let out = aws_sdk_dynamodb::Client::new(&stack.hosting)
        .scan()
        .table_name("ferry-ledger")
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| {
            (
                i["slug"].as_s().unwrap().clone(),
                i["state"].as_s().unwrap().clone(),
                i.get("alerted")
                    .and_then(|a| a.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_folder_is_recorded_in_the_hosting_account_and_alerted() {
    let stack = stack().await;
    let uri = upload(&stack, "gpt2", "gpt2-ft").await;
    let out = ferry_import(&stack, &uri);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["decision"], "rejected");
    assert_eq!(
        ledger_states(&stack).await,
        [("gpt2-ft".to_owned(), "Rejected".to_owned(), true)]
    );

    // Again: a duplicate, no second alert.
    let out = ferry_import(&stack, &uri);
    assert_eq!(out.status.code(), Some(0));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (decision["decision"].as_str(), decision["state"].as_str()),
        (Some("duplicate"), Some("Rejected"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_bedrock_fails_loudly_and_loses_nothing() {
    let stack = stack().await;
    let uri = upload(&stack, "qwen3", "qwen3-support").await;
    let out = ferry_import(&stack, &uri);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bedrock:ListModelImportJobs"), "{stderr}");
    assert_eq!(
        ledger_states(&stack).await,
        [("qwen3-support".to_owned(), "Pending".to_owned(), false)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_check_rejects_an_import_the_research_key_would_stop() {
    use ferry_testkit::chain::{install_chain, Mistake, EXECUTION_ROLE};
    let stack = stack().await;
    let chain = install_chain(&stack.moto, Mistake::SourceKeyLacksRole)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 2).unwrap();
    ferry_testkit::s3::upload_dir_encrypted(
        &ferry_aws::s3_client(&chain.research),
        &chain.bucket,
        "fine-tunes/m/",
        dir.path(),
        Some(&chain.source_key),
    )
    .await
    .unwrap();
    let uri = format!("s3://{}/fine-tunes/m/", chain.bucket);
    let out = ferry_import_with(
        &stack,
        &uri,
        &[("FERRY_EXECUTION_ROLE_ARN", EXECUTION_ROLE)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["decision"], "access_denied", "{decision}");
    assert_eq!(decision["denied"], serde_json::json!(["kms-source"]));
    assert_eq!(
        ledger_states(&stack).await,
        [("m".to_owned(), "Rejected".to_owned(), true)]
    );
}
