//! The hosting account's resources in moto, as the hosting stack defines them.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};

/// The ledger table: key `fingerprint`, index `by-state` (`state`, `created_at`).
pub async fn create_ledger_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let attr = |n: &str, t| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("fingerprint", ScalarAttributeType::S)?)
        .attribute_definitions(attr("state", ScalarAttributeType::S)?)
        .attribute_definitions(attr("created_at", ScalarAttributeType::N)?)
        .key_schema(key("fingerprint", KeyType::Hash)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-state")
                .key_schema(key("state", KeyType::Hash)?)
                .key_schema(key("created_at", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(())
}

/// `base` with the credentials of `role_arn` (moto gives them the role's account).
pub async fn assumed(base: &SdkConfig, role_arn: &str) -> Result<SdkConfig> {
    let out = aws_sdk_sts::Client::new(base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("ferry-test-setup")
        .send()
        .await
        .context("assuming the hosting role")?;
    let creds = out.credentials().context("no credentials")?;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "ferry-test-setup",
        )))
        .build())
}
