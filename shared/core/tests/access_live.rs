//! Live mode against fake accounts serving the corpus' scenario files: the same
//! decisions as offline, unreadable policies reported instead of guessed, a short
//! cache, and the probe's comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use ferry_core::access::{
    probe, read_live, AccessReport, CheckDecision, LiveTarget, PolicyCache, PolicyReader, Prober,
    ReadError, RoleInfo, Scenario,
};
use ferry_core::S3Uri;
use serde_json::Value;

/// The checks judged now (the checker takes the time from its caller).
fn run_checks(scenario: &Scenario) -> AccessReport {
    ferry_core::access::run_checks(scenario, 1_795_000_000)
}

fn scenario_json(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/scenarios")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One account (or both) as AWS would answer, from a scenario file.
struct FakeAccount {
    caller: String,
    doc: Value,
    deny: BTreeSet<&'static str>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
}

impl FakeAccount {
    fn new(doc: Value, caller: &str) -> Self {
        Self {
            caller: caller.into(),
            doc,
            deny: BTreeSet::new(),
            calls: Mutex::new(BTreeMap::new()),
        }
    }
    fn denying(mut self, operations: &[&'static str]) -> Self {
        self.deny.extend(operations);
        self
    }
    fn call(&self, operation: &'static str) -> Result<(), ReadError> {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
        if self.deny.contains(operation) {
            Err(ReadError {
                operation: operation.into(),
                code: "AccessDenied".into(),
                denied: true,
            })
        } else {
            Ok(())
        }
    }
    fn calls(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
    fn role_doc(&self, name: &str) -> Option<&Value> {
        [&self.doc["execution_role"], &self.doc["caller"]]
            .into_iter()
            .find(|r| {
                r["arn"]
                    .as_str()
                    .is_some_and(|a| a.ends_with(&format!("/{name}")))
            })
    }
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

impl PolicyReader for FakeAccount {
    async fn caller_arn(&self) -> Result<String, ReadError> {
        self.call("sts:GetCallerIdentity")?;
        Ok(self.caller.clone())
    }
    async fn organization(&self) -> Result<Option<String>, ReadError> {
        self.call("organizations:DescribeOrganization")?;
        let account = self.caller.split(':').nth(4).unwrap();
        Ok(self.doc["organizations"][account]
            .as_str()
            .map(str::to_owned))
    }
    async fn bucket_policy(&self, _bucket: &str) -> Result<Option<String>, ReadError> {
        self.call("s3:GetBucketPolicy")?;
        Ok(Some(&self.doc["bucket_policy"])
            .filter(|p| !p.is_null())
            .map(text))
    }
    async fn object_keys(&self, _bucket: &str, _prefix: &str) -> Result<Vec<String>, ReadError> {
        self.call("s3:ListBucket")?;
        Ok(self.doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_owned())
            .collect())
    }
    async fn object_kms_key(&self, _bucket: &str, key: &str) -> Result<Option<String>, ReadError> {
        self.call("s3:HeadObject")?;
        let object = self.doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == key)
            .unwrap();
        Ok(object["kms_key_arn"].as_str().map(str::to_owned))
    }
    async fn key_policy(&self, arn: &str) -> Result<String, ReadError> {
        self.call("kms:GetKeyPolicy")?;
        let keys = self.doc["source_keys"].as_array().unwrap().iter();
        let found = keys
            .chain(std::iter::once(&self.doc["imported_model_key"]))
            .find(|k| k["arn"] == arn)
            .ok_or_else(|| ReadError {
                operation: "kms:GetKeyPolicy".into(),
                code: "NotFoundException".into(),
                denied: false,
            })?;
        Ok(text(&found["policy"]))
    }
    async fn role(&self, name: &str) -> Result<RoleInfo, ReadError> {
        self.call("iam:GetRole")?;
        let role = self.role_doc(name).unwrap();
        Ok(RoleInfo {
            arn: role["arn"].as_str().unwrap().to_owned(),
            trust_policy: text(&role["trust_policy"]),
            boundary_arn: (!role["permissions_boundary"].is_null())
                .then(|| "arn:aws:iam::777788889999:policy/boundary".to_owned()),
        })
    }
    async fn inline_policies(&self, role: &str) -> Result<Vec<(String, String)>, ReadError> {
        self.call("iam:ListRolePolicies")?;
        let docs = self.role_doc(role).unwrap()["inline_policies"]
            .as_object()
            .unwrap();
        Ok(docs.iter().map(|(k, v)| (k.clone(), text(v))).collect())
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<String>, ReadError> {
        self.call("iam:ListAttachedRolePolicies")?;
        let docs = self.role_doc(role).unwrap()["managed_policies"]
            .as_object()
            .unwrap();
        Ok(docs.keys().cloned().collect())
    }
    async fn managed_policy(&self, arn: &str) -> Result<String, ReadError> {
        self.call("iam:GetPolicyVersion")?;
        for role in [&self.doc["execution_role"], &self.doc["caller"]] {
            if let Some(doc) = role["managed_policies"].get(arn) {
                return Ok(text(doc));
            }
            if arn.ends_with("policy/boundary") && !role["permissions_boundary"].is_null() {
                return Ok(text(&role["permissions_boundary"]));
            }
        }
        panic!("no managed policy {arn}");
    }
}

const RESEARCH_CALLER: &str = "arn:aws:iam::111122223333:user/researcher";
const AUTOMATION: &str = "arn:aws:iam::777788889999:role/FerryAutomation";

fn target(doc: &Value) -> LiveTarget {
    LiveTarget {
        source: S3Uri::parse(doc["source_uri"].as_str().unwrap()).unwrap(),
        region: doc["region"].as_str().unwrap().into(),
        execution_role: doc["execution_role"]["arn"].as_str().unwrap().into(),
        imported_model_key: doc["imported_model_key"]["arn"].as_str().map(str::to_owned),
        caller_role: Some(AUTOMATION.into()),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn by_id(report: &ferry_core::access::AccessReport) -> BTreeMap<&str, CheckDecision> {
    let mut out = BTreeMap::new();
    for c in &report.checks {
        let entry = out.entry(c.id).or_insert(c.decision);
        if c.decision != CheckDecision::Allowed {
            *entry = c.decision;
        }
    }
    out
}

#[test]
fn live_reading_decides_as_the_scenario_file_does() {
    for name in [
        "baseline",
        "source-key-missing-grant",
        "bucket-star-only",
        "wrong-resource-account",
    ] {
        let doc = scenario_json(name);
        let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
        let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
        let live = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
        assert!(live.unreadable.is_empty(), "{name}: {:?}", live.unreadable);
        let offline = Scenario::parse(&doc).unwrap();
        assert_eq!(
            run_checks(&live).checks,
            run_checks(&offline).checks,
            "{name}: live and offline reports differ"
        );
    }
}

#[test]
fn an_unreadable_bucket_policy_is_reported_not_guessed() {
    let doc = scenario_json("baseline");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER).denying(&["s3:GetBucketPolicy"]);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    let decisions = by_id(&report);
    assert_eq!(decisions["s3-list"], CheckDecision::Skipped);
    assert_eq!(decisions["s3-get"], CheckDecision::Skipped);
    assert_eq!(decisions["trust"], CheckDecision::Allowed);
    assert_eq!(decisions["kms-source"], CheckDecision::Allowed);
    assert!(!report.complete());
    let list = report.checks.iter().find(|c| c.id == "s3-list").unwrap();
    assert_eq!(
        list.unreadable.as_deref(),
        Some("could not read the bucket policy of model-artifacts-111122223333: AccessDenied (s3:GetBucketPolicy)")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 1);
    assert!(report.render_text(false).contains("? s3-list"));
}

#[test]
fn a_denial_that_does_not_depend_on_the_unreadable_policy_stays_denied() {
    // The identity policy lacks s3:ListBucket: no bucket policy could make it pass.
    let mut doc = scenario_json("baseline");
    let managed = doc["execution_role"]["managed_policies"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    managed["Statement"][0]["Action"] = "s3:GetObject".into();
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER).denying(&["s3:GetBucketPolicy"]);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    assert_eq!(by_id(&report)["s3-list"], CheckDecision::Denied);
    assert_eq!(by_id(&report)["s3-get"], CheckDecision::Skipped);
    assert!(!report.ok);
}

#[test]
fn unreadable_roles_keys_and_objects_each_name_what_could_not_be_read() {
    let doc = scenario_json("baseline");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER).denying(&["s3:HeadObject"]);
    let hosting =
        FakeAccount::new(doc.clone(), AUTOMATION).denying(&["iam:GetRole", "kms:GetKeyPolicy"]);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    assert!(report.ok);
    for check in &report.checks {
        assert_eq!(check.decision, CheckDecision::Skipped, "{check:?}");
        assert!(check.unreadable.is_some(), "{check:?}");
    }
    let messages = report.unreadable.join("\n");
    for expected in [
        "could not read the role arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999: AccessDenied (iam:GetRole)",
        "could not read the key policy of arn:aws:kms:us-east-1:777788889999:key/6cd5d3bf-3d9b-4d1c-83d5-8df6284435a1: AccessDenied (kms:GetKeyPolicy)",
        "could not read the encryption of s3://model-artifacts-111122223333/mistral-model-weights/config.json: AccessDenied (s3:HeadObject)",
    ] {
        assert!(messages.contains(expected), "missing {expected:?} in\n{messages}");
    }
}

#[test]
fn an_unknown_organization_undecides_denials_only_where_org_keys_are_tested() {
    let mut doc = scenario_json("baseline");
    doc["bucket_policy"]["Statement"][0]["Condition"] =
        serde_json::json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}});
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let hosting =
        FakeAccount::new(doc.clone(), AUTOMATION).denying(&["organizations:DescribeOrganization"]);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    let decisions = by_id(&report);
    // Without the hosting account's organization the bucket policy's condition is false:
    // denied offline, but live Ferry cannot know, so it says so.
    assert_eq!(decisions["s3-list"], CheckDecision::Skipped);
    assert_eq!(decisions["trust"], CheckDecision::Allowed);
    // With the organization known (both accounts in o-abc123), the grant applies.
    doc["organizations"] =
        serde_json::json!({"777788889999": "o-abc123", "111122223333": "o-abc123"});
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    assert_eq!(
        by_id(&run_checks(&scenario))["s3-list"],
        CheckDecision::Allowed
    );
}

