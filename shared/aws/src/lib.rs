//! Adapters from Ferry's ports (`ferry-core`) to the AWS SDK for Rust.

pub mod config;
pub mod error;
pub mod s3_folder;

pub use config::{config_loader, load_sdk_config, s3_client};
pub use s3_folder::S3Folder;
