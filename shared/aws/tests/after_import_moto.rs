//! The issue-16 adapters against moto: state-change events put by the outbox reach a
//! consumer's rule (default bus → SQS) in order and once; the release pointer is an
//! SSM parameter whose history is the release log.

use aws_config::SdkConfig;
use ferry_aws::{DynamoLedger, EventBridgeBus, SsmReleasePointer};
use ferry_core::import::{ImportState, Ledger, LedgerItem, LedgerUpdate};
use ferry_core::outbox::{publish_pending, BusEvent, EventBus, PutResult};
use ferry_core::release::ReleasePointer;
use ferry_testkit::moto::MotoServer;

const MODEL: &str = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefabcdef";
const JOB: &str = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdefabcdef";

fn clock() -> u64 {
    1_795_000_100
}

async fn ledger(config: &SdkConfig) -> DynamoLedger {
    let client = ferry_aws::config::dynamodb_client(config);
    ferry_testkit::hosting::create_ledger_table(&client, "ferry-ledger")
        .await
        .unwrap();
    DynamoLedger::new(client, "ferry-ledger")
}

/// Pending → Submitted → Completed, as the importer and the tracker record them.
async fn an_import(ledger: &DynamoLedger) -> LedgerItem {
    let item = LedgerItem::new(
        "fp-one",
        ImportState::Pending,
        "s3://research/fine-tunes/m/",
        "m",
        "m-20261122-aaaaaaaa",
        1_795_000_000,
    );
    assert!(ledger.insert_new(&item).await.unwrap());
    for (from, to, now) in [
        (ImportState::Pending, ImportState::Submitted, 1_795_000_010),
        (
            ImportState::Submitted,
            ImportState::Completed,
            1_795_000_020,
        ),
    ] {
        let update = LedgerUpdate {
            state: Some(to),
            now,
            job_arn: Some(JOB.into()),
            model_arn: (to == ImportState::Completed).then(|| MODEL.into()),
            ..Default::default()
        };
        assert!(ledger.transition("fp-one", from, &update).await.unwrap());
    }
    ledger.get("fp-one").await.unwrap().unwrap()
}

#[tokio::test]
async fn the_outbox_puts_each_state_change_once_and_a_rule_delivers_it() {
    let moto = MotoServer::start().unwrap();
    let config = moto.sdk_config().await;
    let inbox = ferry_testkit::events::subscribe(&config, "state-changes")
        .await
        .unwrap();
    let ledger = ledger(&config).await;
    let bus = EventBridgeBus::new(ferry_aws::config::eventbridge_client(&config));
    let item = an_import(&ledger).await;
    assert_eq!(item.history.len(), 3);

    assert_eq!(
        publish_pending(&ledger, &bus, clock, "fp-one")
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        publish_pending(&ledger, &bus, clock, "fp-one")
            .await
            .unwrap(),
        0,
        "none left"
    );
    let events = ferry_testkit::events::drain(&config, &inbox).await.unwrap();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "ferry");
            assert_eq!(e["detail-type"], "Ferry Import State Change");
            assert_eq!(e["detail"]["fingerprint"], "fp-one");
            assert_eq!(e["detail"]["version"], "1");
            (
                e["detail"]["eventId"].as_str().unwrap().to_owned(),
                e["detail"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("fp-one#1".to_owned(), "Pending".to_owned()),
            ("fp-one#2".to_owned(), "Submitted".to_owned()),
            ("fp-one#3".to_owned(), "Completed".to_owned()),
        ]
    );
    // The event's time is the change's, not the put's.
    let submitted_at = ferry_core::text::time::rfc3339(1_795_000_010);
    assert_eq!(events[1]["time"], submitted_at.as_str(), "{}", events[1]);
    assert_eq!(events[1]["detail"]["time"], submitted_at.as_str());
    assert_eq!(events[2]["resources"], serde_json::json!([MODEL, JOB]));
    let after = ledger.get("fp-one").await.unwrap().unwrap();
    assert_eq!((after.events_sent, after.events_lease_until), (3, Some(0)));
}

fn event(source: &str, detail: &str) -> BusEvent {
    BusEvent {
        source: source.into(),
        detail_type: "Ferry Import State Change".into(),
        detail: detail.into(),
        resources: Vec::new(),
        time: 1_795_000_000,
    }
}

#[tokio::test]
async fn entries_are_judged_one_by_one_and_the_rule_takes_only_ferry_events() {
    let moto = MotoServer::start().unwrap();
    let config = moto.sdk_config().await;
    let inbox = ferry_testkit::events::subscribe(&config, "state-changes")
        .await
        .unwrap();
    let bus = EventBridgeBus::new(ferry_aws::config::eventbridge_client(&config));
    let results = bus
        .put(&[
            event("ferry", r#"{"n": 1}"#),
            event("ferry", "not json"),
            event("someone-else", r#"{"n": 3}"#),
        ])
        .await
        .unwrap();
    assert!(matches!(results[0], PutResult::Accepted(_)), "{results:?}");
    assert_eq!(
        results[1],
        PutResult::Refused {
            error: "MalformedDetail: Detail is malformed.".into(),
            retryable: false
        }
    );
    assert!(matches!(results[2], PutResult::Accepted(_)), "{results:?}");
    let delivered = ferry_testkit::events::drain(&config, &inbox).await.unwrap();
    let details: Vec<&serde_json::Value> = delivered.iter().map(|e| &e["detail"]).collect();
    assert_eq!(details, [&serde_json::json!({"n": 1})]);
}

#[tokio::test]
async fn the_release_pointer_is_an_ssm_parameter_with_a_version_per_release() {
    let moto = MotoServer::start().unwrap();
    let config = moto.sdk_config().await;
    let ssm = ferry_aws::config::ssm_client(&config);
    let pointer = SsmReleasePointer::new(ssm.clone(), "/ferry");
    assert_eq!(pointer.live("llama-ft").await.unwrap(), None);
    let second = MODEL.replace("abcdefabcdef", "bbbbbbbbbbbb");
    pointer
        .set_live("llama-ft", MODEL, "llama-ft-r0")
        .await
        .unwrap();
    pointer
        .set_live("llama-ft", &second, "llama-ft-r1")
        .await
        .unwrap();
    assert_eq!(
        pointer.live("llama-ft").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        pointer.live("other").await.unwrap(),
        None,
        "one parameter per model"
    );

    let history = ssm
        .get_parameter_history()
        .name("/ferry/llama-ft/live")
        .send()
        .await
        .unwrap();
    let versions: Vec<(i64, &str, &str)> = history
        .parameters()
        .iter()
        .map(|p| {
            assert_eq!(p.r#type(), Some(&aws_sdk_ssm::types::ParameterType::String));
            (
                p.version(),
                p.value().unwrap_or_default(),
                p.description().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (
                1,
                MODEL,
                "Ferry: the live version of llama-ft is llama-ft-r0"
            ),
            (
                2,
                second.as_str(),
                "Ferry: the live version of llama-ft is llama-ft-r1"
            ),
        ]
    );
}