#[test]
fn policies_are_cached_but_objects_are_read_every_time() {
    let doc = scenario_json("baseline");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let cache = PolicyCache::new(std::time::Duration::from_secs(60));
    for _ in 0..3 {
        block_on(read_live(&research, &hosting, &target(&doc), Some(&cache))).unwrap();
    }
    assert_eq!(research.calls("s3:GetBucketPolicy"), 1);
    assert_eq!(research.calls("kms:GetKeyPolicy"), 1);
    assert_eq!(
        hosting.calls("iam:GetRole"),
        2,
        "execution role and caller, once each"
    );
    assert_eq!(research.calls("s3:ListBucket"), 3);
    assert_eq!(research.calls("s3:HeadObject"), 6);

    // A failure is not cached: the next read asks again.
    let denying = FakeAccount::new(doc.clone(), RESEARCH_CALLER).denying(&["s3:GetBucketPolicy"]);
    let cache = PolicyCache::new(std::time::Duration::from_secs(60));
    for _ in 0..2 {
        block_on(read_live(&denying, &hosting, &target(&doc), Some(&cache))).unwrap();
    }
    assert_eq!(denying.calls("s3:GetBucketPolicy"), 2);

    // An expired entry is read again.
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let cache = PolicyCache::new(std::time::Duration::ZERO);
    for _ in 0..2 {
        block_on(read_live(&research, &hosting, &target(&doc), Some(&cache))).unwrap();
    }
    assert_eq!(research.calls("s3:GetBucketPolicy"), 2);
}

