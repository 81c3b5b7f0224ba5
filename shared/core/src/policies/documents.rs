//! The documents themselves. Statement ids are part of the definition: the templates
//! carry the same ones, so a reader can match a printed statement to a deployed one.

use serde::Serialize;
use serde_json::{json, Value};

use super::inputs::{Deployment, InputError};
use crate::aws_names::region::{
    dns_suffix, offers_custom_model_import, CUSTOM_MODEL_IMPORT_REGIONS,
};
use crate::import::TAG_KEYS;

const BEDROCK: &str = "bedrock.amazonaws.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// Which of the two accounts a document is installed in.
pub enum Side {
    /// The account that holds the weights' bucket (and its key).
    Research,
    /// The account where Bedrock imports the model and Ferry's automation runs.
    Hosting,
}

/// One document to install, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Stable id: `bucket-policy`, `execution-role-trust`, ...
    pub id: &'static str,
    /// The account it is installed in.
    pub side: Side,
    /// The account it belongs in (none for a document meant for any account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The stage whose hosting account it belongs in, when the stages are named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// What it is attached to, e.g. "bucket model-artifacts-111122223333".
    pub applies_to: String,
    /// What to do with it.
    pub how: String,
    /// The JSON to install: a whole policy document, or one statement for the
    /// `*-key-statement` ids (added to an existing key policy).
    pub document: Value,
}

/// The documents `ferry policies` prints for one deployment, with what applies to all.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentSet {
    /// `aws`, `aws-us-gov` or `aws-cn`, from the region; every ARN uses it.
    pub partition: &'static str,
    /// The deployment's region.
    pub region: String,
    /// Sentences for the reader, such as Custom Model Import not being offered in the
    /// region; empty when there is nothing to say.
    pub warnings: Vec<String>,
    /// One entry per document to install.
    pub documents: Vec<Document>,
}

fn policy(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// One value as a string, several as a list: a one-stage document stays as it was.
fn one_or_many(values: Vec<String>) -> Value {
    match <[String; 1]>::try_from(values) {
        Ok([one]) => json!(one),
        Err(many) => json!(many),
    }
}

/// The stage accounts as principals (pinned further by `aws:PrincipalArn` where used).
fn stage_roots(d: &Deployment) -> Value {
    one_or_many(
        d.stages()
            .iter()
            .map(|stage| d.account_root(&stage.account))
            .collect(),
    )
}

/// One ARN per stage, in stage order, from each stage's single-stage view.
fn per_stage_arns(d: &Deployment, arn: fn(&Deployment) -> String) -> Vec<String> {
    d.per_stage().iter().map(arn).collect()
}

/// `s3:prefix` limited to the watched prefix; nothing when the whole bucket is watched.
fn prefix_condition(d: &Deployment) -> Option<Value> {
    (!d.prefix.is_empty()).then(|| json!({"s3:prefix": format!("{}*", d.prefix)}))
}

/// Listing the watched prefix, in the research account only.
fn list_model_artifacts(d: &Deployment, sid: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": d.bucket_arn(),
        "Condition": with_prefix(
            d,
            json!({"StringEquals": {"aws:ResourceAccount": d.research_account}})
        )
    })
}

/// Seed step 1, limited to the prefix: Bedrock (through every stage's execution role)
/// lists and reads the weights; the trackers list them to notice changed content before a
/// start.
pub fn bucket_policy(d: &Deployment) -> Value {
    let roots = stage_roots(d);
    let listers: Vec<String> = d
        .per_stage()
        .iter()
        .flat_map(|stage| [stage.execution_role_arn(), stage.tracker_role_arn()])
        .collect();
    let mut list_condition = json!({"ArnEquals": {"aws:PrincipalArn": listers}});
    if let Some(prefix) = prefix_condition(d) {
        list_condition["StringLike"] = prefix;
    }
    policy(vec![
        json!({
            "Sid": "FerryListModelArtifacts",
            "Effect": "Allow",
            "Principal": {"AWS": roots},
            "Action": "s3:ListBucket",
            "Resource": d.bucket_arn(),
            "Condition": list_condition
        }),
        json!({
            "Sid": "FerryReadModelArtifacts",
            "Effect": "Allow",
            "Principal": {"AWS": stage_roots(d)},
            "Action": "s3:GetObject",
            "Resource": d.objects_arn(),
            "Condition": {"ArnEquals": {
                "aws:PrincipalArn": one_or_many(per_stage_arns(d, Deployment::execution_role_arn))
            }}
        }),
    ])
}

