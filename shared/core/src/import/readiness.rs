//! When a model folder in a watched bucket is complete: which folder an object event
//! concerns, and whether every file the folder names has arrived.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::aws_names::s3_uri::S3Uri;
use crate::import::fingerprint::is_identity_file;
use crate::validate::source::{FileEntry, FolderSource, SourceError};
use crate::validate::{self, CONFIG, INDEX};

/// The folder an object event concerns, when it is under a watched prefix and is a
/// file that can complete a model folder (config, tokenizer, weights, index, marker).
pub(crate) fn folder_of(
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
pub(crate) enum Readiness {
    Ready,
    Waiting(String),
}

/// What the listing alone says about readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listed {
    /// Decided from the listing.
    Decided(Readiness),
    /// Complete if every shard the index (of this size) names is listed.
    ReadIndex(u64),
}

/// A folder is ready when its marker exists (if the operator configured one), else
/// when config, tokenizer and every weight file (the single file, or every shard the
/// index names) are present. Reads the index only when it is needed.
#[cfg(test)]
pub(crate) async fn readiness<S: FolderSource>(
    source: &S,
    entries: &[FileEntry],
    ready_marker: Option<&str>,
) -> Result<Readiness, SourceError> {
    match listed_readiness(entries, ready_marker) {
        Listed::Decided(readiness) => Ok(readiness),
        Listed::ReadIndex(size) => index_readiness(source, entries, size).await,
    }
}

/// Readiness as far as the listing tells, with no read: the importer decides a folder
/// that is plainly incomplete before any call to the hosting account.
pub(crate) fn listed_readiness(entries: &[FileEntry], ready_marker: Option<&str>) -> Listed {
    let names: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let waiting = |why: &str| Listed::Decided(Readiness::Waiting(why.to_owned()));
    if let Some(marker) = ready_marker {
        let Some(marker_entry) = entries.iter().find(|e| e.path == marker) else {
            return waiting(&format!("the ready marker {marker} is not there yet"));
        };
        // A marker left from an earlier upload does not make new weights ready.
        let newest = entries
            .iter()
            .filter(|e| is_identity_file(&e.path))
            .filter_map(|e| e.modified)
            .max();
        return match (marker_entry.modified, newest) {
            (Some(marked), Some(newest)) if marked < newest => waiting(&format!(
                "the ready marker {marker} is older than the newest weight or config file: upload it again after the weights"
            )),
            _ => Listed::Decided(Readiness::Ready),
        };
    }
    if !names.contains(CONFIG) {
        return waiting("config.json is not there yet");
    }
    if !validate::has_tokenizer(|n| names.contains(n)) {
        return waiting("no tokenizer file yet");
    }
    let Some(index) = entries.iter().find(|e| e.path == INDEX) else {
        if names.contains("model.safetensors") {
            return Listed::Decided(Readiness::Ready);
        }
        return waiting("neither model.safetensors nor model.safetensors.index.json is there yet");
    };
    if index.size > validate::MAX_INDEX_BYTES {
        return Listed::Decided(Readiness::Ready); // validation rejects it without reading it
    }
    Listed::ReadIndex(index.size)
}

/// Whether every shard the index names is listed (`size`: the index's listed size).
pub(crate) async fn index_readiness<S: FolderSource>(
    source: &S,
    entries: &[FileEntry],
    size: u64,
) -> Result<Readiness, SourceError> {
    let names: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let bytes = source.read_range(INDEX, 0..size).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::fingerprint::tests::entry;

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
}
