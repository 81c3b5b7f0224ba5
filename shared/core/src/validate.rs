//! Judges a model folder as `../shared/specs/validate.md` says: every finding, from
//! small files and safetensors headers only.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::architecture::{self, Declared, Verdict};
use crate::report::{Code, Finding, Report};
use crate::safetensors_header::{self, Dtype, Header, HeaderError, LEN_PREFIX};
use crate::source::{FileEntry, FolderSource, SourceError};
use crate::units::format_bytes;

pub const CONFIG: &str = "config.json";
pub const INDEX: &str = "model.safetensors.index.json";
const WEIGHT_SUFFIX: &str = ".safetensors";

/// Files Bedrock uses besides the weights; anything else of [`UNEXPECTED_FILE_SIZE`]
/// or more is reported.
pub const USED_FILES: &[&str] = &[
    CONFIG,
    INDEX,
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "spiece.model",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
];
const UNEXPECTED_FILE_SIZE: u64 = 1024 * 1024;

/// Files that are tokenizers on their own.
const TOKENIZER_FILES: &[&str] = &["tokenizer.json", "tokenizer.model", "spiece.model"];

/// Weight formats people upload instead of safetensors.
const OTHER_WEIGHT_SUFFIXES: &[&str] = &[
    ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack", ".onnx",
];

/// A config is a few KB; beyond this it is not one.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// The largest published indexes (600B+ MoE models) are about 10 MB.
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

const ORDINARY_DTYPES: &[Dtype] = &[Dtype::F32, Dtype::F16, Dtype::BF16];

/// How to read.
pub struct ValidateOptions<'a> {
    /// Weight headers read at once.
    pub concurrency: usize,
    /// Called with (done, total) as weight headers are read.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// The region the import would run in, when known: some families are imported
    /// only in some regions.
    pub region: Option<String>,
}

impl Default for ValidateOptions<'_> {
    fn default() -> Self {
        Self {
            concurrency: 16,
            progress: None,
            region: None,
        }
    }
}

/// Validates the folder. `Err` only when the folder could not be read (a transient or
/// access failure, a file that vanished): that is not a verdict on the model.
pub async fn validate<S: FolderSource>(
    source: &S,
    options: &ValidateOptions<'_>,
) -> Result<Report, SourceError> {
    let entries = source.list().await?;
    validate_listed(source, entries, options).await
}

/// [`validate`] on a listing the caller already has (the importer lists once to judge
/// readiness and identity, then validates without listing again).
pub async fn validate_listed<S: FolderSource>(
    source: &S,
    mut entries: Vec<FileEntry>,
    options: &ValidateOptions<'_>,
) -> Result<Report, SourceError> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let sizes: BTreeMap<&str, u64> = entries.iter().map(|e| (e.path.as_str(), e.size)).collect();
    let mut run = Run {
        findings: Vec::new(),
        bytes_read: 0,
    };

    if let Some(uri) = source.s3_uri() {
        if let Some(problem) = uri.bedrock_pattern_violation() {
            run.find(Code::InvalidSourceUri, None, format!("{uri}: {problem}"));
        }
    }

    let config = run.read_config(source, &sizes).await?;
    let embedding_marker = architecture::EMBEDDING_MARKER_FILES
        .iter()
        .copied()
        .find(|f| sizes.contains_key(f));
    let mut report_arch = ArchitectureFacts::default();
    if let Some(config) = &config {
        report_arch = run.judge_architecture(config, embedding_marker);
    }

    if let (Some(regions), Some(region)) = (report_arch.only_regions, options.region.as_deref()) {
        if !regions.contains(&region) {
            run.find(
                Code::UnsupportedRegion,
                Some(CONFIG),
                format!(
                    "{} models are imported only in {}, and this import would run in {region}: import it in {}",
                    report_arch.family.as_deref().unwrap_or("these"),
                    regions.join(", "),
                    regions.join(" or ")
                ),
            );
        }
    }

    run.check_tokenizer(&sizes);

    let weight_files: Vec<&FileEntry> =
        entries.iter().filter(|e| is_weight_file(&e.path)).collect();
    let total_bytes: u64 = weight_files.iter().map(|e| e.size).sum();
    let index = run.read_index(source, &sizes).await?;
    let headers = run.read_headers(source, &weight_files, options).await?;
    run.check_weights(&entries, &weight_files, index.as_ref(), &headers);

    let limit = if report_arch.multimodal {
        architecture::MULTIMODAL_SIZE_LIMIT
    } else {
        architecture::TEXT_SIZE_LIMIT
    };
    if total_bytes >= limit {
        run.find(
            Code::TooLarge,
            None,
            format!(
                "the weights total {} ({total_bytes} bytes); Bedrock imports {} models under {}: \
                 quantize or prune the model, or choose a smaller variant",
                format_bytes(total_bytes),
                if report_arch.multimodal {
                    "multimodal"
                } else {
                    "text"
                },
                format_bytes(limit)
            ),
        );
    }
    run.check_unexpected_files(&entries);

    let findings = run.findings;
    Ok(Report {
        ok: !findings
            .iter()
            .any(|f| f.severity == crate::report::Severity::Error),
        source: source.describe(),
        architecture: report_arch.class,
        model_type: report_arch.model_type,
        files: entries.len(),
        total_bytes,
        bytes_read: run.bytes_read,
        findings,
        family: report_arch.family,
        multimodal: report_arch.multimodal,
        context_length: report_arch.context_length,
        weight_files: weight_files.len(),
    })
}

