//! What each AWS operation Ferry calls needs from IAM: the actions, the resource ARN
//! built from the request's own parameters, and the condition keys the authorization
//! reads (the Service Authorization Reference; `../shared/FACTS.md` for Bedrock).
//! An operation missing here is an error, so a new call cannot go unchecked.

use serde_json::{Map, Value};

use crate::iam::Rule;

/// One request as the request log recorded it (`ferry_aws::request_log`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The SDK's service name (`S3`, `DynamoDB`, `Bedrock`...).
    pub service: String,
    /// The API operation (`GetObject`, `CreateModelImportJob`).
    pub operation: String,
    /// The region of the signature.
    pub region: String,
    /// The request parameters the log keeps, by snake_case name (`bucket`, `key_id`,
    /// `role_arn`).
    pub params: Map<String, Value>,
}

/// One permission a call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The IAM action authorized (`s3:GetObject`).
    pub action: &'static str,
    /// The ARN of the resource the action is authorized on, or `*` for actions that
    /// take none.
    pub resource: String,
    /// Condition keys of the request beyond the principal's own.
    pub context: Vec<(&'static str, Vec<String>)>,
    /// The evaluation rule of the resource: KMS keys and role trust differ from the
    /// standard one.
    pub rule: Rule,
    /// AWS refuses it across accounts whatever the policies say (a bucket's policy,
    /// a key's policy, IAM's own reads).
    pub same_account_only: bool,
}

/// Why a call could not be mapped to its permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedError {
    /// The operation has no entry in the table of needs.
    #[error("{service}.{operation} is not in Ferry's table of operations and the permissions they need (shared/core/src/grants/needs.rs): add it")]
    UnknownOperation {
        /// The SDK's service name.
        service: String,
        /// The operation without an entry.
        operation: String,
    },
    /// The log lacks a parameter the resource ARN or a condition is built from.
    #[error("{service}.{operation} was recorded without its {param:?} parameter (ferry_aws::request_log must record it)")]
    MissingParam {
        /// The SDK's service name.
        service: String,
        /// The operation recorded.
        operation: String,
        /// The snake_case name of the missing parameter.
        param: &'static str,
    },
}

/// Who is asking: the account and partition a resource without its own account
/// (a table name, a role name) belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The caller's 12-digit account ID.
    pub account: &'a str,
    /// The caller's partition (`aws`, `aws-us-gov`, `aws-cn`).
    pub partition: &'a str,
}

const BEDROCK: &str = "bedrock.amazonaws.com";

fn need(action: &'static str, resource: impl Into<String>) -> Need {
    Need {
        action,
        resource: resource.into(),
        context: Vec::new(),
        rule: Rule::Standard,
        same_account_only: false,
    }
}

/// A need AWS grants only within the resource's own account.
fn own_account(action: &'static str, resource: impl Into<String>) -> Need {
    Need {
        same_account_only: true,
        ..need(action, resource)
    }
}

/// The permissions `call` needs when `caller` makes it.
pub fn needs(call: &Call, caller: Caller<'_>) -> Result<Vec<Need>, NeedError> {
    let ask = Ask { call, caller };
    let op = call.operation.as_str();
    let known = match call.service.as_str() {
        "S3" => s3(&ask, op)?,
        "STS" => sts(&ask, op)?,
        "KMS" if op == "GetKeyPolicy" => Some(vec![Need {
            rule: Rule::Kms,
            ..own_account(
                "kms:GetKeyPolicy",
                ask.arn_or("kms", "key/", ask.param("key_id")?),
            )
        }]),
        "IAM" => iam(&ask, op)?,
        "Organizations" if op == "DescribeOrganization" => {
            Some(vec![need("organizations:DescribeOrganization", "*")])
        }
        "DynamoDB" => dynamodb(&ask, op)?,
        "SNS" if op == "Publish" => Some(vec![need("sns:Publish", ask.param("topic_arn")?)]),
        "Bedrock" => bedrock(&ask, op)?,
        "CloudWatch" if op == "GetMetricStatistics" => {
            Some(vec![need("cloudwatch:GetMetricStatistics", "*")])
        }
        "EventBridge" if op == "PutEvents" => Some(put_events(&ask)?),
        "SSM" if matches!(op, "GetParameter" | "PutParameter") => {
            let action = if op == "GetParameter" {
                "ssm:GetParameter"
            } else {
                "ssm:PutParameter"
            };
            Some(vec![need(action, parameter_arn(&ask, ask.param("name")?))])
        }
        // A name stands where AWS would put an id, as for Bedrock's control plane.
        "Bedrock Runtime" if op == "InvokeModel" => Some(vec![need(
            "bedrock:InvokeModel",
            ask.arn_or("bedrock", "imported-model/", ask.param("model_id")?),
        )]),
        _ => None,
    };
    known.ok_or_else(|| NeedError::UnknownOperation {
        service: call.service.clone(),
        operation: call.operation.clone(),
    })
}

