//! Every AWS call the functions make is granted by the roles Ferry deploys. moto
//! enforces no IAM, so the functions record each request they sign
//! (`FERRY_REQUEST_LOG`), and Ferry's own IAM engine judges every one against the
//! deployment's policies (`ferry_core::grants`): the importer and the tracker through
//! two imports at once (one queued and started by the tracker), a folder validation
//! rejects, a job that fails for lack of access (the tracker's diagnosis reads the
//! chain), a re-import of a folder, the sweeps that follow, and a dry and a real
//! cleanup.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_core::grants::{audit, unused, Grants, Judged, MadeCall};
use ferry_core::iam::matcher::glob;
use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Options, Uploaded};
use serde_json::json;

const CALL: Duration = Duration::from_secs(60);
const RECORD: (&str, &str) = ("FERRY_REQUEST_LOG", "1");

async fn upload(stack: &LocalStack, name: &str, shards: usize) -> Vec<Uploaded> {
    stack
        .upload_fixture(name, "llama-3.1", shards)
        .await
        .unwrap()
}

/// Sweeps until `jobs` jobs exist and every one has ended.
async fn sweep_until_all_ended(stack: &LocalStack, tracker: &mut LocalLambda, jobs: usize) {
    let ended = |status: &str| matches!(status, "Completed" | "Failed");
    for _ in 0..150 {
        // Read before the sweep: a job that ends while the sweep runs is seen ended
        // only by the next one, which must then still run.
        let all = stack.emulator.jobs();
        let all_ended = all.len() == jobs && all.iter().all(|(_, status)| ended(status));
        let outcome = tracker
            .invoke(json!({"action": "sweep"}), CALL)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
        if all_ended {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the jobs never ended: {:?}", stack.emulator.jobs());
}

/// The importer's answer to the upload events of `objects`.
async fn import(
    stack: &LocalStack,
    importer: &mut LocalLambda,
    objects: &[Uploaded],
) -> serde_json::Value {
    let outcome = importer
        .invoke(stack.upload_events(objects), CALL)
        .await
        .unwrap();
    let Outcome::Response(response) = outcome else {
        panic!("importer: {outcome:?}");
    };
    response
}

/// A folder validation rejects (a BERT config): the importer alerts through the
/// automation role.
async fn upload_rejected(stack: &LocalStack, name: &str) -> Vec<Uploaded> {
    let dir = tempfile::tempdir().unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(dir.path(), &family, 1).unwrap();
    let config = dir.path().join("config.json");
    let mut bert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    bert["architectures"] = json!(["BertForMaskedLM"]);
    bert["model_type"] = json!("bert");
    std::fs::write(&config, bert.to_string()).unwrap();
    stack.upload_model(name, dir.path()).await.unwrap()
}

/// Runs the flow with both functions recording, and returns what they called.
async fn recorded_calls(stack: &LocalStack) -> Vec<MadeCall> {
    let mut importer = stack.start_importer(&[RECORD]).await.unwrap();
    let mut tracker = stack
        .start_tracker(&[RECORD, ("FERRY_CLEANUP", "on")])
        .await
        .unwrap();
    let mut both = upload(stack, "alpha", 1).await;
    both.extend(upload(stack, "beta", 1).await);
    import(stack, &mut importer, &both).await;
    sweep_until_all_ended(stack, &mut tracker, 2).await;
    let rejected = upload_rejected(stack, "gamma").await;
    let response = import(stack, &mut importer, &rejected).await;
    assert!(response.to_string().contains("rejected"), "{response}");
    // A job that fails for lack of access: the tracker reads the chain to diagnose it.
    stack.emulator.deny_artifact_reads(true);
    let denied = upload(stack, "delta", 1).await;
    import(stack, &mut importer, &denied).await;
    sweep_until_all_ended(stack, &mut tracker, 3).await;
    stack.emulator.deny_artifact_reads(false);
    let alerts = stack.alerts().await.unwrap().join("\n");
    assert!(
        alerts.contains("not readable from the hosting account")
            && alerts.contains("ferry check --source"),
        "the diagnosis names what only the research account can judge: {alerts}"
    );
    // Two more versions of alpha, each released: the first becomes neither live nor
    // the rollback target, so cleanup may delete it.
    for (shards, jobs) in [(2, 4), (3, 5)] {
        let again = upload(stack, "alpha", shards).await;
        import(stack, &mut importer, &again).await;
        sweep_until_all_ended(stack, &mut tracker, jobs).await;
    }
    for action in [
        json!({"action": "cleanup", "dry_run": true}),
        json!({"action": "cleanup"}),
    ] {
        let outcome = tracker.invoke(action, CALL).await.unwrap();
        assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    }
    assert_eq!(
        stack.emulator.imported_models().len(),
        3,
        "cleanup deleted the first alpha, kept the live one and its previous"
    );
    calls_of(stack, importer, tracker).await
}

/// What both functions recorded, once they have stopped (every line read).
async fn calls_of(
    stack: &LocalStack,
    mut importer: LocalLambda,
    mut tracker: LocalLambda,
) -> Vec<MadeCall> {
    let d = &stack.deployment;
    let importer_logs = importer.stop_and_take_logs().await;
    let tracker_logs = tracker.stop_and_take_logs().await;
    let marked = importer_logs
        .iter()
        .chain(&tracker_logs)
        .filter(|l| l.contains("\"ferry_request\""))
        .count();
    let mut calls = ferry_aws::request_log::read(
        "importer",
        &d.importer_role_arn(),
        importer_logs.iter().map(String::as_str),
    );
    calls.extend(ferry_aws::request_log::read(
        "tracker",
        &d.tracker_role_arn(),
        tracker_logs.iter().map(String::as_str),
    ));
    assert_eq!(calls.len(), marked, "every recorded request line parses");
    calls
}

fn denied(judged: &[Judged]) -> Vec<&Judged> {
    judged.iter().filter(|j| !j.allowed).collect()
}

/// The statement (`policy#sid`) of `role` that allows `judged`, when only one does.
fn sole_identity_statement<'a>(judged: &'a Judged, label: &str) -> Option<&'a str> {
    let own: Vec<&String> = judged
        .because
        .iter()
        .filter(|b| b.starts_with(label))
        .collect();
    match own.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_the_functions_make_is_granted_and_every_grant_is_used() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(1200),
        backdate: Duration::from_secs(30 * 86_400),
        // Room for three versions of alpha beside beta: each model's live version
        // and the one it replaced are never deleted.
        models_quota: 4,
        ..Options::default()
    })
    .await
    .unwrap();
    let calls = recorded_calls(&stack).await;
    let operations: BTreeSet<String> = calls
        .iter()
        .map(|c| format!("{}.{}", c.call.service, c.call.operation))
        .collect();
    for expected in [
        "Bedrock.CreateModelImportJob",
        "STS.AssumeRole",
        "S3.GetObject",
        "DynamoDB.Query",
        "Bedrock.DeleteImportedModel",
        "SNS.Publish",
    ] {
        assert!(
            operations.contains(expected),
            "{expected} not recorded: {operations:?}"
        );
    }
    let tracker_started = calls
        .iter()
        .any(|c| c.by == "tracker" && c.call.operation == "CreateModelImportJob");
    assert!(tracker_started, "the tracker started the queued import");

    let grants = stack.grants().unwrap();
    let judged = audit(&calls, &grants).unwrap_or_else(|e| panic!("{e}"));
    let refused = denied(&judged);
    assert!(
        refused.is_empty(),
        "calls the deployed roles do not allow:\n{}",
        refused
            .iter()
            .map(|j| format!(
                "  {} as {}: {} needs {} on {}: {}",
                j.by,
                j.role,
                j.operation,
                j.action,
                j.resource,
                j.because.join("; ")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );

    check_unused_grants(&judged, &grants);
    check_each_statement_is_needed(&calls, &judged, &grants);
    check_resource_statements_are_needed(&calls, &judged, &grants);
    check_readme_table(&judged);
}

/// Every granted action some call used, or a justification in `core::policies`.
fn check_unused_grants(judged: &[Judged], grants: &Grants) {
    // "importer role policy" → "importer".
    let kind = |label: &str| label.split(' ').next().unwrap_or_default().to_owned();
    let found: Vec<(String, String, String)> = unused(judged, grants)
        .into_iter()
        .map(|u| (kind(&u.policy), u.sid, u.action))
        .collect();
    let justified: Vec<(String, String, String)> = ferry_core::policies::GRANTS_NO_TEST_REACHES
        .iter()
        .map(|(role, sid, action, _why)| (role.to_string(), sid.to_string(), action.to_string()))
        .collect();
    assert_eq!(
        found, justified,
        "granted actions no call used: remove each, or justify it in GRANTS_NO_TEST_REACHES (shared/core/src/policies/documents.rs)"
    );
}

/// The negative control: without any one statement of a Ferry role, exactly the calls
/// that only it allowed are refused.
fn check_each_statement_is_needed(calls: &[MadeCall], judged: &[Judged], grants: &Grants) {
    for (r, role) in grants.roles.iter().enumerate() {
        let (label, policy) = &role.policies[0];
        for (s, statement) in policy.statements.iter().enumerate() {
            let name = format!("{label}#{}", statement.label());
            let expected: BTreeSet<(String, String, String)> = judged
                .iter()
                .filter(|j| j.role == role.arn && sole_identity_statement(j, label) == Some(&name))
                .map(|j| (j.operation.clone(), j.action.clone(), j.resource.clone()))
                .collect();
            let mut without = grants.clone();
            without.roles[r].policies[0].1.statements.remove(s);
            let after = audit(calls, &without).unwrap();
            let refused: BTreeSet<(String, String, String)> = denied(&after)
                .into_iter()
                .map(|j| (j.operation.clone(), j.action.clone(), j.resource.clone()))
                .collect();
            assert_eq!(refused, expected, "without {name}");
            let justified = |action: &String| {
                ferry_core::policies::GRANTS_NO_TEST_REACHES
                    .iter()
                    .any(|(_, sid, a, _)| Some(*sid) == statement.sid.as_deref() && a == action)
            };
            let actions = statement.actions.as_ref().map(|a| &a.patterns);
            let all_justified = actions.is_some_and(|a| a.iter().all(justified));
            assert!(
                !expected.is_empty() || all_justified,
                "{name} is the only grant of no recorded call, and not justified"
            );
        }
    }
}

/// The resource policies' statements that allowed a recorded call: without any one, some
/// call is refused, and only calls that named it. (Their statements for the execution
/// role serve Bedrock's reads, which the access checker's chain tests prove.)
fn check_resource_statements_are_needed(calls: &[MadeCall], judged: &[Judged], grants: &Grants) {
    for (r, resource) in grants.resource_policies.iter().enumerate() {
        for (s, statement) in resource.policy.statements.iter().enumerate() {
            let name = format!("{}#{}", resource.label, statement.label());
            // This entry's resources only (the bucket policy covers two patterns).
            let covered = |j: &&Judged| glob(&resource.covers, &j.resource, false);
            let named: BTreeSet<(String, String, String)> = judged
                .iter()
                .filter(covered)
                .filter(|j| j.because.contains(&name))
                .map(|j| (j.operation.clone(), j.action.clone(), j.resource.clone()))
                .collect();
            if named.is_empty() {
                continue;
            }
            let mut without = grants.clone();
            without.resource_policies[r].policy.statements.remove(s);
            let refused: BTreeSet<(String, String, String)> =
                denied(&audit(calls, &without).unwrap())
                    .into_iter()
                    .map(|j| (j.operation.clone(), j.action.clone(), j.resource.clone()))
                    .collect();
            assert!(
                !refused.is_empty(),
                "{name} allowed calls but none needs it"
            );
            assert!(
                refused.is_subset(&named),
                "without {name}: {refused:?} beyond {named:?}"
            );
        }
    }
}

/// README's table of each role's calls and the statement that allows each.
fn check_readme_table(judged: &[Judged]) {
    let table = ferry_core::grants::table(judged);
    let path = ferry_testkit::moto::workspace_root().join("infra/README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- grants:begin -->\n", "<!-- grants:end -->");
    let (Some(start), Some(stop)) = (readme.find(begin), readme.find(end)) else {
        panic!("infra/README.md has no {begin:?} … {end:?} markers");
    };
    let current = &readme[start + begin.len()..stop];
    if current != table {
        if std::env::var_os("FERRY_UPDATE_README").is_some() {
            let updated = format!("{}{begin}{table}{}", &readme[..start], &readme[stop..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!(
                "infra/README.md's grants table is stale; rerun with FERRY_UPDATE_README=1:\n{table}"
            );
        }
    }
}
