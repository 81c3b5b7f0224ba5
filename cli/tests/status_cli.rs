//! `ferry status` against moto on loopback: the ledger as a table and as JSON; an
//! unreachable Bedrock is reported and the ledger still shown.

use assert_cmd::Command;
use ferry_core::import::{ImportState, Ledger, LedgerItem};
use ferry_testkit::hosting::create_ledger_table;
use ferry_testkit::moto::MotoServer;
use serde_json::Value;

fn item(name: &str, state: ImportState, failure: Option<&str>) -> LedgerItem {
    LedgerItem {
        updated_at: 0,
        failure: failure.map(str::to_owned),
        ..LedgerItem::new(
            format!("fp-{name}"),
            state,
            format!("s3://research/fine-tunes/{name}/"),
            name,
            format!("{name}-20261122-abcdef12"),
            ferry_aws::clock::now_secs() - 7200,
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_every_ledger_item_even_without_bedrock() {
    let moto = MotoServer::start().unwrap();
    let sdk = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    create_ledger_table(&dynamo, "ferry-ledger").await.unwrap();
    let ledger = ferry_aws::DynamoLedger::new(dynamo, "ferry-ledger");
    ledger
        .insert_new(&item("llama", ImportState::Pending, None))
        .await
        .unwrap();
    ledger
        .insert_new(&item(
            "gpt2",
            ImportState::Rejected,
            Some("error unsupported-architecture: GPT2LMHeadModel\nmore"),
        ))
        .await
        .unwrap();
    let run = |format: &str| {
        Command::cargo_bin("ferry")
            .unwrap()
            .args(["status", "--format", format])
            .env("FERRY_LEDGER_TABLE", "ferry-ledger")
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ENDPOINT_URL_BEDROCK", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    };
    let out = run("text");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "Bedrock unreachable: {text}");
    assert!(text.contains("llama"), "{text}");
    assert!(text.contains("Pending"), "{text}");
    assert!(text.contains("Rejected"), "{text}");
    assert!(
        text.contains("error unsupported-architecture: GPT2LMHeadModel"),
        "{text}"
    );
    assert!(!text.contains("more"), "first line only: {text}");
    assert!(
        text.contains("could not list the account's import jobs"),
        "{text}"
    );
    let out = run("json");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items"].as_array().unwrap().len(), 2);
    assert!(report["jobs_error"].is_string());
}