/// One call and who makes it: its parameters, and ARNs in the caller's account.
struct Ask<'a> {
    call: &'a Call,
    caller: Caller<'a>,
}

impl Ask<'_> {
    fn param(&self, name: &'static str) -> Result<&str, NeedError> {
        self.call
            .params
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| NeedError::MissingParam {
                service: self.call.service.clone(),
                operation: self.call.operation.clone(),
                param: name,
            })
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.call.params.get(name).and_then(Value::as_str)
    }

    /// `identifier` when it is an ARN, else the ARN of `service`'s `kind``identifier`
    /// in the caller's account and the call's region.
    fn arn_or(&self, service: &str, kind: &str, identifier: &str) -> String {
        if identifier.starts_with("arn:") {
            return identifier.to_owned();
        }
        let Caller { account, partition } = self.caller;
        let region = &self.call.region;
        format!("arn:{partition}:{service}:{region}:{account}:{kind}{identifier}")
    }

    fn bucket_arn(&self, resource: &str) -> String {
        format!("arn:{}:s3:::{resource}", self.caller.partition)
    }
}

fn s3(ask: &Ask<'_>, op: &str) -> Result<Option<Vec<Need>>, NeedError> {
    Ok(Some(match op {
        "ListObjectsV2" => {
            let mut list = need("s3:ListBucket", ask.bucket_arn(ask.param("bucket")?));
            let prefix = ask.optional("prefix").unwrap_or_default().to_owned();
            list.context.push(("s3:prefix", vec![prefix]));
            vec![list]
        }
        // HeadObject is authorized as GetObject.
        "GetObject" | "HeadObject" => {
            let object = format!("{}/{}", ask.param("bucket")?, ask.param("key")?);
            vec![need("s3:GetObject", ask.bucket_arn(&object))]
        }
        "GetBucketPolicy" => vec![own_account(
            "s3:GetBucketPolicy",
            ask.bucket_arn(ask.param("bucket")?),
        )],
        _ => return Ok(None),
    }))
}

fn sts(ask: &Ask<'_>, op: &str) -> Result<Option<Vec<Need>>, NeedError> {
    Ok(Some(match op {
        "GetCallerIdentity" => Vec::new(), // needs no permission
        "AssumeRole" => {
            let mut assume = need("sts:AssumeRole", ask.param("role_arn")?);
            if let Some(id) = ask.optional("external_id") {
                assume.context.push(("sts:ExternalId", vec![id.to_owned()]));
            }
            vec![assume]
        }
        _ => return Ok(None),
    }))
}

fn iam(ask: &Ask<'_>, op: &str) -> Result<Option<Vec<Need>>, NeedError> {
    let action = match op {
        "GetRole" => "iam:GetRole",
        "ListRolePolicies" => "iam:ListRolePolicies",
        "GetRolePolicy" => "iam:GetRolePolicy",
        "ListAttachedRolePolicies" => "iam:ListAttachedRolePolicies",
        "GetPolicy" => "iam:GetPolicy",
        "GetPolicyVersion" => "iam:GetPolicyVersion",
        _ => return Ok(None),
    };
    let resource = if matches!(op, "GetPolicy" | "GetPolicyVersion") {
        ask.param("policy_arn")?.to_owned()
    } else {
        let Caller { account, partition } = ask.caller;
        format!(
            "arn:{partition}:iam::{account}:role/{}",
            ask.param("role_name")?
        )
    };
    Ok(Some(vec![own_account(action, resource)]))
}

fn dynamodb(ask: &Ask<'_>, op: &str) -> Result<Option<Vec<Need>>, NeedError> {
    let action = match op {
        "GetItem" => "dynamodb:GetItem",
        "PutItem" => "dynamodb:PutItem",
        "UpdateItem" => "dynamodb:UpdateItem",
        "Query" => "dynamodb:Query",
        _ => return Ok(None),
    };
    let mut table = ask.arn_or("dynamodb", "table/", ask.param("table")?);
    if let Some(index) = ask.optional("index") {
        table = format!("{table}/index/{index}");
    }
    Ok(Some(vec![need(action, table)]))
}

