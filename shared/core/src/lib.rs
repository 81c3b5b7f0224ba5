#![warn(missing_docs)]
//! Ferry's pure logic: nothing here knows the AWS SDK. Adapters for AWS live in
//! `ferry-aws`; the Lambda functions and the `ferry` CLI only wire the two together.

pub mod access;
pub mod aws_names;
pub mod grants;
pub mod iam;
pub mod import;
pub mod outbox;
pub mod policies;
pub mod release;
pub mod stages;
pub mod text;
pub mod track;
pub mod validate;
pub mod verify;

pub use aws_names::s3_uri::S3Uri;
pub use validate::report::{Code, Finding, Report, Severity};
pub use validate::source::{FileEntry, FolderSource, LocalFolder, SourceError, SourceErrorKind};
pub use validate::{validate, ValidateOptions};
