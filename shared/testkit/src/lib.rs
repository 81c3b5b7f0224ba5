//! Test support shared by every crate's tests: model folders of each family written
//! as real safetensors, hostile and sparse files, and a moto_server harness.

pub mod cfn;
pub mod chain;
pub mod events;
pub mod families;
pub mod fixtures;
pub mod hosting;
pub mod moto;
pub mod s3;
pub mod scenarios;
