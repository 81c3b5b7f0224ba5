//! Ferry's pure logic: nothing here knows the AWS SDK. Adapters for AWS live in
//! `ferry-aws`; the Lambda functions and the `ferry` CLI only wire the two together.

pub mod access;
pub mod architecture;
pub mod arn;
pub mod events;
pub mod grants;
pub mod iam;
pub mod import;
pub mod model_folder;
pub mod policies;
pub mod region;
pub mod report;
mod report_text;
pub mod s3_uri;
pub mod safetensors_header;
pub mod source;
pub mod text;
pub mod time;
pub mod track;
pub mod units;
pub mod validate;

pub use report::{Code, Finding, Report, Severity};
pub use s3_uri::S3Uri;
pub use source::{FileEntry, FolderSource, LocalFolder, SourceError, SourceErrorKind};
pub use validate::{validate, validate_listed, ValidateOptions};
