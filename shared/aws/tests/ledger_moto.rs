//! The DynamoDB ledger against moto's DynamoDB: conditional writes are what make
//! duplicate events no-ops, and only a real implementation proves them.

use std::sync::Arc;

use aws_sdk_dynamodb::config::Credentials;
use ferry_aws::DynamoLedger;
use ferry_core::import::ledger::{SmokeRecord, StateChange, ALL_STATES};
use ferry_core::import::{ImportState, Ledger, LedgerItem, LedgerUpdate, MemoryLedger};
use ferry_testkit::moto::MotoServer;

async fn ledger(moto: &MotoServer) -> DynamoLedger {
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    ferry_testkit::hosting::create_ledger_table(&client, "ferry-ledger")
        .await
        .unwrap();
    DynamoLedger::new(client, "ferry-ledger")
}

/// The importer runs in the research account and reaches the ledger through
/// sts:AssumeRole: moto gives the assumed credentials the hosting account's identity,
/// so the item lands in that account's table and nowhere else.
#[tokio::test]
async fn the_hosting_session_switches_accounts_through_sts() {
    let moto = MotoServer::start().unwrap();
    let research = moto.sdk_config().await;
    let role = "arn:aws:iam::777788889999:role/FerryAutomation";
    // Set up the hosting account's table with that account's own credentials.
    let sts = aws_sdk_sts::Client::new(&research);
    let assumed = sts
        .assume_role()
        .role_arn(role)
        .role_session_name("setup")
        .send()
        .await
        .unwrap();
    let creds = assumed.credentials().unwrap();
    let hosting_config = research
        .to_builder()
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_owned()),
                None,
                "setup",
            ),
        ))
        .build();
    ferry_testkit::hosting::create_ledger_table(
        &aws_sdk_dynamodb::Client::new(&hosting_config),
        "ferry-ledger",
    )
    .await
    .unwrap();

    let session = ferry_aws::HostingSession::new(
        research.clone(),
        sts,
        ferry_aws::HostingTarget {
            role_arn: role.into(),
            external_id: "ferry-ext".into(),
            region: None,
            ledger_table: "ferry-ledger".into(),
            alert_topic_arn: "arn:aws:sns:us-east-1:777788889999:ferry-alerts".into(),
        },
    );
    let ports = session.ports("0123456789abcdef").await.unwrap();
    assert!(ports
        .ledger
        .insert_new(&item("111111111111", 1))
        .await
        .unwrap());
    assert!(ports.ledger.get("111111111111").await.unwrap().is_some());

    // The research account's own credentials see no such table.
    let research_dynamo = aws_sdk_dynamodb::Client::new(&research);
    let err = research_dynamo
        .describe_table()
        .table_name("ferry-ledger")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );
}

fn item(fingerprint: &str, created_at: u64) -> LedgerItem {
    LedgerItem::new(
        fingerprint,
        ImportState::Pending,
        "s3://research/fine-tunes/m/",
        "m",
        format!("m-20261122-{}", &fingerprint[..8.min(fingerprint.len())]),
        created_at,
    )
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

    // Every other field an update can write, through DynamoDB's expression parser.
    let fail = LedgerUpdate {
        state: Some(ImportState::Failed),
        now: 300,
        failure: Some("AccessDeniedException: iam:PassRole".into()),
        model_arn: Some(
            "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef".into(),
        ),
        finished: true,
        set_alerted: Some(true),
        set_lease: Some(0),
        add_attempt: true,
        ..Default::default()
    };
    assert!(ledger
        .transition("aaaaaaaaaaaa", ImportState::Submitted, &fail)
        .await
        .unwrap());
    let retry = LedgerUpdate {
        state: Some(ImportState::Pending),
        now: 400,
        set_name: Some("m-20261122-aaaaaaaa-r1".into()),
        add_retry: true,
        set_alerted: Some(false),
        expect_lease_free_at: Some(400),
        ..Default::default()
    };
    assert!(ledger
        .transition("aaaaaaaaaaaa", ImportState::Failed, &retry)
        .await
        .unwrap());
    let stored = ledger.get("aaaaaaaaaaaa").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.state,
            stored.name.as_str(),
            stored.retry,
            stored.attempts,
            stored.alerted,
            stored.finished_at
        ),
        (
            ImportState::Pending,
            "m-20261122-aaaaaaaa-r1",
            1,
            2,
            false,
            Some(300)
        )
    );
    assert_eq!(
        stored.failure.as_deref(),
        Some("AccessDeniedException: iam:PassRole")
    );
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

