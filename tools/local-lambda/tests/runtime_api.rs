//! The real tracker binary under the local Runtime API: init is measured, the process
//! is reused for the next event, a handler error comes back as Lambda's error document,
//! and a killed process is started again.

use std::time::Duration;

use ferry_local_lambda::{workspace_binary, LocalLambda, Outcome};
use serde_json::json;

fn tracker_env() -> Vec<(String, String)> {
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
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        // Nothing listens here: these invocations never reach AWS.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

#[tokio::test]
async fn a_real_function_runs_warm_fails_cleanly_and_restarts() {
    let binary = workspace_binary("ferry-tracker").unwrap();
    let mut lambda = LocalLambda::start("ferry-tracker").await.unwrap();
    lambda.spawn(&binary, &tracker_env()).unwrap();
    let init = lambda.wait_ready(Duration::from_secs(20)).await.unwrap();
    assert!(init > Duration::ZERO);
    let pid = lambda.pid();

    for _ in 0..2 {
        let outcome = lambda
            .invoke(json!({"action": "defrag"}), Duration::from_secs(20))
            .await
            .unwrap();
        let Outcome::Error(error) = outcome else {
            panic!("expected an error, got {outcome:?}");
        };
        assert!(
            error["errorMessage"]
                .as_str()
                .unwrap_or("")
                .contains("\"action\" must be"),
            "{error}"
        );
    }
    assert_eq!(lambda.pid(), pid, "one warm process served both events");

    lambda.kill().await;
    lambda.respawn().unwrap();
    lambda.wait_ready(Duration::from_secs(20)).await.unwrap();
    assert_ne!(lambda.pid(), pid);
    let outcome = lambda
        .invoke(
            json!({"action": "cleanup", "dry_run": "yes"}),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
}
