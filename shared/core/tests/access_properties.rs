//! Properties of the evaluation logic over the scenario corpus.

use ferry_core::access::{run_checks, CheckDecision, Scenario};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The checks' `aws:CurrentTime`: a fixed instant (2026-11-18), so runs agree.
const NOW: u64 = 1_795_000_000;

const H: &str = "777788889999";
const ROLE: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

fn corpus() -> Vec<Value> {
    ferry_testkit::scenarios::corpus()
        .unwrap()
        .into_iter()
        .map(|(_, scenario)| scenario)
        .collect()
}

fn deny_statement() -> impl Strategy<Value = Value> {
    let actions = prop::sample::select(vec![
        "*",
        "s3:*",
        "s3:GetObject",
        "s3:ListBucket",
        "kms:*",
        "kms:Decrypt",
        "kms:Encrypt",
        "sts:AssumeRole",
        "iam:PassRole",
        "bedrock:*",
        "ec2:*",
        "S3:GET*",
    ]);
    let resources = prop::sample::select(vec![
        "*",
        "arn:aws:s3:::model-artifacts-111122223333",
        "arn:aws:s3:::model-artifacts-111122223333/*",
        "arn:aws:s3:::other/*",
        "arn:aws:kms:us-east-1:111122223333:key/*",
        ROLE,
    ]);
    let principals = prop::sample::select(vec![
        json!("*"),
        json!({"AWS": ROLE}),
        json!({"AWS": format!("arn:aws:iam::{H}:root")}),
        json!({"AWS": "arn:aws:iam::111122223333:root"}),
        json!({"Service": "bedrock.amazonaws.com"}),
    ]);
    let conditions = prop::sample::select(vec![
        Value::Null,
        json!({"Bool": {"aws:SecureTransport": "false"}}),
        json!({"StringEquals": {"aws:SourceAccount": H}}),
        json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-elsewhere"}}),
        json!({"StringLike": {"s3:prefix": "mistral-*"}}),
        json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Other*"}}),
    ]);
    (
        actions,
        any::<bool>(),
        resources,
        principals,
        any::<bool>(),
        conditions,
    )
        .prop_map(
            |(action, not_action, resource, principal, not_principal, condition)| {
                let mut s = json!({"Sid": "PropertyDeny", "Effect": "Deny", "Resource": resource});
                s[if not_action { "NotAction" } else { "Action" }] = json!(action);
                s[if not_principal {
                    "NotPrincipal"
                } else {
                    "Principal"
                }] = principal;
                if !condition.is_null() {
                    s["Condition"] = condition;
                }
                s
            },
        )
}

/// Adds `statement` to one of the scenario's policies (`target` picks which).
fn add_deny(scenario: &mut Value, target: usize, mut statement: Value) {
    let resource_policy = |v: &mut Value| {
        if v.is_null() {
            *v = json!({"Version": "2012-10-17", "Statement": []});
        }
    };
    let push = |policy: &mut Value, statement: Value| {
        if !policy["Statement"].is_array() {
            policy["Statement"] = Value::Array(vec![policy["Statement"].clone()]);
        }
        policy["Statement"].as_array_mut().unwrap().push(statement);
    };
    let identity = |statement: &mut Value| {
        let object = statement.as_object_mut().unwrap();
        object.remove("Principal");
        object.remove("NotPrincipal");
    };
    match target % 6 {
        0 => {
            resource_policy(&mut scenario["bucket_policy"]);
            push(&mut scenario["bucket_policy"], statement);
        }
        1 => push(&mut scenario["execution_role"]["trust_policy"], statement),
        2 => {
            if let Some(keys) = scenario["source_keys"]
                .as_array_mut()
                .filter(|k| !k.is_empty())
            {
                push(&mut keys[0]["policy"], statement);
            }
        }
        3 => {
            if !scenario["imported_model_key"].is_null() {
                push(&mut scenario["imported_model_key"]["policy"], statement);
            }
        }
        4 => {
            identity(&mut statement);
            scenario["execution_role"]["inline_policies"]["property-deny"] =
                json!({"Version": "2012-10-17", "Statement": [statement]});
        }
        _ => {
            identity(&mut statement);
            if scenario["caller"].is_object() {
                scenario["caller"]["inline_policies"]["property-deny"] =
                    json!({"Version": "2012-10-17", "Statement": [statement]});
            }
        }
    }
}

fn denied(scenario: &Value) -> Vec<(String, Option<String>, Option<String>, bool)> {
    run_checks(&Scenario::parse(scenario).unwrap(), NOW)
        .checks
        .into_iter()
        .map(|c| {
            (
                c.id.to_owned(),
                c.action,
                c.resource,
                c.decision == CheckDecision::Denied,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn adding_a_deny_never_turns_a_denial_into_an_allow(
        pick in 0usize..1000,
        target in 0usize..6,
        statement in deny_statement(),
    ) {
        let corpus = corpus();
        let base = &corpus[pick % corpus.len()];
        let before = denied(base);
        let mut changed = base.clone();
        add_deny(&mut changed, target, statement.clone());
        let after = denied(&changed);
        prop_assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(!b.3 || a.3, "{:?} was denied and is allowed after adding {}", b, statement);
        }
    }
}