/// Seed step 2: Bedrock's import jobs of the hosting account, in the region, only.
pub fn execution_role_trust(d: &Deployment) -> Value {
    policy(vec![json!({
        "Sid": "BedrockImportJobs",
        "Effect": "Allow",
        "Principal": {"Service": BEDROCK},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": d.hosting_account},
            "ArnEquals": {"aws:SourceArn": d.import_jobs_arn()}
        }
    })])
}

/// Seed steps 2 and 5: read the weights in the research account, use the keys.
pub fn execution_role_policy(d: &Deployment) -> Value {
    let account = json!({"aws:ResourceAccount": d.research_account});
    let mut statements = vec![
        list_model_artifacts(d, "ListModelArtifacts"),
        json!({
            "Sid": "ReadModelArtifacts",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": d.objects_arn(),
            "Condition": {"StringEquals": account}
        }),
    ];
    if let Some(key) = &d.research_kms_key {
        statements.push(json!({
            "Sid": "DecryptModelArtifacts",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": key
        }));
    }
    if let Some(key) = &d.imported_model_kms_key {
        statements.push(json!({
            "Sid": "EncryptImportedModel",
            "Effect": "Allow",
            "Action": IMPORTED_MODEL_KEY_ACTIONS,
            "Resource": key
        }));
    }
    policy(statements)
}

const IMPORTED_MODEL_KEY_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

/// Seed step 3: the statement to add to the research key's policy (every stage's
/// execution role).
pub fn research_key_statement(d: &Deployment) -> Option<Value> {
    d.research_kms_key.as_ref().map(|_| {
        json!({
            "Sid": "FerryBedrockImportDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": stage_roots(d)},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"ArnEquals": {
                "aws:PrincipalArn": one_or_many(per_stage_arns(d, Deployment::execution_role_arn))
            }}
        })
    })
}

/// Seed step 4: the statement to add to the imported-model key's policy.
pub fn imported_model_key_statement(d: &Deployment) -> Option<Value> {
    d.imported_model_kms_key.as_ref().map(|_| {
        json!({
            "Sid": "FerryBedrockImportUse",
            "Effect": "Allow",
            "Principal": {"AWS": d.execution_role_arn()},
            "Action": IMPORTED_MODEL_KEY_ACTIONS,
            "Resource": "*"
        })
    })
}

/// A whole key policy: the key's account administers it through IAM (the default key
/// policy's statement), plus `statements`.
pub fn key_policy(
    d: &Deployment,
    account: &str,
    statements: impl IntoIterator<Item = Value>,
) -> Value {
    let mut all = vec![json!({
        "Sid": "EnableIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": d.account_root(account)},
        "Action": "kms:*",
        "Resource": "*"
    })];
    all.extend(statements);
    policy(all)
}

/// The automation role (hosting) is assumed by the importer's role only, with the
/// ExternalId. The account root plus `aws:PrincipalArn` lets the hosting stack be
/// created before the research stack's role exists.
pub fn automation_role_trust(d: &Deployment) -> Result<Value, InputError> {
    let external_id = d.external_id.as_ref().ok_or_else(|| InputError {
        field: "--external-id",
        message: "the automation role's trust policy needs the ExternalId the importer presents"
            .into(),
    })?;
    Ok(policy(vec![json!({
        "Sid": "FerryImporter",
        "Effect": "Allow",
        "Principal": {"AWS": d.account_root(&d.research_account)},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"sts:ExternalId": external_id},
            "ArnEquals": {"aws:PrincipalArn": d.importer_role_arn()}
        }
    })]))
}

