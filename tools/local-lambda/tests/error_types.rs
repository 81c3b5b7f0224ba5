//! The errorTypes Ferry's functions report (`ferry_lambda::ErrorType`, the README's
//! "Errors" table), read back from the local Runtime API as Lambda receives them: an
//! invalid configuration through `init/error` (the process then exits, so nothing waits
//! for it), handler failures through `invocation/{id}/error`. Nothing listens on the
//! AWS endpoint: every call fails at once.

use std::time::Duration;

use ferry_local_lambda::{workspace_binary, LocalLambda, Outcome};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);

fn aws_env() -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

fn importer_env() -> Vec<(String, String)> {
    let mut env = aws_env();
    env.extend(
        [
            (
                "FERRY_WATCH_PREFIXES",
                "s3://model-artifacts-111122223333/fine-tunes/",
            ),
            (
                "FERRY_HOSTING_ROLE_ARN",
                "arn:aws:iam::777788889999:role/FerryAutomation",
            ),
            ("FERRY_EXTERNAL_ID", "ferry-test"),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/FerryBedrockImportExecution",
            ),
            ("FERRY_LEDGER_TABLE", "ferry-ledger"),
            (
                "FERRY_ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

fn tracker_env() -> Vec<(String, String)> {
    let mut env = aws_env();
    env.extend(
        [
            ("FERRY_LEDGER_TABLE", "ferry-ledger"),
            (
                "FERRY_ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:777788889999:ferry-alerts",
            ),
            (
                "FERRY_EXECUTION_ROLE_ARN",
                "arn:aws:iam::777788889999:role/FerryBedrockImportExecution",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}

async fn started(name: &str, env: &[(String, String)]) -> LocalLambda {
    let mut lambda = LocalLambda::start(name).await.unwrap();
    lambda.spawn(&workspace_binary(name).unwrap(), env).unwrap();
    lambda.wait_ready(TIMEOUT).await.unwrap();
    lambda
}

/// Invokes and returns the error document's (errorType, errorMessage).
async fn error_of(lambda: &mut LocalLambda, event: Value) -> (String, String) {
    match lambda.invoke(event, TIMEOUT).await.unwrap() {
        Outcome::Error(error) => (
            error["errorType"].as_str().unwrap_or_default().to_owned(),
            error["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        Outcome::Response(response) => panic!("expected an error, got {response}"),
    }
}

#[tokio::test]
async fn an_invalid_configuration_reaches_init_error_and_the_process_exits() {
    for (name, env) in [
        (
            "ferry-importer",
            with(importer_env(), "FERRY_ACCESS_CHECK", "maybe"),
        ),
        (
            "ferry-tracker",
            with(tracker_env(), "FERRY_LEDGER_TABLE", ""),
        ),
    ] {
        let mut lambda = LocalLambda::start(name).await.unwrap();
        lambda
            .spawn(&workspace_binary(name).unwrap(), &env)
            .unwrap();
        let started = std::time::Instant::now();
        let failure = lambda.wait_ready(TIMEOUT).await.unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {failure}"
        );
        let document = lambda.init_error().expect("init/error was posted");
        assert_eq!(
            document["errorType"], "Ferry.InvalidConfig",
            "{name}: {document}"
        );
        let message = document["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("invalid configuration"),
            "{name}: {message}"
        );
        let culprit = if name == "ferry-importer" {
            "FERRY_ACCESS_CHECK"
        } else {
            "FERRY_LEDGER_TABLE"
        };
        assert!(message.contains(culprit), "{name}: {message}");
        // Init over: the process reported and exited rather than waiting for events.
        let deadline = std::time::Instant::now() + TIMEOUT;
        while lambda.pid().is_some() && std::time::Instant::now() < deadline {
            if let Err(exited) = lambda.invoke(json!({}), Duration::from_millis(200)).await {
                assert!(exited.to_string().contains("exited"), "{exited}");
                break;
            }
        }
    }
}

#[tokio::test]
async fn importer_failures_carry_their_error_types() {
    let mut importer = started("ferry-importer", &importer_env()).await;

    let (kind, message) = error_of(&mut importer, json!({"Records": "none"})).await;
    assert_eq!(kind, "Ferry.MalformedEvent", "{message}");

    // events/s3-put.json: the folder cannot be listed.
    let (kind, message) = error_of(&mut importer, sample("s3-put.json")).await;
    assert_eq!(kind, "Ferry.SourceRead", "{message}");
    assert!(message.contains("llama-3.1-8b-ft(v2)"), "{message}");

    // An SQS batch whose every message fails: the invocation fails too.
    let mut batch = sample("sqs-batch.json");
    let records = batch["Records"].as_array_mut().unwrap();
    records.truncate(2);
    let (kind, message) = error_of(&mut importer, batch).await;
    assert_eq!(kind, "Ferry.BatchFailed", "{message}");
    assert!(message.contains("all 2 message(s)"), "{message}");
}

#[tokio::test]
async fn tracker_failures_carry_their_error_types() {
    let mut tracker = started("ferry-tracker", &tracker_env()).await;

    let (kind, message) = error_of(&mut tracker, json!({"action": "defrag"})).await;
    assert_eq!(kind, "Ferry.MalformedEvent", "{message}");

    // A sweep that reaches neither the ledger nor Bedrock gets none of its work done.
    let (kind, message) = error_of(&mut tracker, sample("tracker-sweep.json")).await;
    assert_eq!(kind, "Ferry.SweepFailed", "{message}");

    // Cleanup cannot list the imported models.
    let (kind, message) = error_of(&mut tracker, sample("tracker-cleanup-dry-run.json")).await;
    assert_eq!(kind, "Ferry.HostingAccess", "{message}");
}
