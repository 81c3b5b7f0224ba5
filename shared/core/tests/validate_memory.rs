//! Validation's heap stays bounded whatever a folder holds within Ferry's limits: a
//! counting allocator measures the peak of live heap bytes while hostile-but-valid
//! folders are judged. (Peak RSS of the real process is measured by `scripts/bench`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_core::{validate, LocalFolder, Report, ValidateOptions};
use ferry_testkit::families::family;
use ferry_testkit::fixtures::{write_json, write_raw_safetensors};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                + (new_size - layout.size());
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MB: usize = 1_000_000;

/// Judges the folder and returns the report, its JSON size and the heap's peak above
/// what was live before.
fn judge(dir: &Path) -> (Report, usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let report = runtime
        .block_on(validate(
            &LocalFolder::open(dir).unwrap(),
            &ValidateOptions::default(),
        ))
        .unwrap();
    let json = serde_json::to_vec(&report).unwrap().len();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    (report, json, peak)
}

fn base_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_json(&dir.path().join("config.json"), &family("llama-3.1").config).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
    dir
}

/// Shards of zero-size tensors (valid), all named by an index: the index and the
/// headers are tens of MB, and nothing is wrong with them.
fn many_tensors(dir: &Path, shards: usize, tensors: usize) -> usize {
    let mut index = String::from(r#"{"weight_map":{"#);
    let mut bytes = 0;
    for k in 0..shards {
        let shard = format!("model-{k:05}.safetensors");
        let mut header = String::from("{");
        for t in 0..tensors {
            let name = format!("model.layers.{k}.mlp.experts.{t}.down_proj.weight");
            if t > 0 {
                header.push(',');
            }
            header.push_str(&format!(
                r#""{name}":{{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}}"#
            ));
            if k + t > 0 {
                index.push(',');
            }
            index.push_str(&format!(r#""{name}":"{shard}""#));
        }
        header.push('}');
        bytes += header.len();
        write_raw_safetensors(&dir.join(&shard), header.len() as u64, header.as_bytes(), 0)
            .unwrap();
    }
    index.push_str("}}");
    bytes += index.len();
    std::fs::write(dir.join("model.safetensors.index.json"), index).unwrap();
    bytes
}

#[test]
fn hostile_but_valid_folders_are_judged_in_bounded_memory() {
    // Three ~12 MB headers of 150,000 tensors each, and a ~30 MB index naming them all.
    let dir = base_folder();
    let bytes = many_tensors(dir.path(), 3, 150_000);
    let (report, json, peak) = judge(dir.path());
    assert!(report.ok, "{:#?}", report.findings);
    eprintln!("many tensors: {bytes} bytes of headers and index, heap peak {peak}, report {json}");
    assert!(
        peak < 64 * MB,
        "heap peak {peak} for {bytes} bytes of headers and index"
    );

    // An index naming 300,000 distinct absent shards.
    let dir = base_folder();
    let header = br#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
    write_raw_safetensors(
        &dir.path().join("model.safetensors"),
        header.len() as u64,
        header,
        4,
    )
    .unwrap();
    let mut index = String::from(r#"{"weight_map":{"w":"model.safetensors""#);
    for i in 0..300_000 {
        index.push_str(&format!(
            r#","tensor.{i}":"model-{i:07}-of-0300000.safetensors""#
        ));
    }
    index.push_str("}}");
    std::fs::write(dir.path().join("model.safetensors.index.json"), &index).unwrap();
    let (report, json, peak) = judge(dir.path());
    eprintln!(
        "absent shards: {} byte index, heap peak {peak}, report {json}",
        index.len()
    );
    assert!(!report.ok);
    assert!(json < 4_096, "a {json}-byte report");
    assert!(
        peak < index.len() + 8 * MB,
        "heap peak {peak} for a {}-byte index",
        index.len()
    );
}
