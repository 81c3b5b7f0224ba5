//! What the importer's own reads learned about objects' encryption. A ranged GetObject
//! answers with the object's SSE-KMS key, as HeadObject would; validation reads every
//! weight header and the small files just before the access check asks for each
//! object's key. For an object read that way, and listed again with the same ETag and
//! modification time, the check needs no HeadObject. Every write gives an object a new
//! modification time (to the second) and, under SSE-KMS, an ETag that is not the content's
//! MD5: a rewrite within the same second of the same bytes is the one case this could miss.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_s3::types::ServerSideEncryption;

/// A container's memory is not for an unbounded history: past this many objects the
/// memo starts afresh (the next check pays its HeadObjects again).
const MAX_OBJECTS: usize = 20_000;

/// An object version: its ETag and last modification (seconds), as S3 reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub etag: String,
    pub modified: Option<u64>,
}

#[derive(Debug, Default)]
struct Objects {
    /// `s3://bucket/key` → the version a read saw and its SSE-KMS key (`None`: not SSE-KMS).
    read: HashMap<String, (Version, Option<String>)>,
    /// `s3://bucket/key` → the version the latest listing saw.
    listed: HashMap<String, Version>,
}

/// Shared by the folder reads and the research account's policy reader.
#[derive(Debug, Clone, Default)]
pub struct SeenEncryption {
    objects: Arc<Mutex<Objects>>,
}

fn object(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

impl SeenEncryption {
    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read of `version` answered with this encryption.
    pub fn read(&self, bucket: &str, key: &str, version: Version, kms_key: Option<String>) {
        let mut objects = self.lock();
        if objects.read.len() >= MAX_OBJECTS {
            objects.read.clear();
        }
        objects.read.insert(object(bucket, key), (version, kms_key));
    }

    /// A listing found `version`.
    pub fn listed(&self, bucket: &str, key: &str, version: Version) {
        let mut objects = self.lock();
        if objects.listed.len() >= MAX_OBJECTS {
            objects.listed.clear();
        }
        objects.listed.insert(object(bucket, key), version);
    }

    /// The SSE-KMS key of the object as listed last, when a read saw that very version.
    /// `Some(None)`: known not to be SSE-KMS; `None`: not known.
    pub fn kms_key(&self, bucket: &str, key: &str) -> Option<Option<String>> {
        let objects = self.lock();
        let name = object(bucket, key);
        let listed = objects.listed.get(&name)?;
        let (read, kms_key) = objects.read.get(&name)?;
        (read == listed).then(|| kms_key.clone())
    }
}

/// The SSE-KMS key S3 reports with an object (`None` for other encryption), or `Err`
/// when S3 says SSE-KMS but names no key.
pub fn kms_key_of(
    encryption: Option<&ServerSideEncryption>,
    key_id: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match encryption {
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse) => key_id
            .map(|id| Some(id.to_owned()))
            .ok_or("S3 reported SSE-KMS without a key id"),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(etag: &str, modified: u64) -> Version {
        Version {
            etag: etag.into(),
            modified: Some(modified),
        }
    }

    #[test]
    fn a_key_is_known_only_for_the_version_that_was_read() {
        let seen = SeenEncryption::default();
        assert_eq!(seen.kms_key("b", "k"), None, "never listed nor read");
        seen.read("b", "k", v("\"e1\"", 10), Some("key-1".into()));
        assert_eq!(seen.kms_key("b", "k"), None, "read but not listed");
        seen.listed("b", "k", v("\"e1\"", 10));
        assert_eq!(seen.kms_key("b", "k"), Some(Some("key-1".into())));
        // Overwritten since: another ETag, or the same ETag written later.
        seen.listed("b", "k", v("\"e2\"", 11));
        assert_eq!(seen.kms_key("b", "k"), None);
        seen.listed("b", "k", v("\"e1\"", 12));
        assert_eq!(seen.kms_key("b", "k"), None);
        seen.read("b", "plain", v("\"e3\"", 10), None);
        seen.listed("b", "plain", v("\"e3\"", 10));
        assert_eq!(seen.kms_key("b", "plain"), Some(None), "known: not SSE-KMS");
        assert_eq!(seen.kms_key("other", "plain"), None, "buckets differ");
    }

    #[test]
    fn sse_kms_without_a_key_id_is_an_error_and_other_encryption_none() {
        assert_eq!(
            kms_key_of(Some(&ServerSideEncryption::AwsKms), Some("arn:k")),
            Ok(Some("arn:k".into()))
        );
        assert!(kms_key_of(Some(&ServerSideEncryption::AwsKmsDsse), None).is_err());
        assert_eq!(
            kms_key_of(Some(&ServerSideEncryption::Aes256), None),
            Ok(None)
        );
        assert_eq!(kms_key_of(None, None), Ok(None));
    }
}
