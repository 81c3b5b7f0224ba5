//! AWS's names as Ferry reads and writes them: ARNs, Bedrock's `s3Uri`, Regions and
//! partitions.

pub mod arn;
pub mod region;
pub mod s3_uri;
