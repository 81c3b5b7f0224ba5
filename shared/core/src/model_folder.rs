//! Model folders in a watched bucket: which folder an object belongs to, when a folder
//! is complete, and what identifies its content.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::s3_uri::S3Uri;
use crate::source::{FileEntry, FolderSource, SourceError};
use crate::validate::{self, CONFIG, INDEX};

/// The folder an object event concerns, when it is under a watched prefix and is a
/// file that can complete a model folder (config, tokenizer, weights, index, marker).
pub fn folder_of(
    bucket: &str,
    key: &str,
    watched: &[S3Uri],
    ready_marker: Option<&str>,
) -> Option<S3Uri> {
    let (parent, name) = match key.rsplit_once('/') {
        Some((parent, name)) => (format!("{parent}/"), name),
        None => (String::new(), key),
    };
    let relevant = validate::is_used_file(name) || Some(name) == ready_marker;
    let under_watch = watched
        .iter()
        .any(|w| w.bucket == bucket && parent.starts_with(&w.prefix));
    (relevant && under_watch).then(|| S3Uri::new(bucket, &parent))
}

/// Whether a folder is complete enough to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Waiting(String),
}

/// A folder is ready when its marker exists (if the operator configured one), else
/// when config, tokenizer and every weight file (the single file, or every shard the
/// index names) are present. Reads the index only when it is needed.
pub async fn readiness<S: FolderSource>(
    source: &S,
    entries: &[FileEntry],
    ready_marker: Option<&str>,
) -> Result<Readiness, SourceError> {
    let names: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    if let Some(marker) = ready_marker {
        let Some(marker_entry) = entries.iter().find(|e| e.path == marker) else {
            return Ok(Readiness::Waiting(format!(
                "the ready marker {marker} is not there yet"
            )));
        };
        // A marker left from an earlier upload does not make new weights ready.
        let newest = entries
            .iter()
            .filter(|e| is_identity_file(&e.path))
            .filter_map(|e| e.modified)
            .max();
        return Ok(match (marker_entry.modified, newest) {
            (Some(marked), Some(newest)) if marked < newest => Readiness::Waiting(format!(
                "the ready marker {marker} is older than the newest weight or config file: upload it again after the weights"
            )),
            _ => Readiness::Ready,
        });
    }
    if !names.contains(CONFIG) {
        return Ok(Readiness::Waiting("config.json is not there yet".into()));
    }
    if !validate::has_tokenizer(|n| names.contains(n)) {
        return Ok(Readiness::Waiting("no tokenizer file yet".into()));
    }
    let Some(index) = entries.iter().find(|e| e.path == INDEX) else {
        if names.contains("model.safetensors") {
            return Ok(Readiness::Ready);
        }
        return Ok(Readiness::Waiting(
            "neither model.safetensors nor model.safetensors.index.json is there yet".into(),
        ));
    };
    if index.size > validate::MAX_INDEX_BYTES {
        return Ok(Readiness::Ready); // validation rejects it without reading it
    }
    let bytes = source.read_range(INDEX, 0..index.size).await?;
    let Some(shards) = index_shards(&bytes) else {
        // Unreadable index: complete as far as Ferry can tell; validation explains it.
        return Ok(Readiness::Ready);
    };
    let missing: Vec<&String> = shards
        .iter()
        .filter(|s| !names.contains(s.as_str()))
        .collect();
    match missing.as_slice() {
        [] => Ok(Readiness::Ready),
        [first, ..] => Ok(Readiness::Waiting(format!(
            "{} of {} shards not there yet (e.g. {first})",
            missing.len(),
            shards.len()
        ))),
    }
}

fn index_shards(bytes: &[u8]) -> Option<BTreeSet<String>> {
    let index: Value = serde_json::from_slice(bytes).ok()?;
    let map = index.get("weight_map")?.as_object()?;
    Some(
        map.values()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// What identifies one import: derived from the folder's content alone, so the same
/// weights always give the same names and token, and changed weights new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// SHA-256 (hex) over the bucket, prefix, and every used file's key, size and ETag.
    pub fingerprint: String,
    /// Readable model slug from the folder name (`llama-3-1-8b-ft`).
    pub slug: String,
    /// Both `jobName` and `importedModelName`: `{slug}-{yyyymmdd}-{hash8}`.
    pub name: String,
    /// `clientRequestToken`: Bedrock ignores a repeated create with the same token.
    pub client_request_token: String,
}

const MAX_NAME: usize = 63;
const HASH_CHARS: usize = 8;

/// The files that define a model version: its config, its weights and their index.
/// Tokenizer and generation files that arrive a moment later must not turn one upload
/// into two imports; a README or a log never counts.
pub fn is_identity_file(path: &str) -> bool {
    path == CONFIG || path == INDEX || validate::is_weight_file(path)
}

/// Identifies a folder from its listing (see [`is_identity_file`]).
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
        .map(crate::time::yyyymmdd);
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
pub fn slug(name: &str, max: usize) -> String {
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
pub fn tag_value(value: &str) -> String {
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
mod tests {
    use super::*;

    struct Listed(Vec<FileEntry>);

    impl FolderSource for Listed {
        fn describe(&self) -> String {
            "listed".into()
        }
        async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
            Ok(self.0.clone())
        }
        async fn read_range(
            &self,
            _: &str,
            _: std::ops::Range<u64>,
        ) -> Result<Vec<u8>, SourceError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_stale_marker_does_not_make_new_weights_ready() {
        let mut marker = entry("_READY", 0, "m");
        let mut weights = entry("model.safetensors", 9, "w");
        marker.modified = Some(100);
        weights.modified = Some(200);
        let mut config = entry("config.json", 1, "c");
        config.modified = Some(150);
        let files = vec![config, weights, marker.clone()];
        let ready = readiness(&Listed(files.clone()), &files, Some("_READY"))
            .await
            .unwrap();
        assert!(matches!(ready, Readiness::Waiting(r) if r.contains("older")));
        let mut fresh = files.clone();
        fresh[2].modified = Some(300);
        assert_eq!(
            readiness(&Listed(fresh.clone()), &fresh, Some("_READY"))
                .await
                .unwrap(),
            Readiness::Ready
        );
    }

    fn entry(path: &str, size: u64, etag: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            size,
            version: Some(etag.into()),
            modified: Some(1_795_000_000),
        }
    }

    #[test]
    fn folder_of_keeps_to_watched_prefixes_and_relevant_files() {
        let watched = [S3Uri::parse("s3://research/fine-tunes/").unwrap()];
        let f =
            |key: &str| folder_of("research", key, &watched, Some("_READY")).map(|u| u.to_string());
        assert_eq!(
            f("fine-tunes/llama/config.json").as_deref(),
            Some("s3://research/fine-tunes/llama/")
        );
        assert_eq!(
            f("fine-tunes/llama/model-00001-of-00002.safetensors").as_deref(),
            Some("s3://research/fine-tunes/llama/")
        );
        assert_eq!(
            f("fine-tunes/llama/_READY").as_deref(),
            Some("s3://research/fine-tunes/llama/")
        );
        assert_eq!(f("fine-tunes/llama/README.md"), None);
        assert_eq!(f("fine-tunes/llama/original/consolidated.00.pth"), None);
        assert_eq!(f("scratch/llama/config.json"), None);
        assert_eq!(
            folder_of("other", "fine-tunes/llama/config.json", &watched, None),
            None
        );
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
