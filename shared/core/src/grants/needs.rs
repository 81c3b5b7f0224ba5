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
    pub operation: String,
    /// The region of the signature.
    pub region: String,
    pub params: Map<String, Value>,
}

/// One permission a call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub action: &'static str,
    pub resource: String,
    /// Condition keys of the request beyond the principal's own.
    pub context: Vec<(&'static str, Vec<String>)>,
    pub rule: Rule,
}

/// Why a call could not be mapped to its permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedError {
    #[error("{service}.{operation} is not in Ferry's table of operations and the permissions they need (shared/core/src/grants/needs.rs): add it")]
    UnknownOperation { service: String, operation: String },
    #[error("{service}.{operation} was recorded without its {param:?} parameter (ferry_aws::request_log must record it)")]
    MissingParam {
        service: String,
        operation: String,
        param: &'static str,
    },
}

/// Who is asking: the account and partition a resource without its own account
/// (a table name, a role name) belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub account: &'a str,
    pub partition: &'a str,
}

const BEDROCK: &str = "bedrock.amazonaws.com";

fn need(action: &'static str, resource: impl Into<String>) -> Need {
    Need {
        action,
        resource: resource.into(),
        context: Vec::new(),
        rule: Rule::Standard,
    }
}

/// The permissions `call` needs when `caller` makes it.
pub fn needs(call: &Call, caller: Caller<'_>) -> Result<Vec<Need>, NeedError> {
    let p = caller.partition;
    let param = |name: &'static str| -> Result<&str, NeedError> {
        call.params
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| NeedError::MissingParam {
                service: call.service.clone(),
                operation: call.operation.clone(),
                param: name,
            })
    };
    let bedrock = |resource: &str| {
        format!(
            "arn:{p}:bedrock:{}:{}:{resource}",
            call.region, caller.account
        )
    };
    let object = || -> Result<String, NeedError> {
        Ok(format!(
            "arn:{p}:s3:::{}/{}",
            param("bucket")?,
            param("key")?
        ))
    };
    let needs = match (call.service.as_str(), call.operation.as_str()) {
        ("S3", "ListObjectsV2") => {
            let mut list = need(
                "s3:ListBucket",
                format!("arn:{p}:s3:::{}", param("bucket")?),
            );
            let prefix = call.params.get("prefix").and_then(Value::as_str);
            list.context
                .push(("s3:prefix", vec![prefix.unwrap_or_default().to_owned()]));
            vec![list]
        }
        // HeadObject is authorized as GetObject.
        ("S3", "GetObject" | "HeadObject") => vec![need("s3:GetObject", object()?)],
        ("S3", "GetBucketPolicy") => vec![need(
            "s3:GetBucketPolicy",
            format!("arn:{p}:s3:::{}", param("bucket")?),
        )],
        ("STS", "GetCallerIdentity") => Vec::new(), // needs no permission
        ("STS", "AssumeRole") => {
            let mut assume = need("sts:AssumeRole", param("role_arn")?);
            if let Some(id) = call.params.get("external_id").and_then(Value::as_str) {
                assume.context.push(("sts:ExternalId", vec![id.to_owned()]));
            }
            vec![assume]
        }
        ("KMS", "GetKeyPolicy") => {
            let key = param("key_id")?;
            let arn = if key.starts_with("arn:") {
                key.to_owned()
            } else {
                format!("arn:{p}:kms:{}:{}:key/{key}", call.region, caller.account)
            };
            vec![Need {
                rule: Rule::Kms,
                ..need("kms:GetKeyPolicy", arn)
            }]
        }
        (
            "IAM",
            op @ ("GetRole" | "ListRolePolicies" | "GetRolePolicy" | "ListAttachedRolePolicies"),
        ) => {
            let action = match op {
                "GetRole" => "iam:GetRole",
                "ListRolePolicies" => "iam:ListRolePolicies",
                "GetRolePolicy" => "iam:GetRolePolicy",
                _ => "iam:ListAttachedRolePolicies",
            };
            let role = format!(
                "arn:{p}:iam::{}:role/{}",
                caller.account,
                param("role_name")?
            );
            vec![need(action, role)]
        }
        ("IAM", "GetPolicy") => vec![need("iam:GetPolicy", param("policy_arn")?)],
        ("IAM", "GetPolicyVersion") => vec![need("iam:GetPolicyVersion", param("policy_arn")?)],
        ("Organizations", "DescribeOrganization") => {
            vec![need("organizations:DescribeOrganization", "*")]
        }
        ("DynamoDB", op @ ("GetItem" | "PutItem" | "UpdateItem" | "Query")) => {
            let action = match op {
                "GetItem" => "dynamodb:GetItem",
                "PutItem" => "dynamodb:PutItem",
                "UpdateItem" => "dynamodb:UpdateItem",
                _ => "dynamodb:Query",
            };
            let table = param("table")?;
            let mut arn = if table.starts_with("arn:") {
                table.to_owned()
            } else {
                format!(
                    "arn:{p}:dynamodb:{}:{}:table/{table}",
                    call.region, caller.account
                )
            };
            if let Some(index) = call.params.get("index").and_then(Value::as_str) {
                arn = format!("{arn}/index/{index}");
            }
            vec![need(action, arn)]
        }
        ("SNS", "Publish") => vec![need("sns:Publish", param("topic_arn")?)],
        ("Bedrock", "CreateModelImportJob") => create_import_job(call, caller, &param)?,
        ("Bedrock", "ListModelImportJobs") => vec![need("bedrock:ListModelImportJobs", "*")],
        ("Bedrock", "ListImportedModels") => vec![need("bedrock:ListImportedModels", "*")],
        ("Bedrock", "GetModelImportJob") => {
            let job = param("job")?;
            let arn = arn_or(job, || bedrock(&format!("model-import-job/{job}")));
            vec![need("bedrock:GetModelImportJob", arn)]
        }
        ("Bedrock", op @ ("GetImportedModel" | "DeleteImportedModel")) => {
            let action = if op == "GetImportedModel" {
                "bedrock:GetImportedModel"
            } else {
                "bedrock:DeleteImportedModel"
            };
            // A name stands where AWS would put the model's id: the grants are by prefix.
            let model = param("model")?;
            vec![need(
                action,
                arn_or(model, || bedrock(&format!("imported-model/{model}"))),
            )]
        }
        ("Bedrock", "ListTagsForResource") => {
            vec![need("bedrock:ListTagsForResource", param("resource_arn")?)]
        }
        ("CloudWatch", "GetMetricStatistics") => vec![need("cloudwatch:GetMetricStatistics", "*")],
        _ => {
            return Err(NeedError::UnknownOperation {
                service: call.service.clone(),
                operation: call.operation.clone(),
            })
        }
    };
    Ok(needs)
}

