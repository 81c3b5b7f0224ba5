//! The DynamoDB ledger against moto's DynamoDB: conditional writes are what make
//! duplicate events no-ops, and only a real implementation proves them.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use ferry_aws::DynamoLedger;
use ferry_core::import::{ImportState, Ledger, LedgerItem, LedgerUpdate};
use ferry_testkit::moto::MotoServer;

async fn ledger(moto: &MotoServer) -> DynamoLedger {
    let config = ferry_aws::config_loader()
        .endpoint_url(moto.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "ferry-ledger").await;
    DynamoLedger::new(client, "ferry-ledger")
}

/// The table as the hosting stack defines it.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |n: &str, t| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("fingerprint", ScalarAttributeType::S))
        .attribute_definitions(attr("state", ScalarAttributeType::S))
        .attribute_definitions(attr("created_at", ScalarAttributeType::N))
        .key_schema(key("fingerprint", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(ferry_aws::ledger::STATE_INDEX)
                .key_schema(key("state", KeyType::Hash))
                .key_schema(key("created_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn item(fingerprint: &str, created_at: u64) -> LedgerItem {
    LedgerItem {
        fingerprint: fingerprint.into(),
        state: ImportState::Pending,
        source_uri: "s3://research/fine-tunes/m/".into(),
        slug: "m".into(),
        name: format!("m-20261122-{}", &fingerprint[..8.min(fingerprint.len())]),
        created_at,
        updated_at: created_at,
        submitted_at: None,
        finished_at: None,
        job_arn: None,
        model_arn: None,
        failure: None,
        attempts: 0,
        alerted: false,
    }
}

#[tokio::test]
async fn conditional_writes_make_duplicates_no_ops() {
    let moto = MotoServer::start().unwrap();
    let ledger = ledger(&moto).await;
    let first = item("aaaaaaaaaaaa", 100);
    assert!(ledger.insert_new(&first).await.unwrap());
    let mut changed = first.clone();
    changed.slug = "overwritten".into();
    assert!(
        !ledger.insert_new(&changed).await.unwrap(),
        "a second insert is refused"
    );
    assert_eq!(
        ledger.get("aaaaaaaaaaaa").await.unwrap(),
        Some(first.clone()),
        "and changes nothing"
    );
    assert_eq!(ledger.get("missing").await.unwrap(), None);

    let submit = LedgerUpdate {
        state: Some(ImportState::Submitted),
        now: 200,
        job_arn: Some(
            "arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef".into(),
        ),
        add_attempt: true,
        submitted: true,
        ..Default::default()
    };
    assert!(ledger
        .transition("aaaaaaaaaaaa", ImportState::Pending, &submit)
        .await
        .unwrap());
    assert!(
        !ledger
            .transition("aaaaaaaaaaaa", ImportState::Pending, &submit)
            .await
            .unwrap(),
        "no longer Pending"
    );
    assert!(
        !ledger
            .transition("missing", ImportState::Pending, &submit)
            .await
            .unwrap(),
        "no item is created"
    );
    let stored = ledger.get("aaaaaaaaaaaa").await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.attempts, stored.submitted_at),
        (ImportState::Submitted, 1, Some(200))
    );
    assert_eq!(stored.job_arn, submit.job_arn);
    assert_eq!(ledger.get("missing").await.unwrap(), None);
}

#[tokio::test]
async fn the_alert_flag_is_claimed_once() {
    let moto = MotoServer::start().unwrap();
    let ledger = ledger(&moto).await;
    let mut rejected = item("bbbbbbbbbbbb", 100);
    rejected.state = ImportState::Rejected;
    rejected.failure = Some("error unsupported-architecture (config.json): GPT2".into());
    ledger.insert_new(&rejected).await.unwrap();
    let claim = LedgerUpdate {
        now: 101,
        set_alerted: Some(true),
        expect_unalerted: true,
        ..Default::default()
    };
    assert!(ledger
        .transition("bbbbbbbbbbbb", ImportState::Rejected, &claim)
        .await
        .unwrap());
    assert!(!ledger
        .transition("bbbbbbbbbbbb", ImportState::Rejected, &claim)
        .await
        .unwrap());
    assert!(ledger.get("bbbbbbbbbbbb").await.unwrap().unwrap().alerted);
}

#[tokio::test]
async fn the_queue_head_is_the_oldest_pending_item() {
    let moto = MotoServer::start().unwrap();
    let ledger = ledger(&moto).await;
    assert_eq!(ledger.oldest_pending().await.unwrap(), None);
    for (fp, created) in [
        ("cccccccccccc", 300),
        ("dddddddddddd", 100),
        ("eeeeeeeeeeee", 200),
    ] {
        ledger.insert_new(&item(fp, created)).await.unwrap();
    }
    assert_eq!(
        ledger.oldest_pending().await.unwrap().unwrap().fingerprint,
        "dddddddddddd"
    );
    let submit = LedgerUpdate {
        state: Some(ImportState::Submitted),
        now: 400,
        ..Default::default()
    };
    ledger
        .transition("dddddddddddd", ImportState::Pending, &submit)
        .await
        .unwrap();
    assert_eq!(
        ledger.oldest_pending().await.unwrap().unwrap().fingerprint,
        "eeeeeeeeeeee"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_have_exactly_one_winner() {
    let moto = MotoServer::start().unwrap();
    let ledger = Arc::new(ledger(&moto).await);
    let inserts: Vec<_> = (0..20)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(
                async move { ledger.insert_new(&item("ffffffffffff", 100)).await.unwrap() },
            )
        })
        .collect();
    let mut winners = 0;
    for insert in inserts {
        winners += usize::from(insert.await.unwrap());
    }
    assert_eq!(winners, 1);

    let transitions: Vec<_> = (0..20)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let update = LedgerUpdate {
                    state: Some(ImportState::Submitted),
                    now: 200 + i,
                    job_arn: Some(format!("job-{i}")),
                    ..Default::default()
                };
                ledger
                    .transition("ffffffffffff", ImportState::Pending, &update)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for t in transitions {
        applied += usize::from(t.await.unwrap());
    }
    assert_eq!(
        applied, 1,
        "one handler records the job; the others see it moved"
    );
}