/// The contract's tokenizer rule: `tokenizer.json`, `tokenizer.model`, `spiece.model`,
/// or `vocab.json` with `merges.txt`.
pub fn has_tokenizer(has: impl Fn(&str) -> bool) -> bool {
    TOKENIZER_FILES.iter().any(|f| has(f)) || (has("vocab.json") && has("merges.txt"))
}

/// Whether Bedrock uses the file: the weights and the small files it reads.
pub fn is_used_file(path: &str) -> bool {
    !path.contains('/') && (USED_FILES.contains(&path) || path.ends_with(WEIGHT_SUFFIX))
}

/// A top-level `.safetensors` file: what Bedrock loads as weights.
pub fn is_weight_file(path: &str) -> bool {
    !path.contains('/') && path.ends_with(WEIGHT_SUFFIX)
}

#[derive(Default)]
struct ArchitectureFacts {
    class: Option<String>,
    model_type: Option<String>,
    family: Option<String>,
    multimodal: bool,
    context_length: Option<u64>,
    only_regions: Option<&'static [&'static str]>,
}

/// The outcome of reading one weight file's header.
struct WeightHeader {
    path: String,
    header: Result<Header, HeaderError>,
}

/// The state of one validation: findings in the order they are found, bytes read.
struct Run {
    findings: Vec<Finding>,
    bytes_read: u64,
}

impl Run {
    fn find(&mut self, code: Code, file: Option<&str>, message: impl Into<String>) {
        self.findings.push(Finding::new(code, file, message));
    }

    async fn read<S: FolderSource>(
        &mut self,
        source: &S,
        path: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, SourceError> {
        let bytes = read_exact(source, path, range).await?;
        self.bytes_read += bytes.len() as u64;
        Ok(bytes)
    }

    /// Reads a small JSON file whole; `Ok(Err(why))` when it is too big or not a JSON object.
    async fn read_json_object<S: FolderSource>(
        &mut self,
        source: &S,
        path: &str,
        size: u64,
        cap: u64,
    ) -> Result<Result<Map<String, Value>, String>, SourceError> {
        if size > cap {
            return Ok(Err(format!(
                "{path} is {}, more than the {} such a file can plausibly be",
                format_bytes(size),
                format_bytes(cap)
            )));
        }
        let bytes = self.read(source, path, 0..size).await?;
        Ok(match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(format!(
                "{path} is JSON but not an object (it is {})",
                json_kind(&other)
            )),
            Err(e) => Err(format!("{path} is not valid JSON: {e}")),
        })
    }

    async fn read_config<S: FolderSource>(
        &mut self,
        source: &S,
        sizes: &BTreeMap<&str, u64>,
    ) -> Result<Option<Map<String, Value>>, SourceError> {
        let Some(&size) = sizes.get(CONFIG) else {
            let nested = sizes.keys().find(|p| p.ends_with("/config.json"));
            let hint = match nested {
                Some(p) => format!(
                    "; {p} exists: point Ferry at the folder that holds it (Bedrock needs config.json at the top of the model folder)"
                ),
                None => "; save the model with save_pretrained() and upload the whole folder".into(),
            };
            self.find(
                Code::MissingConfig,
                Some(CONFIG),
                format!("there is no config.json in the folder{hint}"),
            );
            return Ok(None);
        };
        match self
            .read_json_object(source, CONFIG, size, MAX_CONFIG_BYTES)
            .await?
        {
            Ok(map) => Ok(Some(map)),
            Err(why) => {
                self.find(Code::MissingConfig, Some(CONFIG), why);
                Ok(None)
            }
        }
    }