fn bedrock(ask: &Ask<'_>, op: &str) -> Result<Option<Vec<Need>>, NeedError> {
    // A name stands where AWS would put an id: the grants are by prefix.
    let arn = |kind: &str, param: &'static str| -> Result<String, NeedError> {
        Ok(ask.arn_or("bedrock", kind, ask.param(param)?))
    };
    Ok(Some(match op {
        "CreateModelImportJob" => create_import_job(ask)?,
        "ListModelImportJobs" => vec![need("bedrock:ListModelImportJobs", "*")],
        "ListImportedModels" => vec![need("bedrock:ListImportedModels", "*")],
        "GetModelImportJob" => vec![need(
            "bedrock:GetModelImportJob",
            arn("model-import-job/", "job")?,
        )],
        "GetImportedModel" => vec![need(
            "bedrock:GetImportedModel",
            arn("imported-model/", "model")?,
        )],
        "DeleteImportedModel" => vec![need(
            "bedrock:DeleteImportedModel",
            arn("imported-model/", "model")?,
        )],
        "ListTagsForResource" => vec![need(
            "bedrock:ListTagsForResource",
            ask.param("resource_arn")?,
        )],
        _ => return Ok(None),
    }))
}

/// PutEvents is authorized entry by entry: each on its bus, with its `source` and
/// `detail-type` as condition keys.
fn put_events(ask: &Ask<'_>) -> Result<Vec<Need>, NeedError> {
    let entries = ask
        .call
        .params
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| NeedError::MissingParam {
            service: ask.call.service.clone(),
            operation: ask.call.operation.clone(),
            param: "entries",
        })?;
    let mut needs: Vec<Need> = Vec::new();
    for entry in entries {
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
        let bus = match text("bus") {
            "" => "default",
            bus => bus,
        };
        let mut put = need("events:PutEvents", ask.arn_or("events", "event-bus/", bus));
        put.context = vec![
            ("events:source", vec![text("source").to_owned()]),
            ("events:detail-type", vec![text("detail_type").to_owned()]),
        ];
        if !needs.contains(&put) {
            needs.push(put);
        }
    }
    Ok(needs)
}

/// An SSM parameter's ARN from its name (`/a/b` → `parameter/a/b`, `x` → `parameter/x`).
fn parameter_arn(ask: &Ask<'_>, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_owned();
    }
    ask.arn_or("ssm", "parameter/", name.trim_start_matches('/'))
}

