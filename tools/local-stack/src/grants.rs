//! What the local deployment grants, as Ferry's IAM engine needs it to judge the calls
//! the functions made (`ferry_core::grants`): each Ferry role's identity policy, the
//! resource policies of the chain, and what is encrypted with which key. All from
//! `ferry_core::policies`, which a test proves equal to the SAM templates.

use anyhow::{Context, Result};
use ferry_core::grants::{Encrypted, Grants, ResourcePolicy, Role};
use ferry_core::iam::Policy;
use ferry_core::policies::{
    automation_role_policy, automation_role_trust, bucket_policy, imported_model_key_statement,
    importer_role_policy, key_policy, research_key_statement, tracker_role_policy, Deployment,
};
use serde_json::Value;

use crate::{LocalStack, BUCKET, HOSTING, REGION, RESEARCH};

fn parsed(label: &str, document: &Value) -> Result<Policy> {
    Policy::parse(document, label).map_err(|e| anyhow::anyhow!("{label}: {e}"))
}

impl LocalStack {
    /// The grants of this deployment.
    pub fn grants(&self) -> Result<Grants> {
        let d = &self.deployment;
        let roles = roles(d)?;
        let research_key = d.research_kms_key.clone().context("no research key")?;
        let imported_key = d
            .imported_model_kms_key
            .clone()
            .context("no imported-model key")?;
        let alert_key = self.alert_key()?;
        Ok(Grants {
            roles,
            resource_policies: resource_policies(d, &research_key, &imported_key, &alert_key)?,
            encrypted: encrypted(d, research_key, alert_key),
        })
    }

    /// The ARN of the alert topic's key the hosting stack created.
    fn alert_key(&self) -> Result<String> {
        Ok(format!(
            "arn:aws:kms:{REGION}:{HOSTING}:key/{}",
            self.hosting_stack
                .created
                .get("AlertKey")
                .context("the hosting stack created no AlertKey")?
        ))
    }
}

/// Ferry's three roles, each with its identity policy.
fn roles(d: &Deployment) -> Result<Vec<Role>> {
    let role = |arn: String, label: &str, document: Value| -> Result<Role> {
        Ok(Role {
            arn,
            policies: vec![(label.to_owned(), parsed(label, &document)?)],
        })
    };
    Ok(vec![
        role(
            d.importer_role_arn(),
            "importer role policy",
            importer_role_policy(d),
        )?,
        role(
            d.automation_role_arn(),
            "automation role policy",
            automation_role_policy(d),
        )?,
        role(
            d.tracker_role_arn(),
            "tracker role policy",
            tracker_role_policy(d),
        )?,
    ])
}

/// The resource policies of the chain: the bucket's (on the bucket and its objects),
/// the three keys' and the automation role's trust policy.
fn resource_policies(
    d: &Deployment,
    research_key: &str,
    imported_key: &str,
    alert_key: &str,
) -> Result<Vec<ResourcePolicy>> {
    let resource = |covers: String, account: &str, label: &str, document: Value| {
        Ok::<_, anyhow::Error>(ResourcePolicy {
            covers,
            account: account.to_owned(),
            label: label.to_owned(),
            policy: parsed(label, &document)?,
        })
    };
    let bucket = bucket_policy(d);
    Ok(vec![
        resource(d.bucket_arn(), RESEARCH, "bucket policy", bucket.clone())?,
        resource(
            format!("{}/*", d.bucket_arn()),
            RESEARCH,
            "bucket policy",
            bucket,
        )?,
        resource(
            research_key.to_owned(),
            RESEARCH,
            "research key policy",
            key_policy(d, RESEARCH, research_key_statement(d)),
        )?,
        resource(
            imported_key.to_owned(),
            HOSTING,
            "imported-model key policy",
            key_policy(d, HOSTING, imported_model_key_statement(d)),
        )?,
        resource(
            alert_key.to_owned(),
            HOSTING,
            "alert key policy",
            key_policy(d, HOSTING, None),
        )?,
        resource(
            d.automation_role_arn(),
            HOSTING,
            "automation role trust policy",
            automation_role_trust(d).map_err(|e| anyhow::anyhow!("{e}"))?,
        )?,
    ])
}

/// What is encrypted with which key: the uploads and the alert topic.
fn encrypted(d: &Deployment, research_key: String, alert_key: String) -> Vec<Encrypted> {
    vec![
        // The uploads are SSE-KMS with the research key (`upload_model`).
        Encrypted {
            covers: format!("arn:aws:s3:::{BUCKET}/{}*", d.prefix),
            key_arn: research_key,
            via: format!("s3.{REGION}.amazonaws.com"),
            actions: vec!["kms:Decrypt"],
            aliases: Vec::new(),
        },
        Encrypted {
            covers: d.alert_topic_arn(),
            key_arn: alert_key,
            via: format!("sns.{REGION}.amazonaws.com"),
            actions: vec!["kms:GenerateDataKey", "kms:Decrypt"],
            aliases: vec![format!("alias/{}", d.names.alert_key_alias)],
        },
    ]
}
