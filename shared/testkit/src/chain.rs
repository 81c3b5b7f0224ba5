//! The seed's cross-account chain installed in moto: the research bucket, an SSE-KMS
//! object, the bucket policy and the research key policy in moto's default account;
//! the execution role (trust + managed policy), the imported-model key and the
//! automation role in the hosting account. The documents are the corpus baseline's
//! (`shared/testkit/scenarios/baseline.json`) with moto's account and key ids filled in.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::Value;

use crate::hosting::assumed;
use crate::moto::{workspace_root, MotoServer};

/// moto's default account: the research account here.
pub const RESEARCH_ACCOUNT: &str = "123456789012";
pub const HOSTING_ACCOUNT: &str = "777788889999";
pub const AUTOMATION_ROLE: &str = "arn:aws:iam::777788889999:role/FerryAutomation";
pub const EXECUTION_ROLE: &str =
    "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

/// What to break in the installed chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mistake {
    None,
    /// The research key policy lacks the execution role (seed step 3 skipped).
    SourceKeyLacksRole,
}

pub struct Chain {
    pub bucket: String,
    pub source_uri: String,
    pub source_key: String,
    pub imported_model_key: String,
    pub research: SdkConfig,
    pub hosting: SdkConfig,
}

fn baseline() -> Result<Value> {
    let path = workspace_root().join("shared/testkit/scenarios/baseline.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(
        &text.replace("111122223333", RESEARCH_ACCOUNT),
    )?)
}

/// Replaces the corpus' key ARNs with moto's in every string of `doc`.
fn with_keys(doc: &Value, source_key: &str, imported_key: &str) -> String {
    serde_json::to_string(doc)
        .unwrap_or_default()
        .replace(
            &format!(
                "arn:aws:kms:us-east-1:{RESEARCH_ACCOUNT}:key/b5b6e052-fb27-4dbb-bf0d-daf3375a9fda"
            ),
            source_key,
        )
        .replace(
            "arn:aws:kms:us-east-1:777788889999:key/6cd5d3bf-3d9b-4d1c-83d5-8df6284435a1",
            imported_key,
        )
}

async fn create_key(config: &SdkConfig) -> Result<String> {
    let out = aws_sdk_kms::Client::new(config)
        .create_key()
        .send()
        .await
        .context("creating a KMS key")?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_owned)
        .context("no key ARN")
}

async fn put_key_policy(config: &SdkConfig, key: &str, policy: String) -> Result<()> {
    aws_sdk_kms::Client::new(config)
        .put_key_policy()
        .key_id(key)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .with_context(|| format!("putting the key policy of {key}"))?;
    Ok(())
}

pub async fn install_chain(moto: &MotoServer, mistake: Mistake) -> Result<Chain> {
    let doc = baseline()?;
    let research = moto.sdk_config().await;
    let hosting = assumed(&research, AUTOMATION_ROLE).await?;
    let source_key = create_key(&research).await?;
    let imported_model_key = create_key(&hosting).await?;
    let fill = |v: &Value| with_keys(v, &source_key, &imported_model_key);

    // Research account: bucket, policy, two objects (one SSE-KMS), key policy.
    let bucket = format!("model-artifacts-{RESEARCH_ACCOUNT}");
    let s3 = crate::s3::s3_client(&research);
    crate::s3::create_bucket(&s3, &bucket).await?;
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(fill(&doc["bucket_policy"]))
        .send()
        .await
        .context("putting the bucket policy")?;
    s3.put_object()
        .bucket(&bucket)
        .key("mistral-model-weights/config.json")
        .body(ByteStream::from_static(b"{\"model_type\": \"mistral\"}"))
        .send()
        .await
        .context("putting config.json")?;
    s3.put_object()
        .bucket(&bucket)
        .key("mistral-model-weights/model.safetensors")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&source_key)
        .body(ByteStream::from_static(b"\x08\0\0\0\0\0\0\0{}      "))
        .send()
        .await
        .context("putting model.safetensors")?;
    let mut key_policy = doc["source_keys"][0]["policy"].clone();
    if mistake == Mistake::SourceKeyLacksRole {
        if let Some(statements) = key_policy["Statement"].as_array_mut() {
            statements.truncate(1);
        }
    }
    put_key_policy(&research, &source_key, fill(&key_policy)).await?;

    // Hosting account: execution role, its managed policy, the imported-model key and
    // the automation role with its inline policy.
    let iam = aws_sdk_iam::Client::new(&hosting);
    let role = &doc["execution_role"];
    iam.create_role()
        .role_name("BedrockCMIExecutionRole-777788889999")
        .assume_role_policy_document(fill(&role["trust_policy"]))
        .send()
        .await
        .context("creating the execution role")?;
    if let Some(managed) = role["managed_policies"].as_object() {
        for document in managed.values() {
            let policy = iam
                .create_policy()
                .policy_name("BedrockCMIExecutionPolicy-777788889999")
                .policy_document(fill(document))
                .send()
                .await
                .context("creating the execution policy")?;
            iam.attach_role_policy()
                .role_name("BedrockCMIExecutionRole-777788889999")
                .policy_arn(policy.policy().and_then(|p| p.arn()).unwrap_or_default())
                .send()
                .await
                .context("attaching the execution policy")?;
        }
    }
    put_key_policy(
        &hosting,
        &imported_model_key,
        fill(&doc["imported_model_key"]["policy"]),
    )
    .await?;
    iam.create_role()
        .role_name("FerryAutomation")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .context("creating the automation role")?;
    if let Some(inline) = doc["caller"]["inline_policies"].as_object() {
        for (name, document) in inline {
            iam.put_role_policy()
                .role_name("FerryAutomation")
                .policy_name(name)
                .policy_document(fill(document))
                .send()
                .await
                .context("putting the automation policy")?;
        }
    }
    Ok(Chain {
        source_uri: format!("s3://{bucket}/mistral-model-weights/"),
        bucket,
        source_key,
        imported_model_key,
        research,
        hosting,
    })
}