#[tokio::test]
async fn items_in_state_reads_one_state_oldest_first() {
    let moto = MotoServer::start().unwrap();
    let ledger = ledger(&moto).await;
    // Items of several states, inserted newest first.
    for i in 0..30u64 {
        let mut it = item(&format!("fp-{i:04}"), 1_000 + (29 - i));
        if i % 3 == 0 {
            it.state = ImportState::Submitted;
        }
        assert!(ledger.insert_new(&it).await.unwrap());
    }
    let submitted = ledger.items_in_state(ImportState::Submitted).await.unwrap();
    assert_eq!(submitted.len(), 10);
    assert!(submitted
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
    let pending = ledger.items_in_state(ImportState::Pending).await.unwrap();
    assert_eq!(pending.len(), 20);
    assert_eq!(pending[0].fingerprint, "fp-0029");
    // Model details written by the tracker read back.
    let update = LedgerUpdate {
        now: 5,
        state: Some(ImportState::Completed),
        set_architecture: Some("LlamaForCausalLM".into()),
        set_custom_model_units: Some(2),
        ..Default::default()
    };
    assert!(ledger
        .transition("fp-0000", ImportState::Submitted, &update)
        .await
        .unwrap());
    let done = ledger.get("fp-0000").await.unwrap().unwrap();
    assert_eq!(done.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(done.custom_model_units, Some(2));
}

/// A small deterministic generator (SplitMix64): the same updates on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn state(&mut self) -> ImportState {
        ALL_STATES[self.below(ALL_STATES.len() as u64) as usize]
    }
    fn text(&mut self, what: &str) -> String {
        match self.below(4) {
            0 => String::new(),
            1 => format!("{what} {}", self.below(1000)),
            2 => "é🙂\n".repeat(self.below(200) as usize),
            _ => what.to_owned(),
        }
    }
    /// `Some` one time in `n`.
    fn maybe<T>(&mut self, n: u64, make: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.one_in(n) {
            Some(make(self))
        } else {
            None
        }
    }
}

fn random_smoke(r: &mut Random) -> SmokeRecord {
    SmokeRecord {
        passed: r.maybe(2, |r| r.one_in(2)),
        answer: r.maybe(2, |r| r.text("ready")),
        latency_ms: r.maybe(2, |r| r.below(10_000)),
        attempts: r.below(5) as u32,
        first_answer_secs: r.maybe(2, |r| r.below(900)),
        last_error: r.maybe(3, |r| r.text("ModelNotReadyException")),
        format: r.maybe(2, |r| r.text("BedrockCompletionMaxGenLen")),
        first_attempt_at: r.maybe(2, |r| r.below(1_000_000)),
    }
}

/// An update of every field, each present now and then; conditions that hold about
/// half the time on `item`.
fn random_update(r: &mut Random, item: &LedgerItem, now: u64) -> LedgerUpdate {
    // Few distinct times, so that leases and their checks meet at equal times too.
    let near = |r: &mut Random| now - 2 + r.below(5);
    let sent = |r: &mut Random| {
        if r.one_in(3) {
            r.below(4) as u32
        } else {
            item.events_sent
        }
    };
    LedgerUpdate {
        state: r.maybe(2, Random::state),
        now,
        job_arn: r.maybe(5, |r| r.text("arn:job")),
        model_arn: r.maybe(5, |r| r.text("arn:model")),
        failure: r.maybe(5, |r| r.text("failed")),
        add_attempt: r.one_in(4),
        submitted: r.one_in(5),
        finished: r.one_in(5),
        set_alerted: r.maybe(4, |r| r.one_in(2)),
        expect_unalerted: r.one_in(4),
        set_lease: r.maybe(4, |r| if r.one_in(3) { 0 } else { near(r) }),
        expect_lease_free_at: r.maybe(3, near),
        set_name: r.maybe(6, |r| r.text("name")),
        add_retry: r.one_in(6),
        set_architecture: r.maybe(6, |r| r.text("LlamaForCausalLM")),
        set_custom_model_units: r.maybe(6, |r| r.below(8) as u32),
        note: r.maybe(3, |r| r.text("rollback by arn:aws:iam::1:user/x")),
        set_smoke: r.maybe(4, random_smoke),
        set_released_at: r.maybe(5, near),
        set_replaced: r.maybe(5, |r| r.text("fp-previous")),
        set_events_sent: r.maybe(4, |r| r.below(6) as u32),
        set_events_lease: r.maybe(4, |r| if r.one_in(3) { 0 } else { near(r) }),
        expect_events_free: r.maybe(3, |r| (near(r), sent(r))),
        expect_events_held: r.maybe(4, |r| (near(r), sent(r))),
    }
}