fn arn_or(identifier: &str, build: impl FnOnce() -> String) -> String {
    if identifier.starts_with("arn:") {
        identifier.to_owned()
    } else {
        build()
    }
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
fn create_import_job<'p>(
    call: &Call,
    caller: Caller<'_>,
    param: &impl Fn(&'static str) -> Result<&'p str, NeedError>,
) -> Result<Vec<Need>, NeedError> {
    let bedrock = |resource: &str| {
        format!(
            "arn:{}:bedrock:{}:{}:{resource}",
            caller.partition, call.region, caller.account
        )
    };
    let job_tags = tag_keys(call, "job_tag_keys");
    let model_tags = tag_keys(call, "imported_model_tag_keys");
    let mut all_tags: Vec<String> = job_tags.iter().chain(&model_tags).cloned().collect();
    all_tags.sort();
    all_tags.dedup();
    let mut create = need("bedrock:CreateModelImportJob", "*");
    if !all_tags.is_empty() {
        create.context.push(("aws:TagKeys", all_tags));
    }
    let mut pass = need("iam:PassRole", param("role_arn")?);
    pass.context
        .push(("iam:PassedToService", vec![BEDROCK.to_owned()]));
    let mut needs = vec![create, pass];
    for (keys, resource) in [
        (job_tags, format!("model-import-job/{}", param("job_name")?)),
        (
            model_tags,
            format!("imported-model/{}", param("imported_model_name")?),
        ),
    ] {
        if !keys.is_empty() {
            let mut tag = need("bedrock:TagResource", bedrock(&resource));
            tag.context.push(("aws:TagKeys", keys));
            needs.push(tag);
        }
    }
    if let Some(key) = call
        .params
        .get("imported_model_kms_key_id")
        .and_then(Value::as_str)
    {
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
    fn unknown_operations_and_missing_parameters_are_errors() {
        assert!(matches!(
            needs(&call("S3", "PutObject", json!({})), CALLER),
            Err(NeedError::UnknownOperation { .. })
        ));
        let err = needs(&call("S3", "GetObject", json!({"bucket": "b"})), CALLER).unwrap_err();
        assert!(err.to_string().contains("\"key\""), "{err}");
    }
}
