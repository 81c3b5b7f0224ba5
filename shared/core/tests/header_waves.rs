//! Header reads in flight, against a source that answers every request after a fixed
//! delay (tokio's paused clock: virtual time, exact). A header is two round trips (its
//! length, then it), so a folder's headers take two per wave of reads in flight: the
//! round trips S3's latency puts on the importer's path, which moto, serving one request
//! at a time, cannot show for 600 reads.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use ferry_core::import::importer::HEADER_READS_AT_ONCE;
use ferry_core::{
    validate, FileEntry, FolderSource, LocalFolder, SourceError, SourceErrorKind, ValidateOptions,
};
use ferry_testkit::families::family;
use ferry_testkit::fixtures::write_sparse_model;

const DELAY: Duration = Duration::from_millis(20);

/// The folder's listing and the bytes validation may read (small files whole, weight
/// files up to the end of their header), answered after [`DELAY`].
struct Delayed {
    entries: Vec<FileEntry>,
    readable: HashMap<String, Vec<u8>>,
}

impl Delayed {
    async fn of(folder: &LocalFolder) -> Self {
        let entries = folder.list().await.unwrap();
        let mut readable = HashMap::new();
        for entry in &entries {
            let end = if entry.path.ends_with(".safetensors") {
                let prefix = folder.read_range(&entry.path, 0..8).await.unwrap();
                8 + u64::from_le_bytes(prefix.try_into().unwrap())
            } else {
                entry.size
            };
            let bytes = folder.read_range(&entry.path, 0..end).await.unwrap();
            readable.insert(entry.path.clone(), bytes);
        }
        Self { entries, readable }
    }
}

impl FolderSource for Delayed {
    fn describe(&self) -> String {
        "a folder 20 ms away".into()
    }

    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        tokio::time::sleep(DELAY).await;
        Ok(self.entries.clone())
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        tokio::time::sleep(DELAY).await;
        let bytes = &self.readable[path];
        let (start, end) = (range.start as usize, range.end as usize);
        bytes.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| {
            SourceError::new(
                SourceErrorKind::Other,
                path,
                "read past what the test keeps",
            )
        })
    }
}

/// Round trips (of [`DELAY`]) that validating `source` takes with `concurrency`.
async fn round_trips(source: &Delayed, concurrency: usize) -> u128 {
    let start = tokio::time::Instant::now();
    let options = ValidateOptions {
        concurrency,
        ..Default::default()
    };
    let report = validate(source, &options).await.unwrap();
    assert!(report.ok, "{:?}", report.findings);
    start.elapsed().as_millis() / DELAY.as_millis()
}

#[tokio::test(start_paused = true)]
async fn the_importer_reads_a_300_shard_folders_headers_in_three_waves() {
    let dir = tempfile::tempdir().unwrap();
    write_sparse_model(dir.path(), &family("llama-3.1"), 300, 1 << 20).unwrap();
    let source = Delayed::of(&LocalFolder::open(dir.path()).unwrap()).await;
    let one_wave = {
        let small = tempfile::tempdir().unwrap();
        write_sparse_model(small.path(), &family("llama-3.1"), 2, 1 << 20).unwrap();
        round_trips(
            &Delayed::of(&LocalFolder::open(small.path()).unwrap()).await,
            128,
        )
        .await
    };

    let importer = round_trips(&source, HEADER_READS_AT_ONCE).await;
    let before = round_trips(&source, 64).await;
    // 300 headers: waves of 128 are 3 (two round trips each), of 64 are 5.
    assert_eq!(
        importer,
        one_wave + 2 * 2,
        "importer: {importer} round trips"
    );
    assert_eq!(
        before,
        one_wave + 2 * 4,
        "64 in flight: {before} round trips"
    );
}