/// An item as the version before the outbox wrote it: no history, no count.
async fn put_old_item(moto: &MotoServer, fingerprint: &str) -> LedgerItem {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, N, S};
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    client
        .put_item()
        .table_name("ferry-ledger")
        .item("fingerprint", S(fingerprint.into()))
        .item("state", S("Completed".into()))
        .item("source_uri", S("s3://research/fine-tunes/old/".into()))
        .item("slug", S("old".into()))
        .item("name", S("old-20261001-aaaaaaaa".into()))
        .item("created_at", N("50".into()))
        .item("updated_at", N("60".into()))
        .item("attempts", N("1".into()))
        .item("retry", N("0".into()))
        .item("alerted", Bool(true))
        .item("model_arn", S(MODEL_ARN.into()))
        .send()
        .await
        .unwrap();
    let mut item = LedgerItem::new(
        fingerprint,
        ImportState::Completed,
        "s3://research/fine-tunes/old/",
        "old",
        "old-20261001-aaaaaaaa",
        50,
    );
    item.updated_at = 60;
    item.attempts = 1;
    item.alerted = true;
    item.model_arn = Some(MODEL_ARN.into());
    item.history.clear();
    item
}

const MODEL_ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";

#[tokio::test]
async fn an_item_written_before_the_outbox_reads_and_gains_a_history() {
    let moto = MotoServer::start().unwrap();
    let ledger = ledger(&moto).await;
    let expected = put_old_item(&moto, "old-fp").await;
    let read = ledger.get("old-fp").await.unwrap().unwrap();
    assert_eq!(read, expected);
    assert_eq!((read.history.len(), read.events_sent), (0, 0));
    // The outbox's claim holds on an item with no count (none sent)…
    let claim = LedgerUpdate {
        now: 100,
        set_events_lease: Some(160),
        expect_events_free: Some((100, 0)),
        ..Default::default()
    };
    assert!(ledger
        .transition("old-fp", ImportState::Completed, &claim)
        .await
        .unwrap());
    // …and a state change starts its history.
    let verified = LedgerUpdate {
        state: Some(ImportState::Verified),
        now: 101,
        note: Some("smoke test passed".into()),
        ..Default::default()
    };
    assert!(ledger
        .transition("old-fp", ImportState::Completed, &verified)
        .await
        .unwrap());
    let item = ledger.get("old-fp").await.unwrap().unwrap();
    assert_eq!(
        item.history,
        [StateChange {
            state: ImportState::Verified,
            previous: Some(ImportState::Completed),
            at: 101,
            note: Some("smoke test passed".into()),
        }]
    );
    assert_eq!(item.events_lease_until, Some(160));
}

/// DynamoDB's conditional UpdateItem is `LedgerUpdate::apply` behind
/// `condition_holds`, as MemoryLedger is: the same random updates on both ledgers
/// succeed or fail alike and leave equal items.
#[tokio::test]
async fn random_updates_do_to_dynamodb_what_they_do_in_memory() {
    let moto = MotoServer::start().unwrap();
    let dynamo = ledger(&moto).await;
    let memory = MemoryLedger::default();
    let fresh = item("fresh-fp", 10);
    assert!(dynamo.insert_new(&fresh).await.unwrap());
    assert!(memory.insert_new(&fresh).await.unwrap());
    let old = put_old_item(&moto, "old-fp").await;
    // MemoryLedger has no raw put: insert the same item as it reads.
    assert!(memory.insert_new(&old).await.unwrap());
    let mut random = Random(16);
    let (mut held, mut refused) = (0, 0);
    for step in 0..400u64 {
        let fingerprint = if random.one_in(2) {
            "fresh-fp"
        } else {
            "old-fp"
        };
        let before = memory.get(fingerprint).await.unwrap().unwrap();
        let from = if random.one_in(4) {
            random.state()
        } else {
            before.state
        };
        let update = random_update(&mut random, &before, 1_000 + step / 2);
        let in_memory = memory.transition(fingerprint, from, &update).await.unwrap();
        let in_dynamo = dynamo.transition(fingerprint, from, &update).await.unwrap();
        assert_eq!(
            in_dynamo, in_memory,
            "step {step}: {update:#?} on {before:#?}"
        );
        let (m, d) = (
            memory.get(fingerprint).await.unwrap(),
            dynamo.get(fingerprint).await.unwrap(),
        );
        assert_eq!(d, m, "step {step}: {update:#?}");
        if in_memory {
            held += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        held > 100 && refused > 50,
        "both outcomes exercised: {held} held, {refused} refused"
    );
    let last = memory.get("fresh-fp").await.unwrap().unwrap();
    assert!(last.history.len() > 5, "{:?}", last.history);
}
