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

/// Round trips beyond one wave's for `shards` headers read `in_flight` at a time.
fn extra_waves(shards: usize, in_flight: usize) -> u128 {
    2 * (shards.div_ceil(in_flight) as u128 - 1)
}

#[tokio::test(start_paused = true)]
async fn a_300_shard_folders_headers_take_two_round_trips_per_wave_of_reads_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    write_sparse_model(dir.path(), &family("llama-3.1"), 300, 1 << 20).unwrap();
    let source = Delayed::of(&LocalFolder::open(dir.path()).unwrap()).await;
    let small = tempfile::tempdir().unwrap();
    write_sparse_model(small.path(), &family("llama-3.1"), 2, 1 << 20).unwrap();
    let one_wave = round_trips(
        &Delayed::of(&LocalFolder::open(small.path()).unwrap()).await,
        2,
    )
    .await;

    // The importer's (64: five waves); and 128, which a budget of one permit per MiB
    // held to 32 reads at once (14 round trips, not 9).
    for in_flight in [HEADER_READS_AT_ONCE, 128] {
        let taken = round_trips(&source, in_flight).await;
        assert_eq!(
            taken,
            one_wave + extra_waves(300, in_flight),
            "{in_flight} in flight: {taken} round trips"
        );
    }
}
