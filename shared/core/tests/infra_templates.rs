//! One source of truth: the policy documents the SAM templates in `infra/` deploy are
//! exactly the ones `ferry_core::policies` generates (and `ferry policies` prints), for
//! every combination of prefix, keys and partition the templates' conditions branch on,
//! with one stage and with two to five.

use ferry_core::policies::{
    automation_role_policy, automation_role_trust, bucket_policy, execution_role_policy,
    execution_role_trust, imported_model_key_statement, importer_role_policy, key_policy,
    promotion_bus_policy, promotion_forward_role_policy, promotion_forward_role_trust,
    tracker_role_policy, Deployment, Names, Stage,
};
use ferry_testkit::cfn::{load, Rendered};
use ferry_testkit::moto::workspace_root;
use serde_json::{json, Value};

const RESEARCH: &str = "111122223333";
const HOSTING: &str = "777788889999";
const BUCKET: &str = "model-artifacts-111122223333";
const EXTERNAL_ID: &str = "ferry-external-id";

struct Case {
    region: &'static str,
    prefix: &'static str,
    research_key: bool,
    /// "none", "create" or "existing"
    imported_key: &'static str,
    /// Every name parameter away from its default.
    custom_names: bool,
}

const CASES: [Case; 5] = [
    Case {
        region: "us-east-1",
        prefix: "models/",
        research_key: true,
        imported_key: "create",
        custom_names: false,
    },
    Case {
        region: "us-west-2",
        prefix: "",
        research_key: false,
        imported_key: "none",
        custom_names: false,
    },
    Case {
        region: "eu-central-1",
        prefix: "teams/nlp/",
        research_key: false,
        imported_key: "existing",
        custom_names: false,
    },
    Case {
        region: "us-gov-west-1",
        prefix: "models/",
        research_key: true,
        imported_key: "existing",
        custom_names: false,
    },
    Case {
        region: "cn-north-1",
        prefix: "ml/weights/",
        research_key: true,
        imported_key: "create",
        custom_names: true,
    },
];

fn partition(region: &str) -> &'static str {
    ferry_core::aws_names::region::partition_of(region)
}

fn research_key(c: &Case) -> String {
    format!(
        "arn:{}:kms:{}:{RESEARCH}:key/b5b6e052",
        partition(c.region),
        c.region
    )
}

fn existing_imported_key(c: &Case) -> String {
    format!(
        "arn:{}:kms:{}:{HOSTING}:key/6cd5d3bf",
        partition(c.region),
        c.region
    )
}

fn deployment(c: &Case, imported_key_arn: Option<String>) -> Deployment {
    let mut d = Deployment::new(RESEARCH, HOSTING, c.region, BUCKET, c.prefix);
    d.research_kms_key = c.research_key.then(|| research_key(c));
    d.imported_model_kms_key = imported_key_arn;
    d.external_id = Some(EXTERNAL_ID.into());
    if c.custom_names {
        d.names = Names {
            execution_role: "MlImportExec".into(),
            automation_role: "MlImportAutomation".into(),
            importer_role: "MlImporter".into(),
            tracker_role: "MlTracker".into(),
            ledger_table: "ml-imports".into(),
            alert_topic: "ml-import-alerts".into(),
            alert_key_alias: "ml-import-alerts-key".into(),
        };
    }
    d
}

/// The template parameters that carry `d`'s names (those `template` declares).
fn name_params(d: &Deployment, template: &str) -> Vec<(&'static str, String)> {
    let n = &d.names;
    let mut params = vec![
        ("ExecutionRoleName", n.execution_role.clone()),
        ("AutomationRoleName", n.automation_role.clone()),
        ("ImporterRoleName", n.importer_role.clone()),
        ("TrackerRoleName", n.tracker_role.clone()),
        ("LedgerTableName", n.ledger_table.clone()),
        ("AlertTopicName", n.alert_topic.clone()),
    ];
    if template == "hosting.yaml" {
        params.push(("AlertKeyAlias", n.alert_key_alias.clone()));
    }
    params
}

fn template(name: &str) -> Value {
    load(&workspace_root().join("infra").join(name)).expect("template loads")
}

/// The document of a managed policy resource, checked to be attached to `role_name`.
fn managed(t: &Rendered, logical_id: &str, role_name: &str) -> Value {
    let policy = t.resource(logical_id).unwrap().expect(logical_id);
    assert_eq!(
        policy["Roles"],
        serde_json::json!([role_name]),
        "{logical_id} attachment"
    );
    policy["PolicyDocument"].clone()
}

