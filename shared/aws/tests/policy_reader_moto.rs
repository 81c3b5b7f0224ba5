//! The access checker's live reads against moto on loopback: two accounts, the seed's
//! chain installed as AWS stores it (IAM URL-encodes documents, S3 reports SSE-KMS
//! keys per object), read back and judged as the scenario file says.

use ferry_aws::clock::now_secs;
use ferry_aws::hosting::assume_role;
use ferry_aws::{AwsPolicyReader, S3Prober};
use ferry_core::access::{probe, read_live, run_checks, CheckDecision, LiveTarget, PolicyReader};
use ferry_core::S3Uri;
use ferry_testkit::chain::{install_chain, Mistake, AUTOMATION_ROLE, EXECUTION_ROLE};
use ferry_testkit::moto::MotoServer;

fn target(chain: &ferry_testkit::chain::Chain) -> LiveTarget {
    LiveTarget {
        source: S3Uri::parse(&chain.source_uri).unwrap(),
        region: "us-east-1".into(),
        execution_role: EXECUTION_ROLE.into(),
        imported_model_key: Some(chain.imported_model_key.clone()),
        caller_role: Some(AUTOMATION_ROLE.into()),
    }
}

#[tokio::test]
async fn the_installed_chain_reads_back_and_passes() {
    let moto = MotoServer::start().unwrap();
    let chain = install_chain(&moto, Mistake::None).await.unwrap();
    let research = AwsPolicyReader::new(&chain.research);
    let hosting = AwsPolicyReader::new(&chain.hosting);

    // The raw reads: SSE-KMS key per object, URL-decoded IAM documents, no org.
    assert_eq!(
        research
            .object_kms_key(&chain.bucket, "mistral-model-weights/model.safetensors")
            .await
            .unwrap()
            .as_deref(),
        Some(chain.source_key.as_str())
    );
    assert_eq!(
        research
            .object_kms_key(&chain.bucket, "mistral-model-weights/config.json")
            .await
            .unwrap(),
        None
    );
    let role = hosting
        .role("BedrockCMIExecutionRole-777788889999")
        .await
        .unwrap();
    assert!(
        role.trust_policy.contains("\"bedrock.amazonaws.com\""),
        "{}",
        role.trust_policy
    );
    assert_eq!(research.organization().await.unwrap(), None);

    let scenario = read_live(&research, &hosting, &target(&chain), None)
        .await
        .unwrap();
    assert!(scenario.unreadable.is_empty(), "{:?}", scenario.unreadable);
    assert_eq!(scenario.research_account, "123456789012");
    assert_eq!(scenario.objects.len(), 2);
    let report = run_checks(&scenario, now_secs());
    for check in &report.checks {
        assert_eq!(check.decision, CheckDecision::Allowed, "{check:?}");
    }
    assert_eq!(report.checks.len(), 11, "{:#?}", report.checks);
}

#[tokio::test]
async fn a_missing_key_grant_is_found_and_the_probe_disagrees_where_moto_does_not_enforce() {
    let moto = MotoServer::start().unwrap();
    let chain = install_chain(&moto, Mistake::SourceKeyLacksRole)
        .await
        .unwrap();
    let research = AwsPolicyReader::new(&chain.research);
    let hosting = AwsPolicyReader::new(&chain.hosting);
    let scenario = read_live(&research, &hosting, &target(&chain), None)
        .await
        .unwrap();
    let report = run_checks(&scenario, now_secs());
    let denied: Vec<_> = report.denied().map(|c| c.id).collect();
    assert_eq!(denied, ["kms-source"]);

    // moto enforces no key policy: the probe, as the execution role, reads every
    // object, which contradicts the evaluation for the encrypted one.
    let (as_role, _) = assume_role(
        &chain.hosting,
        &aws_sdk_sts::Client::new(&chain.hosting),
        EXECUTION_ROLE,
        None,
        "ferry-probe",
        None,
    )
    .await
    .unwrap();
    let result = probe(&report, &scenario, &S3Prober::new(&as_role)).await;
    assert_eq!(result.results.len(), 3);
    assert_eq!(result.disagreements, 1, "{result:#?}");
}

#[tokio::test]
async fn a_policy_that_cannot_be_read_is_named() {
    let moto = MotoServer::start().unwrap();
    let chain = install_chain(&moto, Mistake::None).await.unwrap();
    let research = AwsPolicyReader::new(&chain.research);
    let hosting = AwsPolicyReader::new(&chain.hosting);
    let mut target = target(&chain);
    target.source = S3Uri::parse("s3://no-such-bucket-ferry/m/").unwrap();
    target.execution_role = "arn:aws:iam::777788889999:role/NoSuchRole".into();
    let scenario = read_live(&research, &hosting, &target, None).await.unwrap();
    let report = run_checks(&scenario, now_secs());
    let messages = report.unreadable.join("\n");
    assert!(messages.contains("could not read the bucket policy of no-such-bucket-ferry: NoSuchBucket (s3:GetBucketPolicy)"), "{messages}");
    assert!(messages.contains("could not read the role arn:aws:iam::777788889999:role/NoSuchRole: NoSuchEntity (iam:GetRole)"), "{messages}");
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.decision != CheckDecision::Allowed
                || c.id == "pass-role"
                || c.id == "create-job"
                || c.id == "kms-imported-model"),
        "{:#?}",
        report.checks
    );
}