    fn judge_architecture(
        &mut self,
        config: &Map<String, Value>,
        embedding_marker: Option<&str>,
    ) -> ArchitectureFacts {
        let declared = Declared::from_config(config);
        let verdict = architecture::judge(&declared, embedding_marker);
        let mut facts = ArchitectureFacts {
            class: declared.shown_class(&verdict),
            model_type: declared.model_type.clone(),
            ..Default::default()
        };
        match &verdict {
            Verdict::Supported { class, mismatch } => {
                facts.family = Some(class.family.to_owned());
                facts.multimodal = class.multimodal;
                facts.only_regions = class.only_regions;
                if let Some(m) = mismatch {
                    self.find(Code::ArchitectureMismatch, Some(CONFIG), m.clone());
                }
            }
            Verdict::Unsupported { reason } => {
                self.find(Code::UnsupportedArchitecture, Some(CONFIG), reason.clone());
            }
        }
        match architecture::context_length(config) {
            Ok(Some((length, field))) => {
                facts.context_length = Some(length);
                if length > architecture::MAX_CONTEXT {
                    self.find(
                        Code::ContextTooLong,
                        Some(CONFIG),
                        format!(
                            "{field} is {length}; Bedrock imports models with a context of at most {} \
                             tokens (128K): set {field} to {} or less if the model was trained for it",
                            architecture::MAX_CONTEXT,
                            architecture::MAX_CONTEXT
                        ),
                    );
                }
            }
            Ok(None) => {}
            Err(why) => self.find(Code::UnreadableContext, Some(CONFIG), why),
        }
        facts
    }

    fn check_tokenizer(&mut self, sizes: &BTreeMap<&str, u64>) {
        let has = |name: &str| sizes.contains_key(name);
        if has_tokenizer(has) {
            return;
        }
        let half_pair = match (has("vocab.json"), has("merges.txt")) {
            (true, false) => " (vocab.json is there without merges.txt)",
            (false, true) => " (merges.txt is there without vocab.json)",
            _ => "",
        };
        self.find(
            Code::MissingTokenizer,
            None,
            format!(
                "none of tokenizer.json, tokenizer.model, spiece.model, or vocab.json with merges.txt \
                 is in the folder{half_pair}; save the tokenizer with the model (tokenizer.save_pretrained) \
                 and upload its files"
            ),
        );
    }

    /// The index's weight map (tensor → shard), or `None` when there is no usable index.
    async fn read_index<S: FolderSource>(
        &mut self,
        source: &S,
        sizes: &BTreeMap<&str, u64>,
    ) -> Result<Option<BTreeMap<String, String>>, SourceError> {
        let Some(&size) = sizes.get(INDEX) else {
            return Ok(None);
        };
        let map = match self
            .read_json_object(source, INDEX, size, MAX_INDEX_BYTES)
            .await?
        {
            Ok(map) => map,
            Err(why) => {
                self.find(
                    Code::IncompleteShards,
                    Some(INDEX),
                    format!("{why}; the shards cannot be checked"),
                );
                return Ok(None);
            }
        };
        let weight_map = match map.get("weight_map") {
            Some(Value::Object(weight_map)) => weight_map,
            _ => {
                self.find(
                    Code::IncompleteShards,
                    Some(INDEX),
                    "the index has no \"weight_map\" object mapping tensor names to shard files",
                );
                return Ok(None);
            }
        };
        let mut tensors = BTreeMap::new();
        for (tensor, shard) in weight_map {
            match shard.as_str() {
                Some(shard) => {
                    tensors.insert(tensor.clone(), shard.to_owned());
                }
                None => self.find(
                    Code::IncompleteShards,
                    Some(INDEX),
                    format!(
                        "the index maps tensor {tensor:?} to {shard}, not to a shard file name"
                    ),
                ),
            }
        }
        Ok(Some(tensors))
    }

    async fn read_headers<S: FolderSource>(
        &mut self,
        source: &S,
        weight_files: &[&FileEntry],
        options: &ValidateOptions<'_>,
    ) -> Result<Vec<WeightHeader>, SourceError> {
        let total = weight_files.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        // Owned entries: borrowed ones make the future's lifetimes higher-ranked, and
        // the handler's future then fails to be `Send`.
        let owned: Vec<FileEntry> = weight_files.iter().map(|e| (*e).clone()).collect();
        let budget = tokio::sync::Semaphore::new(HEADER_BUDGET_MIB as usize);
        let budget = &budget;
        let mut headers: Vec<(WeightHeader, u64)> = stream::iter(owned)
            .map(|entry| async move { read_header(source, &entry, budget).await })
            .buffer_unordered(options.concurrency.max(1))
            .inspect_ok(|_| {
                let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Some(progress) = options.progress {
                    progress(done, total);
                }
            })
            .try_collect()
            .await?;
        headers.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        self.bytes_read += headers.iter().map(|(_, bytes)| bytes).sum::<u64>();
        Ok(headers.into_iter().map(|(h, _)| h).collect())
    }