/// Granted actions that no end-to-end test's call uses, each with why it stays: (role,
/// statement Sid, action, why). The grants test (`tools/local-stack/tests/grants.rs`)
/// requires every other granted action to be used by some recorded call, and this list
/// to be exact.
pub const GRANTS_NO_TEST_REACHES: &[(&str, &str, &str, &str)] = &[
    (
        "automation",
        "FollowImportJobs",
        "bedrock:GetModelImportJob",
        "the importer looks up its own earlier job when Bedrock answers a name conflict (a crash between CreateModelImportJob and the ledger write)",
    ),
    (
        "automation",
        "ReadRolePolicies",
        "iam:GetRolePolicy",
        "the access check reads a role's inline policies; the deployed roles carry managed policies only",
    ),
    (
        "tracker",
        "Ledger",
        "dynamodb:PutItem",
        "the tracker records a job Ferry did not start, and the deletion of a model imported outside Ferry",
    ),
];

/// Statements the importer (through the automation role) and the tracker share: start
/// and follow import jobs, keep the ledger, publish alerts, read the chain's policies.
fn hosting_statements(d: &Deployment, reader_role: String, tracker: bool) -> Vec<Value> {
    let mut statements = import_job_statements(d, tracker);
    if tracker {
        statements.push(clean_up_imported_models(d));
    }
    statements.push(pass_execution_role(d));
    statements.extend(ledger_and_alert_statements(d));
    statements.push(put_state_change_events(d));
    if tracker {
        statements.extend([
            json!({
                "Sid": "ModelUsage",
                "Effect": "Allow",
                "Action": "cloudwatch:GetMetricStatistics",
                "Resource": "*"
            }),
            list_model_artifacts(d, "RelistModelArtifacts"),
        ]);
        statements.extend(after_import_statements(d));
    }
    statements.extend(read_role_statements(d, reader_role));
    if let Some(key) = &d.imported_model_kms_key {
        statements.extend(imported_model_key_statements(d, key));
    }
    statements.push(read_organization());
    statements
}

/// Start, list, follow and tag import jobs (the tracker also lists imported models).
fn import_job_statements(d: &Deployment, tracker: bool) -> Vec<Value> {
    let mut unscoped = vec![
        "bedrock:CreateModelImportJob",
        "bedrock:ListModelImportJobs",
    ];
    if tracker {
        unscoped.push("bedrock:ListImportedModels");
    }
    vec![
        json!({
            "Sid": "StartAndListImportJobs",
            "Effect": "Allow",
            "Action": unscoped,
            "Resource": "*"
        }),
        // The importer's GetModelImportJob: after a name conflict only (see GRANTS_NO_TEST_REACHES).
        json!({
            "Sid": "FollowImportJobs",
            "Effect": "Allow",
            "Action": "bedrock:GetModelImportJob",
            "Resource": d.import_jobs_arn()
        }),
        json!({
            "Sid": "TagImports",
            "Effect": "Allow",
            "Action": "bedrock:TagResource",
            "Resource": [d.import_jobs_arn(), d.bedrock_arn("imported-model/*")],
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": TAG_KEYS}}
        }),
    ]
}

/// The tracker's cleanup: imported models, their tags, their deletion.
fn clean_up_imported_models(d: &Deployment) -> Value {
    json!({
        "Sid": "CleanUpImportedModels",
        "Effect": "Allow",
        "Action": [
            "bedrock:GetImportedModel",
            "bedrock:DeleteImportedModel",
            "bedrock:ListTagsForResource"
        ],
        "Resource": d.bedrock_arn("imported-model/*")
    })
}

/// Pass the execution role, to Bedrock only.
fn pass_execution_role(d: &Deployment) -> Value {
    json!({
        "Sid": "PassExecutionRole",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": d.execution_role_arn(),
        "Condition": {"StringEquals": {"iam:PassedToService": BEDROCK}}
    })
}