#[test]
fn two_hosting_accounts_with_the_same_role_names_never_share_cached_roles() {
    let doc = scenario_json("baseline");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let dev = FakeAccount::new(doc.clone(), AUTOMATION);
    let prod = FakeAccount::new(doc.clone(), AUTOMATION);
    let cache = PolicyCache::new(std::time::Duration::from_secs(60));
    let dev_target = target(&doc);
    let mut prod_target = dev_target.clone();
    prod_target.execution_role = dev_target
        .execution_role
        .replace("iam::777788889999:", "iam::222233334444:");
    block_on(read_live(&research, &dev, &dev_target, Some(&cache))).unwrap();
    block_on(read_live(&research, &prod, &prod_target, Some(&cache))).unwrap();
    assert!(
        prod.calls("iam:GetRole") >= 1,
        "prod's execution role is read from prod, not taken from dev's cache entry"
    );
    assert_eq!(
        research.calls("s3:GetBucketPolicy"),
        1,
        "the research side is shared"
    );
}

#[test]
fn a_research_account_that_cannot_be_identified_is_an_error() {
    let doc = scenario_json("baseline");
    let research =
        FakeAccount::new(doc.clone(), RESEARCH_CALLER).denying(&["sts:GetCallerIdentity"]);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let err = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap_err();
    assert!(
        err.to_string()
            .contains("could not identify the research account"),
        "{err}"
    );
    let mut bad = target(&doc);
    bad.execution_role = "arn:aws:iam::777788889999:user/x".into();
    let err = block_on(read_live(&research, &hosting, &bad, None)).unwrap_err();
    assert!(err.to_string().contains("is not an IAM role ARN"), "{err}");
}

/// S3 as the execution role sees it: fails the objects it is told to.
struct FakeProber {
    denied_keys: Vec<&'static str>,
    list_denied: bool,
}