    fn check_weights(
        &mut self,
        entries: &[FileEntry],
        weight_files: &[&FileEntry],
        index: Option<&BTreeMap<String, String>>,
        headers: &[WeightHeader],
    ) {
        if weight_files.is_empty() {
            let others: Vec<&str> = entries
                .iter()
                .map(|e| e.path.as_str())
                .filter(|p| OTHER_WEIGHT_SUFFIXES.iter().any(|s| p.ends_with(s)))
                .take(3)
                .collect();
            let found = if others.is_empty() {
                String::new()
            } else {
                format!(" (found {})", others.join(", "))
            };
            self.find(
                Code::MissingWeights,
                None,
                format!(
                    "no .safetensors weights in the folder{found}; Bedrock imports only Hugging Face \
                     safetensors: save with save_pretrained(..., safe_serialization=True)"
                ),
            );
        }

        for weight in headers {
            match &weight.header {
                Err(err) => self.find(
                    Code::InvalidSafetensors,
                    Some(&weight.path),
                    err.to_string(),
                ),
                Ok(header) => self.check_dtypes(&weight.path, header),
            }
        }

        match index {
            Some(index) => self.check_index(index, weight_files, headers),
            None => self.check_unindexed_shards(weight_files),
        }
    }

    fn check_dtypes(&mut self, path: &str, header: &Header) {
        let mut unusual: BTreeMap<Dtype, (usize, &str)> = BTreeMap::new();
        for tensor in &header.tensors {
            if !ORDINARY_DTYPES.contains(&tensor.dtype) {
                unusual.entry(tensor.dtype).or_insert((0, &tensor.name)).0 += 1;
            }
        }
        if unusual.is_empty() {
            return;
        }
        let parts: Vec<String> = unusual
            .iter()
            .map(|(dtype, (count, example))| {
                format!("{count} tensor(s) of {dtype} (e.g. {example})")
            })
            .collect();
        self.find(
            Code::UnusualDtype,
            Some(path),
            format!(
                "{}; F32, F16 and BF16 are the ordinary dtypes: AWS documents no rule, so check that \
                 the model loads in Hugging Face transformers as uploaded",
                parts.join(", ")
            ),
        );
    }

    fn check_index(
        &mut self,
        index: &BTreeMap<String, String>,
        weight_files: &[&FileEntry],
        headers: &[WeightHeader],
    ) {
        let present: BTreeSet<&str> = weight_files.iter().map(|e| e.path.as_str()).collect();
        let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tensor, shard) in index {
            by_shard
                .entry(shard.as_str())
                .or_default()
                .push(tensor.as_str());
        }
        for shard in by_shard.keys() {
            if !present.contains(shard) {
                self.find(
                    Code::IncompleteShards,
                    Some(INDEX),
                    format!("the index names {shard}, which is not in the folder"),
                );
            }
        }
        for weight in headers {
            let Ok(header) = &weight.header else { continue };
            let Some(tensors) = by_shard.get(weight.path.as_str()) else {
                self.find(
                    Code::UnindexedWeights,
                    Some(&weight.path),
                    format!(
                        "{} is not named by {INDEX}, so Hugging Face loaders ignore it; remove it or \
                         regenerate the index",
                        weight.path
                    ),
                );
                continue;
            };
            let absent: Vec<&str> = tensors
                .iter()
                .copied()
                .filter(|t| header.tensor(t).is_none())
                .collect();
            if !absent.is_empty() {
                self.find(
                    Code::IncompleteShards,
                    Some(&weight.path),
                    format!(
                        "{} tensor(s) that the index places in {} are not in its header ({}); the shard \
                         and the index come from different saves: upload both from the same one",
                        absent.len(),
                        weight.path,
                        examples(&absent)
                    ),
                );
            }
        }
    }

    /// Without an index, several files (or names like `model-00001-of-00004`) mean a
    /// sharded model Hugging Face loaders cannot assemble.
    fn check_unindexed_shards(&mut self, weight_files: &[&FileEntry]) {
        let declared_shards = weight_files
            .iter()
            .filter_map(|e| shard_number(&e.path))
            .map(|(_, of)| of)
            .max();
        let sharded = weight_files.len() > 1 || declared_shards.is_some_and(|of| of > 1);
        if !sharded {
            return;
        }
        let missing = match declared_shards {
            Some(of) if (of as usize) > weight_files.len() => {
                format!(
                    "; the names say {of} shards but {} are here",
                    weight_files.len()
                )
            }
            _ => String::new(),
        };
        self.find(
            Code::MissingIndex,
            Some(INDEX),
            format!(
                "{} weight files and no {INDEX}{missing}; Hugging Face loaders need the index to \
                 assemble shards: upload the index saved with them",
                weight_files.len()
            ),
        );
    }

    fn check_unexpected_files(&mut self, entries: &[FileEntry]) {
        for entry in entries {
            let used = !entry.path.contains('/')
                && (USED_FILES.contains(&entry.path.as_str())
                    || entry.path.ends_with(WEIGHT_SUFFIX));
            if used || entry.size < UNEXPECTED_FILE_SIZE {
                continue;
            }
            self.find(
                Code::UnexpectedFile,
                Some(&entry.path),
                format!(
                    "{} is {} and Bedrock does not use it; it only adds upload time and storage: keep \
                     it out of the model folder",
                    entry.path,
                    format_bytes(entry.size)
                ),
            );
        }
    }
}

