//! Adapters from Ferry's ports (`ferry-core`) to the AWS SDK for Rust.

pub mod alerts;
pub mod api_calls;
pub mod bedrock;
pub mod clock;
pub mod config;
pub mod connect;
pub mod error;
pub mod events;
pub mod hosting;
pub mod https;
pub mod ledger;
pub mod memory;
pub mod policy_reader;
pub mod release_pointer;
pub mod request_log;
pub mod runtime;
pub mod s3_folder;
pub mod seen_encryption;
pub mod tracker;

pub use alerts::SnsAlerts;
pub use api_calls::ApiCallCounter;
pub use bedrock::BedrockImports;
pub use config::{config_loader, load_sdk_config, s3_client};
pub use connect::AwsConnect;
pub use events::EventBridgeBus;
pub use hosting::{HostingSession, HostingTarget};
pub use ledger::DynamoLedger;
pub use policy_reader::{AwsPolicyReader, S3Prober};
pub use release_pointer::SsmReleasePointer;
pub use runtime::BedrockRuntime;
pub use s3_folder::S3Folder;
pub use seen_encryption::SeenEncryption;
pub use tracker::{aws_tracker, AccessDiagnosis, AwsTracker, CloudWatchUsage, S3Content};