impl Prober for FakeProber {
    async fn list(&self, _bucket: &str, _prefix: &str) -> Result<(), ReadError> {
        if self.list_denied {
            return Err(ReadError {
                operation: "s3:ListObjectsV2".into(),
                code: "AccessDenied".into(),
                denied: true,
            });
        }
        Ok(())
    }
    async fn read_first_byte(&self, _bucket: &str, key: &str) -> Result<(), ReadError> {
        if self.denied_keys.contains(&key) {
            return Err(ReadError {
                operation: "s3:GetObject".into(),
                code: "AccessDenied".into(),
                denied: true,
            });
        }
        Ok(())
    }
}

#[test]
fn the_probe_reports_where_reality_and_evaluation_disagree() {
    let scenario = Scenario::parse(&scenario_json("baseline")).unwrap();
    let report = run_checks(&scenario);
    let agreeing = FakeProber {
        denied_keys: vec![],
        list_denied: false,
    };
    let result = block_on(probe(&report, &scenario, &agreeing));
    assert_eq!(result.results.len(), 3, "one list and one read per object");
    assert_eq!(result.disagreements, 0);

    // The weights cannot really be read although every policy allows it.
    let disagreeing = FakeProber {
        denied_keys: vec!["mistral-model-weights/model.safetensors"],
        list_denied: false,
    };
    let result = block_on(probe(&report, &scenario, &disagreeing));
    assert_eq!(result.disagreements, 1);
    let bad = result
        .results
        .iter()
        .find(|r| r.agrees == Some(false))
        .unwrap();
    assert!(bad.resource.ends_with("model.safetensors"));

    // The evaluation denies the encrypted object (key policy lacks the role); the
    // probe confirms: an agreement, not a disagreement.
    let scenario = Scenario::parse(&scenario_json("source-key-missing-grant")).unwrap();
    let report = run_checks(&scenario);
    let result = block_on(probe(&report, &scenario, &disagreeing));
    assert_eq!(result.disagreements, 0, "{result:?}");
    let mut full = report.clone();
    full.probe = Some(result);
    let json = serde_json::to_value(&full).unwrap();
    assert_eq!(json["probe"]["results"].as_array().unwrap().len(), 3);
}

#[test]
fn an_unreadable_role_does_not_make_a_notprincipal_deny_certain() {
    // The bucket denies everyone but the execution role (NotPrincipal). Were the
    // unreadable role given a stand-in boundary, that Deny would apply to it.
    let doc = scenario_json("notprincipal-deny-excludes-role");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let readable = FakeAccount::new(doc.clone(), AUTOMATION);
    let scenario = block_on(read_live(&research, &readable, &target(&doc), None)).unwrap();
    assert_eq!(
        by_id(&run_checks(&scenario))["s3-list"],
        CheckDecision::Allowed
    );
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION).denying(&["iam:GetRole"]);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    assert_eq!(
        by_id(&report)["s3-list"],
        CheckDecision::Skipped,
        "{:#?}",
        report.checks
    );
    assert!(report.ok);
}

#[test]
fn an_unreadable_part_no_check_depends_on_leaves_the_report_complete() {
    let doc = scenario_json("baseline");
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER)
        .denying(&["organizations:DescribeOrganization"]);
    let hosting = FakeAccount::new(doc.clone(), AUTOMATION);
    let scenario = block_on(read_live(&research, &hosting, &target(&doc), None)).unwrap();
    let report = run_checks(&scenario);
    assert!(report
        .checks
        .iter()
        .all(|c| c.decision == CheckDecision::Allowed));
    assert!(report.complete());
    assert_eq!(report.unreadable.len(), 1);
    assert!(report.render_text(false).contains("no check depends on it"));
}

#[test]
fn a_hosting_reader_of_another_account_reads_nothing_as_the_hosting_side() {
    // Research credentials used for the hosting side, and a role of the same name in
    // the research account: its policies must not be judged as the execution role's.
    let mut doc = scenario_json("baseline");
    doc["execution_role"]["arn"] =
        "arn:aws:iam::111122223333:role/BedrockCMIExecutionRole-777788889999".into();
    let research = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let hosting = FakeAccount::new(doc.clone(), RESEARCH_CALLER);
    let mut t = target(&doc);
    t.execution_role = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999".into();
    let scenario = block_on(read_live(&research, &hosting, &t, None)).unwrap();
    let messages = scenario
        .unreadable
        .iter()
        .map(|u| u.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        messages.contains("the credentials read account 111122223333's role of that name"),
        "{messages}"
    );
    assert!(
        messages.contains("the organization of account 777788889999"),
        "{messages}"
    );
    assert_eq!(scenario.execution_role.arn, t.execution_role);
}
