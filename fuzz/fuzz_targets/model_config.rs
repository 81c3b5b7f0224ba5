//! Any bytes as config.json and model.safetensors.index.json of a folder that also
//! holds a small valid shard: full validation must never panic and must stay
//! consistent (`ok` exactly when no error).
#![no_main]

use std::ops::Range;

use ferry_core::{validate, FileEntry, FolderSource, Severity, SourceError, ValidateOptions};
use libfuzzer_sys::fuzz_target;

struct MemoryFolder(Vec<(String, Vec<u8>)>);

impl FolderSource for MemoryFolder {
    fn describe(&self) -> String {
        "memory".into()
    }
    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        Ok(self.0.iter().map(|(p, b)| FileEntry::new(p.clone(), b.len() as u64)).collect())
    }
    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        let bytes = &self.0.iter().find(|(p, _)| p == path).expect("listed").1;
        Ok(bytes[range.start as usize..range.end as usize].to_vec())
    }
}

fn shard() -> Vec<u8> {
    let json = br#"{"lm_head.weight":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json);
    bytes.extend_from_slice(&[0; 4]);
    bytes
}

fuzz_target!(|input: &[u8]| {
    // The first half is the config, the rest the index.
    let (config, index) = input.split_at(input.len() / 2);
    let folder = MemoryFolder(vec![
        ("config.json".into(), config.to_vec()),
        ("model.safetensors.index.json".into(), index.to_vec()),
        ("model-00001-of-00001.safetensors".into(), shard()),
        ("tokenizer.json".into(), b"{}".to_vec()),
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let report = runtime
        .block_on(validate(&folder, &ValidateOptions::default()))
        .expect("memory reads cannot fail");
    assert_eq!(report.ok, !report.findings.iter().any(|f| f.severity == Severity::Error));
    let _ = serde_json::to_string(&report).expect("reports serialise");
    let _ = report.render_text();
});
