//! The sample state-change events in `events/` are what Ferry puts: each sample's
//! `detail` equals the detail built for a representative item, and its envelope the
//! entry's source, detail-type and resources. `FERRY_UPDATE_EVENTS=1` rewrites them.

use ferry_core::import::{ImportState, LedgerItem, LedgerUpdate, SmokeRecord};
use ferry_core::outbox::{bus_event, DETAIL_TYPE, SOURCE};
use serde_json::{json, Value};

const MODEL_ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/k2v5mx4hqe7a";
const JOB_ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:model-import-job/pw0yhbwrq1zf";
const T0: u64 = 1_795_000_000;

/// An import that completed, passed its smoke test, was released, then rolled back
/// from; and one whose smoke test failed.
fn items() -> (LedgerItem, LedgerItem) {
    let mut good = LedgerItem {
        job_arn: Some(JOB_ARN.into()),
        ..LedgerItem::new(
            "5f2b0c1e9a7d43e8b6f1a2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8",
            ImportState::Submitted,
            "s3://model-artifacts-111122223333/fine-tunes/llama-3-1-8b-ft/",
            "llama-3-1-8b-ft",
            "llama-3-1-8b-ft-20261118-5f2b0c1e",
            T0,
        )
    };
    let steps = [
        (ImportState::Completed, None),
        (ImportState::Verified, Some("smoke test passed")),
        (
            ImportState::Released,
            Some("automatic: the smoke test passed"),
        ),
    ];
    for (i, (state, note)) in steps.into_iter().enumerate() {
        LedgerUpdate {
            state: Some(state),
            now: T0 + 1_800 + 60 * i as u64,
            model_arn: Some(MODEL_ARN.into()),
            note: note.map(str::to_owned),
            set_smoke: (state == ImportState::Verified).then(|| SmokeRecord {
                passed: Some(true),
                answer: Some("ready".into()),
                latency_ms: Some(812),
                attempts: 4,
                first_answer_secs: Some(61),
                last_error: None,
                format: Some("BedrockCompletionMaxGenLen".into()),
                first_attempt_at: Some(T0 + 1_800),
            }),
            ..Default::default()
        }
        .apply(&mut good);
    }
    let mut bad = good.clone();
    bad.history.truncate(2);
    bad.state = ImportState::Completed;
    LedgerUpdate {
        state: Some(ImportState::SmokeFailed),
        now: T0 + 1_860,
        failure: Some("The smoke test (ModelError) failed.\n\nSent (InvokeModel body):\n{\"prompt\":\"Reply with the single word: ready\",\"max_gen_len\":16,\"temperature\":0}\n\nCame back:\nModelError { original_status: Some(500) }: the model server failed\n\nWhat to do: compare config.json, generation_config.json and the tokenizer files with the base model's, then upload the fixed folder again".into()),
        set_smoke: Some(SmokeRecord { passed: Some(false), attempts: 1, ..Default::default() }),
        note: Some("smoke test failed: ModelError".into()),
        ..Default::default()
    }
    .apply(&mut bad);
    (good, bad)
}

/// The event as a rule's target receives it.
fn delivered(item: &LedgerItem, index: usize) -> Value {
    let entry = bus_event(item, index).unwrap();
    assert_eq!(
        (entry.source.as_str(), entry.detail_type.as_str()),
        (SOURCE, DETAIL_TYPE)
    );
    json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": entry.detail_type,
        "source": entry.source,
        "account": "777788889999",
        "time": ferry_core::text::time::rfc3339(entry.time),
        "region": "us-east-1",
        "resources": entry.resources,
        "detail": serde_json::from_str::<Value>(&entry.detail).unwrap(),
    })
}

#[test]
fn the_samples_are_what_ferry_puts() {
    let (good, bad) = items();
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    for (file, event) in [
        ("ferry-state-verified.json", delivered(&good, 2)),
        ("ferry-state-released.json", delivered(&good, 3)),
        ("ferry-state-smoke-failed.json", delivered(&bad, 2)),
    ] {
        let path = format!("{dir}/{file}");
        let text = serde_json::to_string_pretty(&event).unwrap() + "\n";
        if std::env::var_os("FERRY_UPDATE_EVENTS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let sample: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            sample, event,
            "{file} differs from what Ferry puts (FERRY_UPDATE_EVENTS=1 rewrites it)"
        );
    }
}

#[test]
fn a_rule_pattern_on_source_and_detail_type_matches_every_state() {
    let (good, bad) = items();
    for (item, n) in [(&good, 4), (&bad, 3)] {
        for index in 0..n {
            let event = delivered(item, index);
            assert_eq!(event["source"], "ferry");
            assert_eq!(event["detail-type"], "Ferry Import State Change");
            assert_eq!(event["detail"]["version"], "1");
        }
    }
}
