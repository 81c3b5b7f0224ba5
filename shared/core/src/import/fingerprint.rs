//! What identifies a folder's content: its fingerprint, and the job and model names,
//! client token and tag values derived from it.

use sha2::{Digest, Sha256};

use crate::aws_names::s3_uri::S3Uri;
use crate::validate::source::FileEntry;
use crate::validate::{self, CONFIG, INDEX};

/// What identifies one import: derived from the folder's content alone, so the same
/// weights always give the same names and token, and changed weights new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// SHA-256 (hex) over the bucket, prefix, and every identity file's (config, index,
    /// weights) key, size and ETag.
    pub fingerprint: String,
    /// Readable model slug from the folder name (`llama-3-1-8b-ft`).
    pub slug: String,
    /// Both `jobName` and `importedModelName`: `{slug}-{yyyymmdd}-{hash8}`, or
    /// `{slug}-{hash8}` when the listing gives no modification time.
    pub name: String,
    /// `clientRequestToken`: Bedrock ignores a repeated create with the same token.
    pub client_request_token: String,
}

const MAX_NAME: usize = 63;
const HASH_CHARS: usize = 8;

/// The files that define a model version: its config, its weights and their index.
/// Tokenizer and generation files that arrive a moment later must not turn one upload
/// into two imports; a README or a log never counts.
pub(crate) fn is_identity_file(path: &str) -> bool {
    path == CONFIG || path == INDEX || validate::is_weight_file(path)
}

/// Identifies a folder from its listing (see `is_identity_file`).
pub fn identify(uri: &S3Uri, entries: &[FileEntry]) -> Identity {
    let mut used: Vec<&FileEntry> = entries
        .iter()
        .filter(|e| is_identity_file(&e.path))
        .collect();
    used.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    for part in [uri.bucket.as_str(), uri.prefix.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for entry in &used {
        hasher.update(entry.path.as_bytes());
        hasher.update([0]);
        hasher.update(entry.size.to_le_bytes());
        hasher.update(entry.version.as_deref().unwrap_or("").as_bytes());
        hasher.update([0]);
    }
    let fingerprint: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let date = used
        .iter()
        .filter_map(|e| e.modified)
        .max()
        .map(crate::text::time::yyyymmdd);
    let hash = &fingerprint[..HASH_CHARS];
    let suffix = match &date {
        Some(date) => format!("-{date}-{hash}"),
        None => format!("-{hash}"),
    };
    let slug = slug(folder_name(uri), MAX_NAME - suffix.len());
    Identity {
        name: format!("{slug}{suffix}"),
        slug,
        client_request_token: fingerprint.clone(),
        fingerprint,
    }
}

/// The folder's readable slug (`llama-3-1-8b-ft`): it names the importer's role session,
/// known before the folder is listed, so the role can be assumed meanwhile.
pub(crate) fn folder_slug(uri: &S3Uri) -> String {
    slug(folder_name(uri), 48)
}

fn folder_name(uri: &S3Uri) -> &str {
    uri.prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&uri.bucket)
}

/// Lowercase letters and digits separated by single hyphens: valid in both
/// `jobName` and `importedModelName` (which allows no dots and no double separators).
pub(crate) fn slug(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "model".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A tag value within the documented pattern (`[a-zA-Z0-9\s._:/=+@-]*`, 256 characters).
pub(crate) fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " \t._:/=+@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A listed file with `etag` as its version (also readiness's tests).
    pub(crate) fn entry(path: &str, size: u64, etag: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            size,
            version: Some(etag.into()),
            modified: Some(1_795_000_000),
        }
    }

    #[test]
    fn names_are_deterministic_readable_and_valid() {
        let uri = S3Uri::parse("s3://research/fine-tunes/Llama-3.1-8B_Instruct (FT v2)/").unwrap();
        let entries = [
            entry("config.json", 10, "a"),
            entry("model.safetensors", 99, "b"),
            entry("README.md", 5, "c"),
        ];
        let id = identify(&uri, &entries);
        assert_eq!(id, identify(&uri, &entries));
        assert!(
            id.name.starts_with("llama-3-1-8b-instruct-ft-v2-20261118-"),
            "{}",
            id.name
        );
        assert!(id.name.len() <= 63);
        assert_eq!(id.fingerprint.len(), 64);
        // A README or a late tokenizer file is not a new model; a changed weight file is.
        let mut readme = entries.to_vec();
        readme[2].version = Some("changed".into());
        readme.push(entry("tokenizer_config.json", 3, "t"));
        assert_eq!(identify(&uri, &readme).fingerprint, id.fingerprint);
        let mut weights = entries.clone();
        weights[1].version = Some("changed".into());
        assert_ne!(identify(&uri, &weights).fingerprint, id.fingerprint);
        let elsewhere = S3Uri::parse("s3://research/fine-tunes/other/").unwrap();
        assert_ne!(identify(&elsewhere, &entries).fingerprint, id.fingerprint);
    }

    #[test]
    fn long_and_odd_folder_names_still_fit() {
        let long = format!("s3://b-bucket/{}/", "Very.Long_Model--Name!".repeat(10));
        let id = identify(
            &S3Uri::parse(&long).unwrap(),
            &[entry("config.json", 1, "a")],
        );
        assert_eq!(id.name.len(), 63, "{}", id.name);
        assert!(!id.name.contains("--"));
        let id = identify(&S3Uri::parse("s3://b-bucket/___/").unwrap(), &[]);
        assert!(id.name.starts_with("model-"), "{}", id.name);
        assert!(tag_value("s3://b/a'b(c)/").contains("a_b_c_"));
    }
}
