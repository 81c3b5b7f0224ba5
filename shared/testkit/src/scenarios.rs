//! The access checker's scenario corpus (`shared/testkit/scenarios/*.json`, not `expected.json`)
//! as JSON documents by file name, sorted: for tests, fuzzing seeds and benchmarks.

use anyhow::{Context, Result};
use serde_json::Value;

pub fn corpus() -> Result<Vec<(String, Value)>> {
    let dir = crate::moto::workspace_root().join("shared/testkit/scenarios");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".json") || name == "expected.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| name.clone())?;
        out.push((name.clone(), serde_json::from_str(&text).context(name)?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