fn tag_keys(call: &Call, name: &str) -> Vec<String> {
    call.params
        .get(name)
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// CreateModelImportJob: the job itself (`*`, with the tag keys it sets), passing the
/// execution role to Bedrock, tagging the job and the model it creates (as the
/// templates grant it), and, with a key for the imported model, the key operations
/// Bedrock performs with the caller's session.
fn create_import_job(ask: &Ask<'_>) -> Result<Vec<Need>, NeedError> {
    let call = ask.call;
    let job_tags = tag_keys(call, "job_tag_keys");
    let model_tags = tag_keys(call, "imported_model_tag_keys");
    let mut all_tags: Vec<String> = job_tags.iter().chain(&model_tags).cloned().collect();
    all_tags.sort();
    all_tags.dedup();
    let mut create = need("bedrock:CreateModelImportJob", "*");
    if !all_tags.is_empty() {
        create.context.push(("aws:TagKeys", all_tags));
    }
    let mut pass = need("iam:PassRole", ask.param("role_arn")?);
    pass.context
        .push(("iam:PassedToService", vec![BEDROCK.to_owned()]));
    let mut needs = vec![create, pass];
    for (keys, kind, name) in [
        (job_tags, "model-import-job/", ask.param("job_name")?),
        (
            model_tags,
            "imported-model/",
            ask.param("imported_model_name")?,
        ),
    ] {
        if !keys.is_empty() {
            let mut tag = need("bedrock:TagResource", ask.arn_or("bedrock", kind, name));
            tag.context.push(("aws:TagKeys", keys));
            needs.push(tag);
        }
    }
    if let Some(key) = ask.optional("imported_model_kms_key_id") {
        let via = format!("bedrock.{}.amazonaws.com", call.region);
        for action in [
            "kms:CreateGrant",
            "kms:DescribeKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
        ] {
            needs.push(Need {
                context: vec![("kms:ViaService", vec![via.clone()])],
                rule: Rule::Kms,
                ..need(action, key)
            });
        }
    }
    Ok(needs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(service: &str, operation: &str, params: Value) -> Call {
        Call {
            service: service.into(),
            operation: operation.into(),
            region: "us-east-1".into(),
            params: params.as_object().cloned().unwrap_or_default(),
        }
    }

    const CALLER: Caller<'static> = Caller {
        account: "777788889999",
        partition: "aws",
    };

    #[test]
    fn resources_come_from_the_requests_parameters() {
        let list = needs(
            &call(
                "S3",
                "ListObjectsV2",
                json!({"bucket": "b", "prefix": "m/"}),
            ),
            CALLER,
        )
        .unwrap();
        assert_eq!(list[0].action, "s3:ListBucket");
        assert_eq!(list[0].resource, "arn:aws:s3:::b");
        assert_eq!(list[0].context, vec![("s3:prefix", vec!["m/".to_owned()])]);
        let head = needs(
            &call(
                "S3",
                "HeadObject",
                json!({"bucket": "b", "key": "m/config.json"}),
            ),
            CALLER,
        )
        .unwrap();
        assert_eq!(head[0].action, "s3:GetObject");
        assert_eq!(head[0].resource, "arn:aws:s3:::b/m/config.json");
        let query = needs(
            &call(
                "DynamoDB",
                "Query",
                json!({"table": "ledger", "index": "by-state"}),
            ),
            CALLER,
        )
        .unwrap();
        assert_eq!(
            query[0].resource,
            "arn:aws:dynamodb:us-east-1:777788889999:table/ledger/index/by-state"
        );
    }

    #[test]
    fn an_import_job_passes_the_role_and_tags_what_it_creates() {
        let create = needs(
            &call(
                "Bedrock",
                "CreateModelImportJob",
                json!({"job_name": "j", "imported_model_name": "m",
                       "role_arn": "arn:aws:iam::777788889999:role/E",
                       "job_tag_keys": ["ferry:fingerprint"], "imported_model_tag_keys": ["ferry:folder"]}),
            ),
            CALLER,
        )
        .unwrap();
        let actions: Vec<&str> = create.iter().map(|n| n.action).collect();
        assert_eq!(
            actions,
            [
                "bedrock:CreateModelImportJob",
                "iam:PassRole",
                "bedrock:TagResource",
                "bedrock:TagResource"
            ]
        );
        assert_eq!(
            create[1].context,
            vec![("iam:PassedToService", vec![BEDROCK.to_owned()])]
        );
        assert_eq!(
            create[3].resource,
            "arn:aws:bedrock:us-east-1:777788889999:imported-model/m"
        );
    }

    #[test]
    fn events_parameters_and_invocations_name_their_resources() {
        let put = needs(
            &call(
                "EventBridge",
                "PutEvents",
                json!({"entries": [
                    {"source": "ferry", "detail_type": "D"},
                    {"source": "ferry", "detail_type": "D"},
                    {"source": "other", "detail_type": "D", "bus": "custom"}
                ]}),
            ),
            CALLER,
        )
        .unwrap();
        assert_eq!(put.len(), 2, "one need per distinct entry");
        assert_eq!(
            put[0].resource,
            "arn:aws:events:us-east-1:777788889999:event-bus/default"
        );
        assert_eq!(
            put[0].context,
            vec![
                ("events:source", vec!["ferry".to_owned()]),
                ("events:detail-type", vec!["D".to_owned()])
            ]
        );
        assert!(put[1].resource.ends_with(":event-bus/custom"));
        let get = needs(
            &call("SSM", "GetParameter", json!({"name": "/ferry/m/live"})),
            CALLER,
        )
        .unwrap();
        assert_eq!(
            (get[0].action, get[0].resource.as_str()),
            (
                "ssm:GetParameter",
                "arn:aws:ssm:us-east-1:777788889999:parameter/ferry/m/live"
            )
        );
        let arn = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";
        let invoke = needs(
            &call("Bedrock Runtime", "InvokeModel", json!({"model_id": arn})),
            CALLER,
        )
        .unwrap();
        assert_eq!(
            (invoke[0].action, invoke[0].resource.as_str()),
            ("bedrock:InvokeModel", arn)
        );
    }

    #[test]
    fn unknown_operations_and_missing_parameters_are_errors() {
        assert!(matches!(
            needs(&call("S3", "PutObject", json!({})), CALLER),
            Err(NeedError::UnknownOperation { .. })
        ));
        let err = needs(&call("S3", "GetObject", json!({"bucket": "b"})), CALLER).unwrap_err();
        assert!(err.to_string().contains("\"key\""), "{err}");
    }
}
