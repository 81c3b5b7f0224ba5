//! The generated documents, installed as a deployment would install them, pass every
//! check of the access checker; leaving one out makes the checker deny.

use ferry_core::access::{AccessReport, CheckDecision, Scenario};
use ferry_core::policies::{
    automation_role_policy, bucket_policy, execution_role_policy, execution_role_trust,
    imported_model_key_statement, key_policy, research_key_statement, tracker_role_policy,
    Deployment,
};
use serde_json::{json, Value};

/// The checks judged now (the checker takes the time from its caller).
fn run_checks(scenario: &Scenario) -> AccessReport {
    ferry_core::access::run_checks(scenario, 1_795_000_000)
}

const RESEARCH: &str = "111122223333";
const HOSTING: &str = "777788889999";

fn deployment(region: &str, prefix: &str, keys: bool) -> Deployment {
    let mut d = Deployment::new(
        RESEARCH,
        HOSTING,
        region,
        "model-artifacts-111122223333",
        prefix,
    );
    if keys {
        let p = ferry_core::aws_names::region::partition_of(region);
        d.research_kms_key = Some(format!("arn:{p}:kms:{region}:{RESEARCH}:key/b5b6e052"));
        d.imported_model_kms_key = Some(format!("arn:{p}:kms:{region}:{HOSTING}:key/6cd5d3bf"));
    }
    d.external_id = Some("ferry-test".into());
    d.validated().expect("valid deployment")
}

/// Which of the generated pieces to leave out.
#[derive(Clone, Copy, PartialEq)]
enum Omit {
    Nothing,
    ResearchKeyStatement,
    ImportedKeyStatement,
}

fn scenario(d: &Deployment, caller_policy: Value, caller_role: String, omit: Omit) -> Scenario {
    let folder = format!("{}llama-3-8b/", d.prefix);
    let mut objects = vec![json!({"key": format!("{folder}config.json"), "kms_key_arn": null})];
    let mut source_keys = Vec::new();
    if let Some(key) = &d.research_kms_key {
        objects.push(
            json!({"key": format!("{folder}model-00001-of-00002.safetensors"), "kms_key_arn": key}),
        );
        let statement = research_key_statement(d).filter(|_| omit != Omit::ResearchKeyStatement);
        source_keys.push(json!({"arn": key, "policy": key_policy(d, RESEARCH, statement)}));
    }
    let imported_model_key = d.imported_model_kms_key.as_ref().map(|key| {
        let statement =
            imported_model_key_statement(d).filter(|_| omit != Omit::ImportedKeyStatement);
        json!({"arn": key, "policy": key_policy(d, HOSTING, statement)})
    });
    let file = json!({
        "region": d.region,
        "source_uri": format!("s3://{}/{folder}", d.bucket),
        "research_account": RESEARCH,
        "hosting_account": HOSTING,
        "bucket_policy": bucket_policy(d),
        "objects": objects,
        "source_keys": source_keys,
        "execution_role": {
            "arn": d.execution_role_arn(),
            "trust_policy": execution_role_trust(d),
            "inline_policies": {"ferry": execution_role_policy(d)},
            "managed_policies": {},
            "permissions_boundary": null
        },
        "imported_model_key": imported_model_key,
        "caller": {
            "arn": caller_role,
            "inline_policies": {"ferry": caller_policy},
            "managed_policies": {},
            "permissions_boundary": null
        }
    });
    Scenario::parse(&file).expect("the generated scenario parses")
}

fn decisions(s: &Scenario) -> Vec<(&'static str, CheckDecision)> {
    run_checks(s)
        .checks
        .iter()
        .map(|c| (c.id, c.decision))
        .collect()
}

#[test]
fn generated_documents_pass_every_check_in_every_partition() {
    for region in ["us-east-1", "eu-central-1", "us-gov-west-1", "cn-north-1"] {
        for prefix in ["models/", "", "teams/nlp/checkpoints"] {
            for keys in [true, false] {
                let d = deployment(region, prefix, keys);
                // The importer starts jobs through the automation role, the tracker
                // (queued imports) with its own role: both must pass.
                for (who, policy, role) in [
                    (
                        "automation",
                        automation_role_policy(&d),
                        d.automation_role_arn(),
                    ),
                    ("tracker", tracker_role_policy(&d), d.tracker_role_arn()),
                ] {
                    let s = scenario(&d, policy, role, Omit::Nothing);
                    let report = run_checks(&s);
                    assert!(
                        report.ok,
                        "{region} {prefix:?} keys={keys} caller={who}: {}",
                        report.render_text(false)
                    );
                    // Every check allowed; only the key checks are skipped, and only
                    // when there are no keys.
                    for check in &report.checks {
                        let kms = check.id.starts_with("kms-");
                        let expected = if kms && !keys {
                            CheckDecision::Skipped
                        } else {
                            CheckDecision::Allowed
                        };
                        assert_eq!(
                            check.decision, expected,
                            "{region} keys={keys}: {}",
                            check.id
                        );
                    }
                    let ids: std::collections::BTreeSet<_> =
                        report.checks.iter().map(|c| c.id).collect();
                    assert_eq!(ids.len(), 7, "{ids:?}");
                }
            }
        }
    }
}

#[test]
fn a_missing_key_statement_is_denied() {
    let d = deployment("us-east-1", "models/", true);
    let s = scenario(
        &d,
        automation_role_policy(&d),
        d.automation_role_arn(),
        Omit::ResearchKeyStatement,
    );
    let denied: Vec<_> = decisions(&s)
        .into_iter()
        .filter(|(_, decision)| *decision == CheckDecision::Denied)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(denied, ["kms-source"]);

    // The imported-model key lives in the execution role's account: its default
    // statement delegates to IAM, so the identity policy alone suffices (the seed's
    // key statement is kept for keys whose policy does not delegate).
    let s = scenario(
        &d,
        automation_role_policy(&d),
        d.automation_role_arn(),
        Omit::ImportedKeyStatement,
    );
    assert!(run_checks(&s).ok);
}

#[test]
fn the_bucket_grant_stops_at_the_prefix() {
    let d = deployment("us-east-1", "models/", false);
    let mut s = scenario(
        &d,
        automation_role_policy(&d),
        d.automation_role_arn(),
        Omit::Nothing,
    );
    s.source_uri = format!("s3://{}/other-team/", d.bucket);
    for object in &mut s.objects {
        object.key = object.key.replacen("models/", "other-team/", 1);
    }
    let denied: Vec<_> = decisions(&s)
        .into_iter()
        .filter(|(_, decision)| *decision == CheckDecision::Denied)
        .map(|(id, _)| id)
        .collect();
    assert!(
        denied.contains(&"s3-list") && denied.contains(&"s3-get"),
        "{denied:?}"
    );
}
