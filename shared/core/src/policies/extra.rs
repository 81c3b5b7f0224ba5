//! The two documents next to the import chain: blocking inference on a model whose
//! access cannot be removed (GovCloud), and the service role of a fine-tuning job.

use serde_json::{json, Value};

use super::inputs::InputError;
use crate::aws_names::region::partition_of;

/// A policy denying inference on the given foundation models in every region of the
/// partition. Model ids are checked: a `*` here would block far more than was asked.
pub fn deny_inference(region: &str, model_ids: &[String]) -> Result<Value, InputError> {
    if model_ids.is_empty() {
        return Err(InputError {
            field: "--deny-inference",
            message: "name at least one model id (e.g. meta.llama3-8b-instruct-v1:0)".into(),
        });
    }
    let partition = partition_of(region);
    let mut resources = Vec::with_capacity(model_ids.len());
    for id in model_ids {
        let valid = !id.is_empty()
            && id.len() <= 2048
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:_-".contains(c));
        if !valid {
            return Err(InputError {
                field: "--deny-inference",
                message: format!(
                    "{id:?} is not a foundation model id (letters, digits and .:_-; no wildcards)"
                ),
            });
        }
        resources.push(format!("arn:{partition}:bedrock:*::foundation-model/{id}"));
    }
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "DenyInference",
            "Effect": "Deny",
            "Action": [
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream",
                "bedrock:CreateModelInvocationJob"
            ],
            "Resource": resources
        }
    }))
}

/// The service role of Bedrock model-customization (fine-tuning) jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomizationRole {
    /// Trust policy: `bedrock.amazonaws.com` may assume the role for the account's
    /// model-customization jobs only (`aws:SourceAccount`, `aws:SourceArn`).
    pub trust: Value,
    /// Identity policy: list and read the training data, list, read and write the output.
    pub policy: Value,
}

/// Jobs of `account` in `region` read training data under `bucket/prefix` and write
/// their output under `output_bucket/output_prefix`.
pub fn customization_role(
    account: &str,
    region: &str,
    bucket: &str,
    prefix: &str,
    output_bucket: &str,
    output_prefix: &str,
) -> CustomizationRole {
    let partition = partition_of(region);
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BedrockCustomizationJobs",
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnEquals": {
                    "aws:SourceArn": format!("arn:{partition}:bedrock:{region}:{account}:model-customization-job/*")
                }
            }
        }]
    });
    let bucket_arn = |b: &str| format!("arn:{partition}:s3:::{b}");
    // Listing limited to the folder with s3:prefix, as the service role's guide advises.
    let list = |sid: &str, b: &str, p: &str| {
        let mut statement = json!({"Sid": sid, "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn(b)});
        if !p.is_empty() {
            statement["Condition"] = json!({"StringLike": {"s3:prefix": format!("{p}*")}});
        }
        statement
    };
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            list("ListTrainingData", bucket, prefix),
            {
                "Sid": "ReadTrainingData",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": format!("{}/{prefix}*", bucket_arn(bucket))
            },
            list("ListOutput", output_bucket, output_prefix),
            {
                "Sid": "WriteOutput",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": format!("{}/{output_prefix}*", bucket_arn(output_bucket))
            }
        ]
    });
    CustomizationRole { trust, policy }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_inference_follows_the_partition_and_refuses_wildcards() {
        let doc = deny_inference("us-gov-west-1", &["meta.llama3-8b-instruct-v1:0".into()])
            .expect("valid");
        assert_eq!(
            doc["Statement"]["Resource"][0],
            "arn:aws-us-gov:bedrock:*::foundation-model/meta.llama3-8b-instruct-v1:0"
        );
        assert_eq!(doc["Statement"]["Effect"], "Deny");
        assert!(deny_inference("us-east-1", &["meta.*".into()]).is_err());
        assert!(deny_inference("us-east-1", &[]).is_err());
    }

    #[test]
    fn customization_role_is_scoped_to_the_accounts_jobs() {
        let role = customization_role(
            "111122223333",
            "us-west-2",
            "train",
            "data/",
            "out",
            "runs/",
        );
        assert_eq!(
            role.trust["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:aws:bedrock:us-west-2:111122223333:model-customization-job/*"
        );
        assert_eq!(
            role.policy["Statement"][3]["Resource"],
            "arn:aws:s3:::out/runs/*"
        );
        assert_eq!(
            role.policy["Statement"][0]["Condition"]["StringLike"]["s3:prefix"],
            "data/*"
        );
    }
}
