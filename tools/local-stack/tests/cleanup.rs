//! Cleanup against the local stack with the real tracker: models that Bedrock reports
//! 30 days old and that nobody invoked; the dry run plans, the real run deletes only
//! the older version of a folder, keeps the newest of each, and records and announces
//! the deletion.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Options};
use serde_json::{json, Value};

const CALL: Duration = Duration::from_secs(60);

async fn import(
    stack: &LocalStack,
    importer: &mut LocalLambda,
    tracker: &mut LocalLambda,
    name: &str,
    shards: usize,
) {
    let objects = stack
        .upload_fixture(name, "llama-3.1", shards)
        .await
        .unwrap();
    let outcome = importer
        .invoke(stack.upload_events(&objects), CALL)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    for _ in 0..100 {
        let _ = tracker
            .invoke(json!({"action": "sweep"}), CALL)
            .await
            .unwrap();
        if stack
            .emulator
            .jobs()
            .iter()
            .all(|(_, status)| status == "Completed")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{name} never completed: {:?}", stack.emulator.jobs());
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("tracker failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_only_what_its_rules_allow() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(1200),
        backdate: Duration::from_secs(30 * 86_400),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut importer = stack.start_importer(&[]).await.unwrap();
    // Nothing released: the rules alone decide (releases are kept whatever the rules
    // say, see smoke_release.rs).
    let mut tracker = stack
        .start_tracker(&[("FERRY_CLEANUP", "on"), ("FERRY_RELEASE", "manual")])
        .await
        .unwrap();

    import(&stack, &mut importer, &mut tracker, "alpha", 1).await;
    import(&stack, &mut importer, &mut tracker, "beta", 1).await;
    // New content in alpha's folder: a second version of the same model.
    import(&stack, &mut importer, &mut tracker, "alpha", 2).await;
    let models: BTreeSet<String> = stack.emulator.imported_models().into_iter().collect();
    assert_eq!(models.len(), 3, "{models:?}");
    let _ = stack.alerts().await.unwrap();

    let plan = response(
        tracker
            .invoke(json!({"action": "cleanup", "dry_run": true}), CALL)
            .await
            .unwrap(),
    );
    let to_delete: Vec<String> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["delete"] == true)
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to_delete.len(), 1, "{plan:#}");
    assert!(to_delete[0].starts_with("alpha-"), "{plan:#}");
    assert_eq!(
        stack.emulator.imported_models().len(),
        3,
        "a dry run deletes nothing"
    );

    let report = response(
        tracker
            .invoke(json!({"action": "cleanup"}), CALL)
            .await
            .unwrap(),
    );
    let left: BTreeSet<String> = stack.emulator.imported_models().into_iter().collect();
    assert_eq!(left.len(), 2, "{report:#}");
    assert!(!left.contains(&to_delete[0]));
    assert!(left.iter().any(|m| m.starts_with("beta-")));
    assert!(
        left.iter().any(|m| m.starts_with("alpha-")),
        "the newest alpha stays"
    );
    let alerts = stack.alerts().await.unwrap();
    assert!(
        alerts.iter().any(|a| a.contains(&to_delete[0])),
        "{alerts:#?}"
    );
}