/// Reads one weight file's length prefix and header; tensor data is never touched.
/// Header bytes (MiB) held in memory at once across concurrent reads: sixteen hostile
/// 100 MB headers must not take 1.6 GB of a Lambda's memory.
const HEADER_BUDGET_MIB: u64 = 256;

async fn read_header<S: FolderSource>(
    source: &S,
    entry: &FileEntry,
    budget: &tokio::sync::Semaphore,
) -> Result<(WeightHeader, u64), SourceError> {
    let path = entry.path.clone();
    if entry.size < LEN_PREFIX {
        let header = Err(HeaderError::TooShort(entry.size));
        return Ok((WeightHeader { path, header }, 0));
    }
    let prefix = read_exact(source, &path, 0..LEN_PREFIX).await?;
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&prefix);
    let mut bytes_read = LEN_PREFIX;
    let header = match safetensors_header::header_len(len_bytes, entry.size) {
        Err(err) => Err(err),
        Ok(len) => {
            // Ordinary headers take one permit; a huge one waits for its share.
            let permits = len.div_ceil(1024 * 1024).clamp(1, HEADER_BUDGET_MIB) as u32;
            let _held = budget.acquire_many(permits).await.map_err(|_| {
                SourceError::new(
                    crate::source::SourceErrorKind::Other,
                    format!("could not read {path}"),
                    "the read budget closed",
                )
            })?;
            let json = read_exact(source, &path, LEN_PREFIX..LEN_PREFIX + len).await?;
            bytes_read += len;
            safetensors_header::parse_header(&json, entry.size - LEN_PREFIX - len)
        }
    };
    Ok((WeightHeader { path, header }, bytes_read))
}

/// A read that must return exactly the range: a short read means the file changed
/// between listing and reading, which no verdict should be built on.
async fn read_exact<S: FolderSource>(
    source: &S,
    path: &str,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, SourceError> {
    let expected = range.end - range.start;
    let bytes = source.read_range(path, range).await?;
    if bytes.len() as u64 != expected {
        return Err(SourceError::new(
            crate::source::SourceErrorKind::Other,
            format!("could not read {path}"),
            format!(
                "asked for {expected} bytes, got {}; was the file changed while Ferry read it?",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// `model-00002-of-00004.safetensors` → `(2, 4)`.
fn shard_number(path: &str) -> Option<(u32, u32)> {
    let stem = path.strip_suffix(WEIGHT_SUFFIX)?;
    let (head, of) = stem.rsplit_once("-of-")?;
    let (_, number) = head.rsplit_once('-')?;
    Some((number.parse().ok()?, of.parse().ok()?))
}

fn examples(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_numbers_are_read_from_hugging_face_names() {
        assert_eq!(
            shard_number("model-00002-of-00004.safetensors"),
            Some((2, 4))
        );
        assert_eq!(shard_number("model.safetensors"), None);
        assert_eq!(shard_number("x-of-y.safetensors"), None);
    }

    #[test]
    fn examples_are_bounded() {
        assert_eq!(examples(&["a"]), "\"a\"");
        assert_eq!(
            examples(&["a", "b", "c", "d", "e"]),
            "\"a\", \"b\", \"c\" and 2 more"
        );
    }
}