/// Keep the ledger; publish alerts to the topic through its key.
fn ledger_and_alert_statements(d: &Deployment) -> [Value; 3] {
    [
        // The tracker's PutItem: foreign jobs and models only (see GRANTS_NO_TEST_REACHES).
        json!({
            "Sid": "Ledger",
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query"
            ],
            "Resource": [d.ledger_table_arn(), format!("{}/index/*", d.ledger_table_arn())]
        }),
        json!({
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": d.alert_topic_arn()
        }),
        json!({
            "Sid": "EncryptAlerts",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": format!("arn:{}:kms:{}:{}:key/*", d.partition(), d.region, d.hosting_account),
            "Condition": {
                "StringEquals": {"kms:ViaService": format!("sns.{}.{}", d.region, dns_suffix(&d.region))},
                "ForAnyValue:StringEquals": {
                    "kms:ResourceAliases": format!("alias/{}", d.names.alert_key_alias)
                }
            }
        }),
    ]
}

/// Put the ledger's state changes on the account's default bus, as Ferry's events only
/// (`events:source` and `events:detail-type` are PutEvents condition keys, checked per
/// entry).
fn put_state_change_events(d: &Deployment) -> Value {
    json!({
        "Sid": "PutStateChangeEvents",
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": d.default_event_bus_arn(),
        "Condition": {
            "StringEquals": {
                "events:source": crate::outbox::SOURCE,
                "events:detail-type": crate::outbox::DETAIL_TYPE
            }
        }
    })
}

/// The tracker after an import: smoke-test the account's imported models, and move
/// the release pointers (SSM parameters under the prefix).
fn after_import_statements(d: &Deployment) -> [Value; 2] {
    [
        json!({
            "Sid": "SmokeTestImportedModels",
            "Effect": "Allow",
            "Action": "bedrock:InvokeModel",
            "Resource": d.bedrock_arn("imported-model/*")
        }),
        json!({
            "Sid": "ReleasePointers",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": d.release_parameters_arn()
        }),
    ]
}

/// Read the roles' policies for the access check: the execution role and the reader's own.
fn read_role_statements(d: &Deployment, reader_role: String) -> [Value; 2] {
    [
        // GetRolePolicy: roles with inline policies only (see GRANTS_NO_TEST_REACHES).
        json!({
            "Sid": "ReadRolePolicies",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies"
            ],
            "Resource": [d.execution_role_arn(), reader_role]
        }),
        json!({
            "Sid": "ReadManagedPolicies",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"],
            "Resource": format!("arn:{}:iam::{}:policy/*", d.partition(), d.hosting_account)
        }),
    ]
}

/// Use the imported-model key through Bedrock, and read its policy.
fn imported_model_key_statements(d: &Deployment, key: &str) -> [Value; 2] {
    [
        // Bedrock creates its grant on the key with the caller's session.
        json!({
            "Sid": "UseImportedModelKey",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key,
            "Condition": {
                "StringEquals": {"kms:ViaService": format!("bedrock.{}.{}", d.region, dns_suffix(&d.region))}
            }
        }),
        json!({
            "Sid": "ReadImportedModelKeyPolicy",
            "Effect": "Allow",
            "Action": "kms:GetKeyPolicy",
            "Resource": key
        }),
    ]
}

fn with_prefix(d: &Deployment, mut condition: Value) -> Value {
    if let Some(prefix) = prefix_condition(d) {
        condition["StringLike"] = prefix;
    }
    condition
}

fn read_organization() -> Value {
    json!({
        "Sid": "ReadOrganization",
        "Effect": "Allow",
        "Action": "organizations:DescribeOrganization",
        "Resource": "*"
    })
}

/// What the importer does in the hosting account, through the automation role.
pub fn automation_role_policy(d: &Deployment) -> Value {
    policy(hosting_statements(d, d.automation_role_arn(), false))
}

/// What the tracker does in the hosting account, with its own role.
pub fn tracker_role_policy(d: &Deployment) -> Value {
    policy(hosting_statements(d, d.tracker_role_arn(), true))
}

/// What the importer does in the research account with its own role (the SQS queue and
/// logs are granted by the template, next to the resources they name).
pub fn importer_role_policy(d: &Deployment) -> Value {
    let mut statements = vec![
        list_model_artifacts(d, "ListModelArtifacts"),
        json!({
            "Sid": "ReadModelArtifacts",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": d.objects_arn()
        }),
        json!({
            "Sid": "ReadBucketPolicy",
            "Effect": "Allow",
            "Action": "s3:GetBucketPolicy",
            "Resource": d.bucket_arn()
        }),
    ];
    if let Some(key) = &d.research_kms_key {
        let key_region = key.split(':').nth(3).unwrap_or(&d.region);
        statements.extend([
            json!({
                "Sid": "DecryptModelArtifacts",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key,
                "Condition": {
                    "StringEquals": {"kms:ViaService": format!("s3.{key_region}.{}", dns_suffix(key_region))}
                }
            }),
            json!({
                "Sid": "ReadResearchKeyPolicy",
                "Effect": "Allow",
                "Action": "kms:GetKeyPolicy",
                "Resource": key
            }),
        ]);
    }
    statements.extend([
        json!({
            "Sid": "AssumeAutomationRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": one_or_many(per_stage_arns(d, Deployment::automation_role_arn))
        }),
        read_organization(),
    ]);
    policy(statements)
}

/// The research account's default bus accepts the stage accounts' promotion events:
/// Ferry's state changes only (AWS's example for a bus in another account names the
/// sending accounts and limits `events:source` and `events:detail-type`).
pub fn promotion_bus_policy(d: &Deployment) -> Value {
    policy(vec![json!({
        "Sid": "FerryStagePromotions",
        "Effect": "Allow",
        "Principal": {"AWS": stage_roots(d)},
        "Action": "events:PutEvents",
        "Resource": d.research_event_bus_arn(),
        "Condition": {
            "ForAllValues:StringEquals": {"events:source": crate::outbox::SOURCE},
            "StringEquals": {"events:detail-type": crate::outbox::DETAIL_TYPE}
        }
    })])
}

/// EventBridge assumes the forwarding rule's role to put events on the research bus.
pub fn promotion_forward_role_trust(d: &Deployment) -> Value {
    // Only the stage account's forwarding rule: no other rule or account can have
    // EventBridge act with this role (confused deputy).
    let rule = format!(
        "arn:{}:events:{}:{}:rule/{PROMOTION_FORWARD_RULE}",
        d.partition(),
        d.region,
        d.hosting_account
    );
    policy(vec![json!({
        "Sid": "EventBridgeRules",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": d.hosting_account},
            "ArnEquals": {"aws:SourceArn": rule}
        }
    })])
}

/// The hosting stack's rule that forwards promotion events (a fixed name, so that the
/// forwarding role can trust it alone).
pub const PROMOTION_FORWARD_RULE: &str = "ferry-promotion-forward";

/// The forwarding rule's role may put events on the research account's default bus only.
pub fn promotion_forward_role_policy(d: &Deployment) -> Value {
    policy(vec![json!({
        "Sid": "ForwardPromotions",
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": d.research_event_bus_arn()
    })])
}

fn document(
    id: &'static str,
    side: Side,
    d: &Deployment,
    applies_to: String,
    how: String,
    body: Value,
) -> Document {
    let (account, stage) = match side {
        Side::Research => (d.research_account.clone(), None),
        Side::Hosting => (d.hosting_account.clone(), d.first_stage.clone()),
    };
    Document {
        id,
        side,
        account: Some(account),
        stage,
        applies_to,
        how,
        document: body,
    }
}

impl DocumentSet {
    /// The seed's procedure, filled in: what Bedrock needs to read the weights (per-account
    /// documents once per stage, in stage order).
    pub fn seed(d: &Deployment) -> DocumentSet {
        let stages = d.per_stage();
        let mut documents = vec![document(
            "bucket-policy",
            Side::Research,
            d,
            format!("bucket {}", d.bucket),
            "Merge these statements into the bucket policy (s3api put-bucket-policy replaces the whole policy).".into(),
            bucket_policy(d),
        )];
        documents.extend(stages.iter().flat_map(execution_role_documents));
        if let (Some(key), Some(statement)) = (&d.research_kms_key, research_key_statement(d)) {
            documents.push(document(
                "research-key-statement",
                Side::Research,
                d,
                format!("key {key}"),
                "Add this statement to the key policy of the key that encrypts the weights.".into(),
                statement,
            ));
        }
        for stage in &stages {
            if let (Some(key), Some(statement)) = (
                &stage.imported_model_kms_key,
                imported_model_key_statement(stage),
            ) {
                documents.push(document(
                    "imported-model-key-statement",
                    Side::Hosting,
                    stage,
                    format!("key {key}"),
                    "Add this statement to the key policy of the imported-model key.".into(),
                    statement,
                ));
            }
        }
        DocumentSet {
            partition: d.partition(),
            region: d.region.clone(),
            warnings: region_warnings(&d.region),
            documents,
        }
    }

    /// Ferry's own roles (the SAM templates create them), and with several stages what
    /// carries promotions from the stage accounts to the importer.
    pub fn ferry_roles(d: &Deployment) -> Result<DocumentSet, InputError> {
        let mut documents = vec![document(
            "importer-role-policy",
            Side::Research,
            d,
            format!("role {}", d.names.importer_role),
            "The importer function's role (plus its SQS queue and logs).".into(),
            importer_role_policy(d),
        )];
        for stage in d.per_stage() {
            documents.extend(stage_role_documents(&stage)?);
            if d.promotes() {
                documents.extend(promotion_forward_documents(&stage));
            }
        }
        if d.promotes() {
            documents.push(document(
                "promotion-bus-policy",
                Side::Research,
                d,
                "the default event bus".into(),
                "Let the stage accounts forward their Verified and Released events (the research stack adds this statement with two or more stages; by hand, aws events put-permission --policy replaces the bus's whole policy).".into(),
                promotion_bus_policy(d),
            ));
        }
        Ok(DocumentSet {
            partition: d.partition(),
            region: d.region.clone(),
            warnings: region_warnings(&d.region),
            documents,
        })
    }
}

/// The execution role's trust and identity policies, for one stage.
fn execution_role_documents(stage: &Deployment) -> [Document; 2] {
    [
        document(
            "execution-role-trust",
            Side::Hosting,
            stage,
            format!("role {}", stage.names.execution_role),
            "The trust policy of the Custom Model Import execution role.".into(),
            execution_role_trust(stage),
        ),
        document(
            "execution-role-policy",
            Side::Hosting,
            stage,
            format!("role {}", stage.names.execution_role),
            "The execution role's identity policy (inline or managed).".into(),
            execution_role_policy(stage),
        ),
    ]
}

/// The automation and tracker roles of one stage's hosting account.
fn stage_role_documents(stage: &Deployment) -> Result<[Document; 3], InputError> {
    Ok([
        document(
            "automation-role-trust",
            Side::Hosting,
            stage,
            format!("role {}", stage.names.automation_role),
            "The trust policy of the role the importer assumes in the hosting account.".into(),
            automation_role_trust(stage)?,
        ),
        document(
            "automation-role-policy",
            Side::Hosting,
            stage,
            format!("role {}", stage.names.automation_role),
            "The automation role's identity policy.".into(),
            automation_role_policy(stage),
        ),
        document(
            "tracker-role-policy",
            Side::Hosting,
            stage,
            format!("role {}", stage.names.tracker_role),
            "The tracker function's role (plus its logs).".into(),
            tracker_role_policy(stage),
        ),
    ])
}

/// The role of one stage's rule forwarding its promotion events to the research bus.
fn promotion_forward_documents(stage: &Deployment) -> [Document; 2] {
    let applies_to =
        "the role of the rule forwarding promotions (hosting stack, ForwardPromotions=true)";
    [
        document(
            "promotion-forward-role-trust",
            Side::Hosting,
            stage,
            applies_to.into(),
            "The trust policy: EventBridge assumes the role for the rule's target.".into(),
            promotion_forward_role_trust(stage),
        ),
        document(
            "promotion-forward-role-policy",
            Side::Hosting,
            stage,
            applies_to.into(),
            "The role's identity policy: put events on the research account's default bus.".into(),
            promotion_forward_role_policy(stage),
        ),
    ]
}

/// A warning when Custom Model Import is not offered in the region (none when it is).
pub(crate) fn region_warnings(region: &str) -> Vec<String> {
    if offers_custom_model_import(region) {
        return Vec::new();
    }
    let mut warning = format!(
        "Custom Model Import is not offered in {region} (it is in {}): these documents are correct for the partition, but no import job can run there",
        CUSTOM_MODEL_IMPORT_REGIONS.join(", ")
    );
    if region.starts_with("us-gov-") {
        warning.push_str(
            "; in GovCloud, block inference on models you cannot remove with --deny-inference",
        );
    }
    vec![warning]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::Stage;

    fn deployment() -> Deployment {
        let mut d = Deployment::new(
            "111122223333",
            "777788889999",
            "us-east-1",
            "model-artifacts-111122223333",
            "models/",
        );
        d.external_id = Some("ferry-external-id".into());
        d
    }

    fn labels(set: &DocumentSet) -> Vec<(&str, Option<&str>)> {
        set.documents
            .iter()
            .map(|doc| (doc.id, doc.stage.as_deref()))
            .collect()
    }

    #[test]
    fn one_stage_keeps_single_values_and_no_stage_labels() {
        let d = deployment();
        let bucket = bucket_policy(&d);
        assert_eq!(
            bucket["Statement"][1]["Principal"]["AWS"],
            "arn:aws:iam::777788889999:root"
        );
        let importer = importer_role_policy(&d);
        let assume = importer["Statement"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["Sid"] == "AssumeAutomationRole"))
            .expect("AssumeAutomationRole");
        assert_eq!(
            assume["Resource"],
            "arn:aws:iam::777788889999:role/FerryAutomation"
        );
        let roles = DocumentSet::ferry_roles(&d).expect("roles");
        assert!(labels(&roles).iter().all(|(_, stage)| stage.is_none()));
        assert_eq!(roles.documents.len(), 4, "no promotion documents");
    }

    #[test]
    fn several_stages_print_per_account_documents_once_per_stage() {
        let d = deployment().with_stages(vec![
            Stage::new("dev", "444455556666"),
            Stage::new("prod", "777788889999"),
        ]);
        let seed = DocumentSet::seed(&d);
        assert_eq!(
            labels(&seed),
            [
                ("bucket-policy", None),
                ("execution-role-trust", Some("dev")),
                ("execution-role-policy", Some("dev")),
                ("execution-role-trust", Some("prod")),
                ("execution-role-policy", Some("prod")),
            ]
        );
        let roles = DocumentSet::ferry_roles(&d).expect("roles");
        let mut expected = vec![("importer-role-policy", None)];
        for stage in ["dev", "prod"] {
            for id in [
                "automation-role-trust",
                "automation-role-policy",
                "tracker-role-policy",
                "promotion-forward-role-trust",
                "promotion-forward-role-policy",
            ] {
                expected.push((id, Some(stage)));
            }
        }
        expected.push(("promotion-bus-policy", None));
        assert_eq!(labels(&roles), expected);
        let bus = promotion_bus_policy(&d);
        assert_eq!(
            bus["Statement"][0]["Principal"]["AWS"],
            json!([
                "arn:aws:iam::444455556666:root",
                "arn:aws:iam::777788889999:root"
            ])
        );
        assert_eq!(
            bus["Statement"][0]["Resource"],
            "arn:aws:events:us-east-1:111122223333:event-bus/default"
        );
    }
}
