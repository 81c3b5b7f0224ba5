//! Both SAM templates created in moto's CloudFormation on loopback, in two accounts:
//! the roles, table, topic and key carry the documents `core::policies` generates,
//! and the chain read back from the created resources passes every access check.
//! moto's CloudFormation has no model for some resource types; the test names them
//! and checks the rest.

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use ferry_aws::clock::now_secs;
use ferry_aws::AwsPolicyReader;
use ferry_core::access::{read_live, run_checks, CheckDecision, LiveTarget, PolicyReader};
use ferry_core::policies::{
    automation_role_policy, automation_role_trust, execution_role_policy, execution_role_trust,
    imported_model_key_statement, importer_role_policy, key_policy, tracker_role_policy,
};
use ferry_core::S3Uri;
use ferry_local_stack::{
    LocalStack, Options, Stack, BUCKET, EXTERNAL_ID, HOSTING, NOT_IN_MOTO, PREFIX,
};
use ferry_testkit::moto::workspace_root;
use serde_json::Value;

/// Every resource of the template is created, except the types moto cannot take.
fn assert_created_except_unsupported(template: &str, stack: &Stack) {
    let t = ferry_testkit::cfn::load(&workspace_root().join("infra").join(template)).unwrap();
    let mut skipped = BTreeSet::new();
    for (logical, spec) in t["Resources"].as_object().unwrap() {
        let kind = spec["Type"].as_str().unwrap();
        let conditional = spec.get("Condition").is_some();
        if stack.created.contains_key(logical) {
            continue;
        }
        assert!(
            NOT_IN_MOTO.contains(&kind) || conditional,
            "{template}: {logical} ({kind}) was not created"
        );
        if NOT_IN_MOTO.contains(&kind) {
            skipped.insert(format!("{logical} ({kind})"));
        }
    }
    eprintln!(
        "{template}: moto's CloudFormation cannot create {} — checked by the template rendering test instead",
        skipped.into_iter().collect::<Vec<_>>().join(", ")
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The documents of the managed policies attached to a role, as IAM returns them.
async fn attached_documents(reader: &AwsPolicyReader, role: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    for arn in reader.attached_policies(role).await.unwrap() {
        documents.push(json(&reader.managed_policy(&arn).await.unwrap()));
    }
    documents
}

#[tokio::test]
async fn both_stacks_create_in_moto_with_the_generated_policies_and_pass_the_checker() {
    // Hosting first, then research (infra/README.md); the research team's bucket and key
    // exist before Ferry.
    let stack = LocalStack::start(Options::default()).await.unwrap();
    assert_created_except_unsupported("hosting.yaml", &stack.hosting_stack);
    assert_created_except_unsupported("research.yaml", &stack.research_stack);
    let (research, deployer, d) = (&stack.research, &stack.hosting, &stack.deployment);
    let research_key = d.research_kms_key.clone().unwrap();
    let imported_key = d.imported_model_kms_key.clone().unwrap();

    // The hosting account's roles, read back as AWS stores them.
    let hosting_reader = AwsPolicyReader::new(deployer);
    let execution = hosting_reader.role(&d.names.execution_role).await.unwrap();
    assert_eq!(json(&execution.trust_policy), execution_role_trust(d));
    let attached = hosting_reader
        .attached_policies(&d.names.execution_role)
        .await
        .unwrap();
    assert_eq!(attached.len(), 1, "{attached:?}");
    let managed = hosting_reader.managed_policy(&attached[0]).await.unwrap();
    assert_eq!(json(&managed), execution_role_policy(d));

    let automation = hosting_reader.role(&d.names.automation_role).await.unwrap();
    assert_eq!(
        json(&automation.trust_policy),
        automation_role_trust(d).unwrap()
    );
    assert_eq!(
        attached_documents(&hosting_reader, &d.names.automation_role).await,
        [automation_role_policy(d)]
    );
    assert_eq!(
        attached_documents(&hosting_reader, &d.names.tracker_role).await,
        [tracker_role_policy(d)]
    );

    // The key policy the template gave the created key (LocalStack stores moto's
    // object form back as the string AWS keeps).
    assert_eq!(
        json(&hosting_reader.key_policy(&imported_key).await.unwrap()),
        key_policy(d, HOSTING, imported_model_key_statement(d))
    );

    // The ledger: key and queue index.
    let dynamodb = aws_sdk_dynamodb::Client::new(deployer);
    let table = dynamodb
        .describe_table()
        .table_name(&d.names.ledger_table)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert_eq!(table.key_schema()[0].attribute_name(), "fingerprint");
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("by-state"));
    // moto's CloudFormation ignores PointInTimeRecoverySpecification; the template
    // rendering test checks it is on.

    // The alert topic, encrypted with the stack's key.
    let topic = aws_sdk_sns::Client::new(deployer)
        .get_topic_attributes()
        .topic_arn(d.alert_topic_arn())
        .send()
        .await
        .unwrap();
    let kms = topic
        .attributes()
        .and_then(|a| a.get("KmsMasterKeyId"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(kms, stack.hosting_stack.created["AlertKey"], "topic key");

    let research_reader = AwsPolicyReader::new(research);
    assert_eq!(
        attached_documents(&research_reader, &d.names.importer_role).await,
        [importer_role_policy(d)]
    );
    let sqs_queue = &stack.research_stack.created["UploadQueue"];
    assert!(sqs_queue.contains("ferry-uploads"), "{sqs_queue}");

    // With the statements the research team merges by hand (LocalStack puts them as
    // `ferry policies` prints them), the chain as Ferry's own checker reads it live:
    // every check allowed, nothing unreadable.
    let s3 = ferry_testkit::s3::s3_client(research);
    for (key, sse) in [("config.json", false), ("model.safetensors", true)] {
        let mut put = s3
            .put_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}mistral-7b/{key}"))
            .body(ByteStream::from_static(b"{}"));
        if sse {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&research_key);
        }
        put.send().await.unwrap();
    }
    let (automation_session, _) = ferry_aws::hosting::assume_role(
        research,
        &aws_sdk_sts::Client::new(research),
        &d.automation_role_arn(),
        Some(EXTERNAL_ID),
        "ferry-moto-check",
        None,
    )
    .await
    .unwrap();
    let target = LiveTarget {
        source: S3Uri::parse(&format!("s3://{BUCKET}/{PREFIX}mistral-7b/")).unwrap(),
        region: "us-east-1".into(),
        execution_role: d.execution_role_arn(),
        imported_model_key: Some(imported_key.clone()),
        caller_role: Some(d.automation_role_arn()),
    };
    let scenario = read_live(
        &research_reader,
        &AwsPolicyReader::new(&automation_session),
        &target,
        None,
    )
    .await
    .unwrap();
    assert!(scenario.unreadable.is_empty(), "{:?}", scenario.unreadable);
    let report = run_checks(&scenario, now_secs());
    assert!(report.ok, "{}", report.render_text(false));
    assert!(report
        .checks
        .iter()
        .all(|c| c.decision == CheckDecision::Allowed));
}