fn assert_same(what: &str, deployed: &Value, generated: &Value) {
    assert_eq!(
        deployed,
        generated,
        "{what} differs from core::policies\n  template: {}\n  generated: {}",
        serde_json::to_string_pretty(deployed).unwrap_or_default(),
        serde_json::to_string_pretty(generated).unwrap_or_default()
    );
}

#[test]
fn hosting_template_deploys_the_generated_documents() {
    let source = template("hosting.yaml");
    for c in &CASES {
        let research_key_param = if c.research_key {
            research_key(c)
        } else {
            String::new()
        };
        let existing = existing_imported_key(c);
        let params = [
            ("ResearchAccountId", RESEARCH),
            ("ResearchBucketName", BUCKET),
            ("ResearchPrefix", c.prefix),
            ("ResearchKmsKeyArn", research_key_param.as_str()),
            (
                "CreateImportedModelKey",
                if c.imported_key == "create" {
                    "true"
                } else {
                    "false"
                },
            ),
            (
                "ImportedModelKeyArn",
                if c.imported_key == "existing" {
                    existing.as_str()
                } else {
                    ""
                },
            ),
            ("ExternalId", EXTERNAL_ID),
        ];
        let names = name_params(&deployment(c, None), "hosting.yaml");
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.extend(names.iter().map(|(k, v)| (*k, v.as_str())));
        let t = Rendered::new(source.clone(), &all, c.region, HOSTING).expect("renders");
        let created_key = format!(
            "arn:{}:kms:{}:{HOSTING}:key/key-ImportedModelKey",
            partition(c.region),
            c.region
        );
        let imported_key = match c.imported_key {
            "create" => Some(created_key),
            "existing" => Some(existing.clone()),
            _ => None,
        };
        let d = deployment(c, imported_key);
        let at = format!(
            "{} prefix {:?} research key {} imported key {}",
            c.region, c.prefix, c.research_key, c.imported_key
        );

        let role = t
            .resource("ExecutionRole")
            .unwrap()
            .expect("execution role");
        assert_same(
            &format!("execution role trust ({at})"),
            &role["AssumeRolePolicyDocument"],
            &execution_role_trust(&d),
        );
        assert_same(
            &format!("execution role policy ({at})"),
            &managed(&t, "ExecutionRolePolicy", &d.names.execution_role),
            &execution_role_policy(&d),
        );

        let ledger = t.resource("LedgerTable").unwrap().expect("ledger");
        assert_eq!(ledger["TableName"], d.names.ledger_table);
        assert_eq!(
            ledger["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert_eq!(ledger["KeySchema"][0]["AttributeName"], "fingerprint");
        assert_eq!(ledger["GlobalSecondaryIndexes"][0]["IndexName"], "by-state");
        let topic = t.resource("AlertTopic").unwrap().expect("alert topic");
        assert_eq!(topic["TopicName"], d.names.alert_topic);
        assert_eq!(
            topic["KmsMasterKeyId"], "key-AlertKey",
            "the alert topic is encrypted with the stack's key"
        );

        let key = t.resource("ImportedModelKey").unwrap();
        assert_eq!(key.is_some(), c.imported_key == "create", "{at}");
        if let Some(key) = key {
            let expected = key_policy(&d, HOSTING, imported_model_key_statement(&d));
            assert_same(
                &format!("imported-model key policy ({at})"),
                &key["KeyPolicy"],
                &expected,
            );
        }

        let automation = t
            .resource("AutomationRole")
            .unwrap()
            .expect("automation role");
        assert_same(
            &format!("automation role trust ({at})"),
            &automation["AssumeRolePolicyDocument"],
            &automation_role_trust(&d).unwrap(),
        );
        assert_same(
            &format!("automation role policy ({at})"),
            &managed(&t, "AutomationRolePolicy", &d.names.automation_role),
            &automation_role_policy(&d),
        );

        assert_same(
            &format!("tracker role policy ({at})"),
            &managed(&t, "TrackerRolePolicy", &d.names.tracker_role),
            &tracker_role_policy(&d),
        );
    }
}

#[test]
fn research_template_deploys_the_generated_documents() {
    let source = template("research.yaml");
    for c in &CASES {
        let research_key_param = if c.research_key {
            research_key(c)
        } else {
            String::new()
        };
        let params = [
            ("HostingAccountId", HOSTING),
            ("BucketName", BUCKET),
            ("Prefix", c.prefix),
            ("ResearchKmsKeyArn", research_key_param.as_str()),
            ("ExternalId", EXTERNAL_ID),
            ("ManageBucketPolicy", "true"),
        ];
        let names = name_params(&deployment(c, None), "research.yaml");
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.extend(names.iter().map(|(k, v)| (*k, v.as_str())));
        let t = Rendered::new(source.clone(), &all, c.region, RESEARCH).expect("renders");
        let d = deployment(c, None);
        let at = format!(
            "{} prefix {:?} research key {}",
            c.region, c.prefix, c.research_key
        );

        assert_same(
            &format!("importer role policy ({at})"),
            &managed(&t, "ImporterRolePolicy", &d.names.importer_role),
            &importer_role_policy(&d),
        );
        let bucket = t
            .resource("BucketPolicy")
            .unwrap()
            .expect("managed bucket policy");
        assert_eq!(bucket["Bucket"], BUCKET);
        assert_same(
            &format!("bucket policy ({at})"),
            &bucket["PolicyDocument"],
            &bucket_policy(&d),
        );

        let env =
            &t.resource("ImporterFunction").unwrap().expect("importer")["Environment"]["Variables"];
        assert_eq!(
            env["FERRY_WATCH_PREFIXES"],
            format!("s3://{BUCKET}/{}", c.prefix)
        );
        assert_eq!(env["FERRY_HOSTING_ROLE_ARN"], d.automation_role_arn());
        assert_eq!(env["FERRY_EXECUTION_ROLE_ARN"], d.execution_role_arn());
        assert_eq!(env["FERRY_ALERT_TOPIC_ARN"], d.alert_topic_arn());
        assert_eq!(env["FERRY_LEDGER_TABLE"], d.names.ledger_table);
    }
    // By default the bucket's owner merges the printed statements: no bucket policy.
    let t = Rendered::new(
        source,
        &[
            ("HostingAccountId", HOSTING),
            ("BucketName", BUCKET),
            ("ExternalId", EXTERNAL_ID),
        ],
        "us-east-1",
        RESEARCH,
    )
    .unwrap();
    assert!(t.resource("BucketPolicy").unwrap().is_none());
}

#[test]
fn both_stacks_agree_on_the_names_they_share() {
    let hosting = Rendered::new(
        template("hosting.yaml"),
        &[
            ("ResearchAccountId", RESEARCH),
            ("ResearchBucketName", BUCKET),
            ("ExternalId", EXTERNAL_ID),
        ],
        "us-east-1",
        HOSTING,
    )
    .unwrap();
    let d = deployment(&CASES[1], None);
    let tracker = hosting.resource("TrackerFunction").unwrap().unwrap();
    let env = &tracker["Environment"]["Variables"];
    assert_eq!(env["FERRY_LEDGER_TABLE"], d.names.ledger_table);
    assert_eq!(
        env["FERRY_ALERT_TOPIC_ARN"],
        d.alert_topic_arn().replace("us-west-2", "us-east-1")
    );
    assert_eq!(env["FERRY_EXECUTION_ROLE_ARN"], d.execution_role_arn());
    let alias = hosting.resource("AlertKeyAliasResource").unwrap().unwrap();
    assert_eq!(
        alias["AliasName"],
        format!("alias/{}", d.names.alert_key_alias)
    );
}

/// Stage accounts in order, the first being the one-stage cases' hosting account.
const STAGE_ACCOUNTS: [&str; 5] = [
    HOSTING,
    "444455556666",
    "222233334444",
    "555566667777",
    "888899990000",
];
const STAGE_NAMES: [&str; 5] = ["dev", "staging", "prod", "prod-eu", "prod-ap"];

/// `c`'s deployment served by its first `n` stages; the second stage has a key of its own.
fn staged(c: &Case, n: usize) -> Deployment {
    let stages = (0..n)
        .map(|i| Stage {
            imported_model_kms_key: (i == 1).then(|| stage_key(c, STAGE_ACCOUNTS[1])),
            ..Stage::new(STAGE_NAMES[i], STAGE_ACCOUNTS[i])
        })
        .collect();
    deployment(c, None).with_stages(stages)
}

fn stage_key(c: &Case, account: &str) -> String {
    format!(
        "arn:{}:kms:{}:{account}:key/0d1e2f3a",
        partition(c.region),
        c.region
    )
}

/// The research stack of `d`'s stages, as the operator would parameterize it.
fn render_research(c: &Case, d: &Deployment, stages: &str) -> Rendered {
    let stage_list = d.stages();
    let accounts: Vec<&str> = stage_list.iter().map(|s| s.account.as_str()).collect();
    let keys: Vec<&str> = stage_list
        .iter()
        .map(|s| s.imported_model_kms_key.as_deref().unwrap_or(""))
        .collect();
    let (accounts, keys) = (accounts.join(","), keys.join(","));
    let research_key = d.research_kms_key.clone().unwrap_or_default();
    let mut params = vec![
        ("HostingAccountId", accounts.as_str()),
        ("Stages", stages),
        ("BucketName", BUCKET),
        ("Prefix", c.prefix),
        ("ResearchKmsKeyArn", research_key.as_str()),
        ("ImportedModelKeyArn", keys.as_str()),
        ("ExternalId", EXTERNAL_ID),
        ("ManageBucketPolicy", "true"),
    ];
    let names = name_params(d, "research.yaml");
    params.extend(names.iter().map(|(k, v)| (*k, v.as_str())));
    Rendered::new(template("research.yaml"), &params, c.region, RESEARCH).expect("renders")
}

/// The per-stage values of the importer's variables, comma-separated in stage order.
fn joined(d: &Deployment, value: fn(&Deployment) -> String) -> String {
    d.per_stage()
        .iter()
        .map(value)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn research_template_serves_two_to_five_stages() {
    for c in &CASES {
        for n in 2..=5 {
            let d = staged(c, n);
            let stages = STAGE_NAMES[..n].join(",");
            let t = render_research(c, &d, &stages);
            let at = format!("{} prefix {:?}, {n} stages", c.region, c.prefix);
            assert_same(
                &format!("importer role policy ({at})"),
                &managed(&t, "ImporterRolePolicy", &d.names.importer_role),
                &importer_role_policy(&d),
            );
            let bucket = t.resource("BucketPolicy").unwrap().expect("bucket policy");
            assert_same(
                &format!("bucket policy ({at})"),
                &bucket["PolicyDocument"],
                &bucket_policy(&d),
            );
            let bus = t.resource("PromotionBusPolicy").unwrap().expect(&at);
            assert_eq!(bus["EventBusName"], "default");
            let mut statement = bus["Statement"].clone();
            statement["Sid"] = bus["StatementId"].clone();
            assert_same(
                &format!("promotion bus policy ({at})"),
                &statement,
                &promotion_bus_policy(&d)["Statement"][0],
            );

            let env = &t.resource("ImporterFunction").unwrap().expect("importer")["Environment"]
                ["Variables"];
            assert_eq!(env["FERRY_STAGES"], stages);
            assert_eq!(
                env["FERRY_HOSTING_ROLE_ARN"],
                joined(&d, Deployment::automation_role_arn)
            );
            assert_eq!(
                env["FERRY_EXECUTION_ROLE_ARN"],
                joined(&d, Deployment::execution_role_arn)
            );
            assert_eq!(
                env["FERRY_ALERT_TOPIC_ARN"],
                joined(&d, Deployment::alert_topic_arn)
            );
            assert_eq!(env["FERRY_LEDGER_TABLE"], d.names.ledger_table);
            let keys = joined(&d, |s| s.imported_model_kms_key.clone().unwrap_or_default());
            assert_eq!(env["FERRY_IMPORTED_MODEL_KMS_KEY_ARN"], keys);
            assert_promotion_rule(&t, &d, &at);
        }
    }
}

/// The research rule takes the stage accounts' Verified and Released events into the
/// upload queue, whose policy admits that rule.
fn assert_promotion_rule(t: &Rendered, d: &Deployment, at: &str) {
    let rule = t.resource("PromotionRule").unwrap().expect(at);
    let accounts: Vec<String> = d.stages().into_iter().map(|s| s.account).collect();
    assert_eq!(
        rule["EventPattern"],
        json!({
            "source": ["ferry"],
            "detail-type": ["Ferry Import State Change"],
            "account": accounts,
            "detail": {"state": ["Verified", "Released"]}
        }),
        "{at}"
    );
    let queue_arn = format!(
        "arn:{}:sqs:{}:{RESEARCH}:UploadQueue",
        d.partition(),
        d.region
    );
    assert_eq!(rule["Targets"][0]["Arn"], queue_arn, "{at}");
    let queue_policy = t.resource("UploadQueuePolicy").unwrap().expect(at);
    let admits = queue_policy["PolicyDocument"]["Statement"][1]["Condition"]["ArnEquals"]
        ["aws:SourceArn"]
        .clone();
    let rule_arn = format!(
        "arn:{}:events:{}:{RESEARCH}:PromotionRule",
        d.partition(),
        d.region
    );
    assert_eq!(admits, rule_arn, "{at}");
}

#[test]
fn one_stage_has_no_promotions() {
    let c = &CASES[0];
    for (accounts, stages) in [(HOSTING, ""), (HOSTING, "dev")] {
        let t = Rendered::new(
            template("research.yaml"),
            &[
                ("HostingAccountId", accounts),
                ("Stages", stages),
                ("BucketName", BUCKET),
                ("ExternalId", EXTERNAL_ID),
            ],
            c.region,
            RESEARCH,
        )
        .unwrap();
        assert!(t.resource("PromotionRule").unwrap().is_none());
        assert!(t.resource("PromotionBusPolicy").unwrap().is_none());
        let queue_policy = t.resource("UploadQueuePolicy").unwrap().unwrap();
        assert_eq!(
            queue_policy["PolicyDocument"]["Statement"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let env = &t.resource("ImporterFunction").unwrap().unwrap()["Environment"]["Variables"];
        assert_eq!(env.get("FERRY_STAGES").is_some(), !stages.is_empty());
    }
    let hosting = Rendered::new(
        template("hosting.yaml"),
        &[
            ("ResearchAccountId", RESEARCH),
            ("ResearchBucketName", BUCKET),
            ("ExternalId", EXTERNAL_ID),
        ],
        c.region,
        HOSTING,
    )
    .unwrap();
    assert!(hosting.resource("PromotionForwardRule").unwrap().is_none());
    assert!(hosting.resource("PromotionForwardRole").unwrap().is_none());
}

#[test]
fn hosting_template_forwards_each_stages_promotions() {
    for c in &CASES {
        let d = staged(c, 3);
        for stage in d.per_stage() {
            let at = format!("{} stage {:?}", c.region, stage.first_stage);
            let names = name_params(&stage, "hosting.yaml");
            let key = stage.imported_model_kms_key.clone().unwrap_or_default();
            let research_key = stage.research_kms_key.clone().unwrap_or_default();
            let mut params = vec![
                ("ResearchAccountId", RESEARCH),
                ("ResearchBucketName", BUCKET),
                ("ResearchPrefix", c.prefix),
                ("ResearchKmsKeyArn", research_key.as_str()),
                ("ImportedModelKeyArn", key.as_str()),
                ("ExternalId", EXTERNAL_ID),
                ("ForwardPromotions", "true"),
            ];
            params.extend(names.iter().map(|(k, v)| (*k, v.as_str())));
            let t = Rendered::new(
                template("hosting.yaml"),
                &params,
                c.region,
                &stage.hosting_account,
            )
            .expect("renders");
            let role = t.resource("PromotionForwardRole").unwrap().expect(&at);
            assert_same(
                &format!("forwarding role trust ({at})"),
                &role["AssumeRolePolicyDocument"],
                &promotion_forward_role_trust(&stage),
            );
            assert_same(
                &format!("forwarding role policy ({at})"),
                &role["Policies"][0]["PolicyDocument"],
                &promotion_forward_role_policy(&stage),
            );
            assert_same(
                &format!("automation role policy ({at})"),
                &managed(&t, "AutomationRolePolicy", &stage.names.automation_role),
                &automation_role_policy(&stage),
            );
            assert_same(
                &format!("execution role policy ({at})"),
                &managed(&t, "ExecutionRolePolicy", &stage.names.execution_role),
                &execution_role_policy(&stage),
            );
            let rule = t.resource("PromotionForwardRule").unwrap().expect(&at);
            assert_eq!(
                rule["EventPattern"],
                json!({
                    "source": ["ferry"],
                    "detail-type": ["Ferry Import State Change"],
                    "detail": {"state": ["Verified", "Released"]}
                })
            );
            let target = &rule["Targets"][0];
            assert_eq!(target["Arn"], stage.research_event_bus_arn(), "{at}");
            let role_arn = format!(
                "arn:{}:iam::{}:role/PromotionForwardRole",
                stage.partition(),
                stage.hosting_account
            );
            assert_eq!(target["RoleArn"], role_arn, "{at}");
        }
    }
}

#[test]
fn forwarding_reaches_a_research_stack_in_another_region() {
    let t = Rendered::new(
        template("hosting.yaml"),
        &[
            ("ResearchAccountId", RESEARCH),
            ("ResearchBucketName", BUCKET),
            ("ExternalId", EXTERNAL_ID),
            ("ForwardPromotions", "true"),
            ("ResearchRegion", "eu-central-1"),
        ],
        "us-east-1",
        HOSTING,
    )
    .unwrap();
    let bus = format!("arn:aws:events:eu-central-1:{RESEARCH}:event-bus/default");
    let rule = t.resource("PromotionForwardRule").unwrap().unwrap();
    assert_eq!(rule["Targets"][0]["Arn"], bus);
    let role = t.resource("PromotionForwardRole").unwrap().unwrap();
    assert_eq!(
        role["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"],
        bus
    );
}
