//! Judges a model folder as `../shared/specs/validate.md` says: every finding, from
//! small files and safetensors headers only.

pub mod architecture;
pub mod report;
mod report_text;
pub mod safetensors_header;
/// The shard index (`model.safetensors.index.json`) checked against the weights.
pub(crate) mod shard_index;
pub mod source;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::text::echo;
use crate::text::units::{format_bytes, thousands};
use architecture::{ContextReading, Declared, Verdict};
use report::{Code, Finding, Report};
use safetensors_header::{Dtype, Header, HeaderError, LEN_PREFIX};
use shard_index::{IndexCheck, Tally, MAX_INDEX_ENTRIES};
use source::{FileEntry, FolderSource, SourceError};

/// The model's configuration, at the top of the folder.
pub(crate) const CONFIG: &str = "config.json";
/// The shard index of a model split into several weight files.
pub(crate) const INDEX: &str = "model.safetensors.index.json";
const WEIGHT_SUFFIX: &str = ".safetensors";

/// Files Bedrock uses besides the weights; anything else of [`UNEXPECTED_FILE_SIZE`]
/// or more is reported.
pub(crate) const USED_FILES: &[&str] = &[
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

/// A config is a few KB; beyond this it is not one. (Parsed as a `Value`, which can
/// take 16 times its size: 1 MiB keeps that within the importer's memory.)
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The largest published indexes (600B+ MoE models) are about 10 MB.
pub(crate) const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// The largest safetensors header Ferry reads (the format allows 100,000,000 bytes):
/// also the header bytes held at once across concurrent reads, so that judging stays
/// within the importer's 128 MB of Lambda memory. Real headers are a few hundred KB.
pub const MAX_HEADER_BYTES: u64 = 32 * 1024 * 1024;
/// The most tensors Ferry keeps across a folder's headers (8 bytes each), to check the
/// index against; the largest published models declare about 100,000.
pub const MAX_TENSORS: usize = 1_000_000;
/// The most `.safetensors` files Ferry reads the headers of; the largest published
/// models have a few hundred shards.
pub const MAX_WEIGHT_FILES: usize = 10_000;
/// Findings of one code a report lists; the rest are summed up in one more finding.
pub const MAX_FINDINGS_PER_CODE: usize = 20;

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
pub(crate) async fn validate_listed<S: FolderSource>(
    source: &S,
    mut entries: Vec<FileEntry>,
    options: &ValidateOptions<'_>,
) -> Result<Report, SourceError> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let sizes: BTreeMap<&str, u64> = entries.iter().map(|e| (e.path.as_str(), e.size)).collect();
    let mut run = Run::default();
    run.check_source_uri(source);

    let config = run.read_config(source, &sizes).await?;
    let embedding_marker = architecture::EMBEDDING_MARKER_FILES
        .iter()
        .copied()
        .find(|f| sizes.contains_key(f));
    let mut report_arch = ArchitectureFacts::default();
    if let Some(config) = &config {
        report_arch = run.judge_architecture(config, embedding_marker);
    }
    // A dense config's tree can take many times its 1 MiB: gone before the headers.
    drop(config);
    run.check_region(&report_arch, options.region.as_deref());
    run.check_tokenizer(&sizes);
    run.check_file_names(source, &entries);

    let weight_files: Vec<&FileEntry> =
        entries.iter().filter(|e| is_weight_file(&e.path)).collect();
    let total_bytes: u64 = weight_files.iter().map(|e| e.size).sum();
    run.judge_weight_files(source, &entries, &sizes, &weight_files, options)
        .await?;
    run.check_size(total_bytes, report_arch.multimodal);
    run.check_unexpected_files(&entries);

    let bytes_read = run.bytes_read;
    let findings = run.finish();
    Ok(Report {
        ok: !findings
            .iter()
            .any(|f| f.severity == crate::validate::report::Severity::Error),
        source: source.describe(),
        architecture: report_arch.class,
        model_type: report_arch.model_type,
        files: entries.len(),
        total_bytes,
        bytes_read,
        findings,
        family: report_arch.family,
        multimodal: report_arch.multimodal,
        context_length: report_arch.context_length,
        weight_files: weight_files.len(),
    })
}

/// The contract's tokenizer rule: `tokenizer.json`, `tokenizer.model`, `spiece.model`,
/// or `vocab.json` with `merges.txt`.
pub(crate) fn has_tokenizer(has: impl Fn(&str) -> bool) -> bool {
    TOKENIZER_FILES.iter().any(|f| has(f)) || (has("vocab.json") && has("merges.txt"))
}

/// Whether Bedrock uses the file: the weights and the small files it reads.
pub(crate) fn is_used_file(path: &str) -> bool {
    !path.contains('/') && (USED_FILES.contains(&path) || path.ends_with(WEIGHT_SUFFIX))
}

/// A top-level `.safetensors` file: what Bedrock loads as weights.
pub(crate) fn is_weight_file(path: &str) -> bool {
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

/// The state of one validation: findings in the order they are found (at most
/// [`MAX_FINDINGS_PER_CODE`] of each code, the rest counted), bytes read.
#[derive(Default)]
struct Run {
    findings: Vec<Finding>,
    per_code: BTreeMap<Code, usize>,
    /// Findings past the cap: how many of each code, and some of their files.
    overflow: BTreeMap<Code, Tally>,
    bytes_read: u64,
}

impl Run {
    fn find(&mut self, code: Code, file: Option<&str>, message: impl Into<String>) {
        let count = self.per_code.entry(code).or_default();
        *count += 1;
        if *count <= MAX_FINDINGS_PER_CODE {
            self.findings.push(Finding::new(code, file, message));
        } else {
            self.overflow
                .entry(code)
                .or_default()
                .add(file.unwrap_or("(folder)"));
        }
    }

    /// The findings, with one finding per code that had more than the cap, so that a
    /// report stays small whatever the folder holds.
    fn finish(mut self) -> Vec<Finding> {
        for (code, more) in std::mem::take(&mut self.overflow) {
            self.findings.push(Finding::new(
                code,
                None,
                format!(
                    "{} more {} finding(s) like the ones above, in {}; the report lists {MAX_FINDINGS_PER_CODE} of each code",
                    thousands(more.count),
                    code.as_str(),
                    more.listed(false)
                ),
            ));
        }
        self.findings
    }

    /// An S3 source whose URI Bedrock's pattern refuses.
    fn check_source_uri<S: FolderSource>(&mut self, source: &S) {
        if let Some(uri) = source.s3_uri() {
            if let Some(problem) = uri.bedrock_pattern_violation() {
                self.find(Code::InvalidSourceUri, None, format!("{uri}: {problem}"));
            }
        }
    }

    /// A family imported only in some regions, when the import would run elsewhere.
    fn check_region(&mut self, facts: &ArchitectureFacts, region: Option<&str>) {
        let (Some(regions), Some(region)) = (facts.only_regions, region) else {
            return;
        };
        if !regions.contains(&region) {
            self.find(
                Code::UnsupportedRegion,
                Some(CONFIG),
                format!(
                    "{} models are imported only in {}, and this import would run in {region}: import it in {}",
                    facts.family.as_deref().unwrap_or("these"),
                    regions.join(", "),
                    regions.join(" or ")
                ),
            );
        }
    }

    /// The weight files' headers, then the index against them; past
    /// [`MAX_WEIGHT_FILES`] neither is read.
    async fn judge_weight_files<S: FolderSource>(
        &mut self,
        source: &S,
        entries: &[FileEntry],
        sizes: &BTreeMap<&str, u64>,
        weight_files: &[&FileEntry],
        options: &ValidateOptions<'_>,
    ) -> Result<(), SourceError> {
        if weight_files.len() > MAX_WEIGHT_FILES {
            // Each header judged costs about a kilobyte kept: refuse rather than exhaust memory.
            self.find(
                Code::LimitExceeded,
                None,
                format!(
                    "the folder holds {} .safetensors files, more than the {} Ferry judges (the largest \
                     published models have a few hundred shards): their headers and the index are not checked",
                    thousands(weight_files.len() as u64),
                    thousands(MAX_WEIGHT_FILES as u64)
                ),
            );
            return Ok(());
        }
        let mut headers = self.read_headers(source, weight_files, options).await?;
        self.check_headers(entries, weight_files, &mut headers);
        let index = self.read_index(source, sizes, &headers).await?;
        self.check_weights(weight_files, index.as_ref(), &headers);
        Ok(())
    }

    /// Weights at or over Bedrock's limit for text or multimodal models.
    fn check_size(&mut self, total_bytes: u64, multimodal: bool) {
        let limit = if multimodal {
            architecture::MULTIMODAL_SIZE_LIMIT
        } else {
            architecture::TEXT_SIZE_LIMIT
        };
        if total_bytes >= limit {
            self.find(
                Code::TooLarge,
                None,
                format!(
                    "the weights total {} ({total_bytes} bytes); Bedrock imports {} models under {}: \
                     quantize or prune the model, or choose a smaller variant",
                    format_bytes(total_bytes),
                    if multimodal { "multimodal" } else { "text" },
                    format_bytes(limit)
                ),
            );
        }
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
        Ok(match parse_json_like_python(&bytes) {
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
            Some((ContextReading::Length(length), _)) => facts.context_length = Some(length),
            Some((ContextReading::TooLong { shown, length }, field)) => {
                facts.context_length = length;
                self.find(
                    Code::ContextTooLong,
                    Some(CONFIG),
                    format!(
                        "{field} is {shown}; Bedrock imports models with a context of at most {} \
                         tokens (128K): set {field} to {} or less if the model was trained for it",
                        architecture::MAX_CONTEXT,
                        architecture::MAX_CONTEXT
                    ),
                )
            }
            Some((ContextReading::Invalid(why), _)) => {
                self.find(Code::InvalidContext, Some(CONFIG), why)
            }
            Some((ContextReading::Unreadable(why), _)) => {
                self.find(Code::UnreadableContext, Some(CONFIG), why)
            }
            None => {}
        }
        facts
    }

    /// Weight files whose names are not UTF-8: S3 keys are UTF-8, so the folder cannot
    /// be uploaded as it is (the file is still judged and counted in the size).
    fn check_file_names<S: FolderSource>(&mut self, source: &S, entries: &[FileEntry]) {
        for entry in entries {
            if is_weight_file(&entry.path) && source.has_undecodable_name(&entry.path) {
                self.find(
                    Code::InvalidFileName,
                    Some(&entry.path),
                    format!(
                        "the name of {} is not valid UTF-8 (its undecodable bytes shown as \\xNN): S3 keys are UTF-8, so it \
                         cannot be uploaded under this name and Bedrock cannot read it as named; rename it",
                        echo(&entry.path)
                    ),
                );
            }
        }
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

    /// The index judged against the weight files and their headers, or `None` when
    /// there is no index. Its bytes are dropped once judged.
    async fn read_index<S: FolderSource>(
        &mut self,
        source: &S,
        sizes: &BTreeMap<&str, u64>,
        headers: &[WeightHeader],
    ) -> Result<Option<IndexCheck>, SourceError> {
        let Some(&size) = sizes.get(INDEX) else {
            return Ok(None);
        };
        if size > MAX_INDEX_BYTES {
            return Ok(Some(IndexCheck {
                unreadable: Some(format!(
                    "{}, more than the {} such a file can plausibly be",
                    format_bytes(size),
                    format_bytes(MAX_INDEX_BYTES)
                )),
                ..IndexCheck::default()
            }));
        }
        let bytes = self.read(source, INDEX, 0..size).await?;
        let files: Vec<&str> = headers.iter().map(|h| h.path.as_str()).collect();
        let parsed: Vec<Option<&Header>> = headers.iter().map(|h| h.header.as_ref().ok()).collect();
        Ok(Some(shard_index::check_index(&bytes, &files, &parsed)))
    }

    async fn read_headers<S: FolderSource>(
        &mut self,
        source: &S,
        weight_files: &[&FileEntry],
        options: &ValidateOptions<'_>,
    ) -> Result<Vec<WeightHeader>, SourceError> {
        let total = weight_files.len();
        let done = AtomicUsize::new(0);
        // Owned entries: borrowed ones make the future's lifetimes higher-ranked, and
        // the handler's future then fails to be `Send`.
        let owned: Vec<FileEntry> = weight_files.iter().map(|e| (*e).clone()).collect();
        let limits = Limits {
            budget: tokio::sync::Semaphore::new(HEADER_BUDGET_KIB as usize),
            kept_tensors: AtomicUsize::new(0),
        };
        let limits = &limits;
        let mut headers: Vec<(WeightHeader, u64)> = stream::iter(owned)
            .map(|entry| async move { read_header(source, &entry, limits).await })
            .buffer_unordered(options.concurrency.max(1))
            .inspect_ok(|_| {
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
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

    /// Findings of the headers alone: unreadable ones, unusual dtypes, no weights or no
    /// tensors at all, more tensors than Ferry keeps.
    fn check_headers(
        &mut self,
        entries: &[FileEntry],
        weight_files: &[&FileEntry],
        headers: &mut [WeightHeader],
    ) {
        if weight_files.is_empty() {
            self.no_weights(entries);
        }
        for weight in headers.iter() {
            match &weight.header {
                Err(err) if err.is_ferry_limit() => {
                    self.find(Code::LimitExceeded, Some(&weight.path), err.to_string())
                }
                Err(err) => self.find(
                    Code::InvalidSafetensors,
                    Some(&weight.path),
                    err.to_string(),
                ),
                Ok(header) => self.check_dtypes(&weight.path, header),
            }
        }
        let parsed = || headers.iter().filter_map(|w| w.header.as_ref().ok());
        let tensors: usize = parsed().map(Header::len).sum();
        let all_parsed = headers.iter().all(|w| w.header.is_ok());
        if !headers.is_empty() && all_parsed && tensors == 0 {
            self.find(
                Code::MissingWeights,
                None,
                format!(
                    "the {} .safetensors file(s) declare no tensors: there is nothing for Bedrock to load; \
                     save the model again with save_pretrained(..., safe_serialization=True)",
                    headers.len()
                ),
            );
        }
        if tensors > MAX_TENSORS {
            for weight in headers.iter_mut() {
                if let Ok(header) = &mut weight.header {
                    header.forget_names();
                }
            }
            self.find(
                Code::LimitExceeded,
                None,
                format!(
                    "the weight files declare {} tensors, more than the {} Ferry judges (the largest \
                     published models have about 100,000): the index is not checked against them",
                    thousands(tensors as u64),
                    thousands(MAX_TENSORS as u64)
                ),
            );
        }
    }

    fn no_weights(&mut self, entries: &[FileEntry]) {
        let others: Vec<String> = entries
            .iter()
            .map(|e| e.path.as_str())
            .filter(|p| OTHER_WEIGHT_SUFFIXES.iter().any(|s| p.ends_with(s)))
            .take(3)
            .map(|p| echo(p).into_owned())
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

    fn check_weights(
        &mut self,
        weight_files: &[&FileEntry],
        index: Option<&IndexCheck>,
        headers: &[WeightHeader],
    ) {
        match index {
            Some(index) => self.check_index(index, headers),
            None => self.check_unindexed_shards(weight_files),
        }
    }

    fn check_dtypes(&mut self, path: &str, header: &Header) {
        let parts: Vec<String> = header
            .dtypes()
            .iter()
            .filter(|(dtype, _)| !ORDINARY_DTYPES.contains(dtype))
            .map(|(dtype, tally)| {
                format!(
                    "{} tensor(s) of {dtype} (e.g. {})",
                    tally.tensors, tally.example
                )
            })
            .collect();
        if parts.is_empty() {
            return;
        }
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

    fn check_index(&mut self, index: &IndexCheck, headers: &[WeightHeader]) {
        if let Some(why) = &index.unreadable {
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                format!("{INDEX} is {why}; the shards cannot be checked"),
            );
            return;
        }
        if index.no_weight_map {
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                "the index has no \"weight_map\" object mapping tensor names to shard files",
            );
            return;
        }
        if index.beyond_limit {
            self.find(
                Code::LimitExceeded,
                Some(INDEX),
                format!(
                    "the index names more than {} tensors, more than Ferry judges (the largest published \
                     models have about 100,000): the shards are not checked",
                    thousands(MAX_INDEX_ENTRIES as u64)
                ),
            );
            return;
        }
        self.check_index_entries(index);
        self.check_index_names_weights(index, headers);
        for (weight, missing) in headers.iter().zip(&index.missing_tensors) {
            if missing.count > 0 {
                self.find(
                    Code::IncompleteShards,
                    Some(&weight.path),
                    format!(
                        "{} tensor(s) that the index places in {} are not in its header ({}); the shard \
                         and the index come from different saves: upload both from the same one",
                        thousands(missing.count),
                        echo(&weight.path),
                        missing.listed(true)
                    ),
                );
            }
        }
    }

    /// Entries that are not shard names, and shards that are not in the folder.
    fn check_index_entries(&mut self, index: &IndexCheck) {
        let odd = &index.not_shard_names;
        if odd.count > 0 {
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                format!(
                    "the index maps {} tensor(s) to something other than a shard file name, not to a shard: {}",
                    thousands(odd.count),
                    odd.listed(false)
                ),
            );
        }
        let absent = &index.absent_shards;
        if absent.count == 1 {
            let shard = absent.examples.first().map_or("", String::as_str);
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                format!("the index names {shard}, which is not in the folder"),
            );
        } else if absent.count > 1 {
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                format!(
                    "{} shards named by the index are absent: {}",
                    thousands(absent.count),
                    absent.listed(false)
                ),
            );
        }
    }

    /// Weight files the index does not name: loaders ignore them, and when the index
    /// names none of them, the model has no weights at all.
    fn check_index_names_weights(&mut self, index: &IndexCheck, headers: &[WeightHeader]) {
        if !headers.is_empty() && !index.named.iter().any(|&named| named) {
            self.find(
                Code::IncompleteShards,
                Some(INDEX),
                format!(
                    "the index's weight_map ({} entries) names none of the {} .safetensors file(s) in \
                     the folder, so Hugging Face loaders load no weights: regenerate the index with the shards",
                    thousands(index.entries),
                    headers.len()
                ),
            );
            return;
        }
        for (weight, named) in headers.iter().zip(&index.named) {
            if !named && weight.header.is_ok() {
                self.find(
                    Code::UnindexedWeights,
                    Some(&weight.path),
                    format!(
                        "{} is not named by {INDEX}, so Hugging Face loaders ignore it; remove it or \
                         regenerate the index",
                        echo(&weight.path)
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

/// Header bytes (KiB) held in memory at once across concurrent reads: 32 MiB in all,
/// however many hostile headers come, a share of a Lambda's 128 MB. Counted in KiB, not
/// MiB: at one MiB each, ordinary headers of a few kB let only 32 reads run at once,
/// whatever the concurrency asked for.
const HEADER_BUDGET_KIB: u64 = MAX_HEADER_BYTES / 1024;

/// What concurrent header reads share: the byte budget, and the tensors kept so far.
struct Limits {
    budget: tokio::sync::Semaphore,
    kept_tensors: AtomicUsize,
}

/// Reads one weight file's length prefix and header; tensor data is never touched.
async fn read_header<S: FolderSource>(
    source: &S,
    entry: &FileEntry,
    limits: &Limits,
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
        Ok(len) if len > MAX_HEADER_BYTES => Err(HeaderError::BeyondFerryLimit {
            len,
            limit: MAX_HEADER_BYTES,
        }),
        Ok(len) => {
            // A permit per KiB: a large header waits for its share.
            let permits = len.div_ceil(1024).clamp(1, HEADER_BUDGET_KIB) as u32;
            let _held = limits.budget.acquire_many(permits).await.map_err(|_| {
                SourceError::new(
                    crate::validate::source::SourceErrorKind::Other,
                    format!("could not read {}", echo(&path)),
                    "the read budget closed",
                )
            })?;
            let json = read_exact(source, &path, LEN_PREFIX..LEN_PREFIX + len).await?;
            bytes_read += len;
            let parsed = safetensors_header::parse_header(&json, entry.size - LEN_PREFIX - len);
            drop(json);
            parsed.map(|header| keep_within(header, &limits.kept_tensors))
        }
    };
    Ok((WeightHeader { path, header }, bytes_read))
}

/// Keeps the header's names while the folder's total stays within [`MAX_TENSORS`]:
/// past it they are dropped at once, so memory stays bounded however many files come.
fn keep_within(mut header: Header, kept: &AtomicUsize) -> Header {
    let before = kept.fetch_add(header.len(), Ordering::Relaxed);
    if before.saturating_add(header.len()) > MAX_TENSORS {
        header.forget_names();
    }
    header
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
            crate::validate::source::SourceErrorKind::Other,
            format!("could not read {}", echo(path)),
            format!(
                "asked for {expected} bytes, got {}; was the file changed while Ferry read it?",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Parses JSON as Python's `json` module (which Hugging Face loaders use) reads it:
/// a number too large for a 64-bit float (`1e400`) is infinity there, not an error, so
/// it is read here as the largest float of its sign rather than making the file
/// unreadable.
fn parse_json_like_python(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) if e.to_string().starts_with("number out of range") => {
            serde_json::from_slice::<Value>(&clamp_huge_numbers(bytes))
        }
        other => other,
    }
}

/// `bytes` with every number outside strings that overflows a 64-bit float replaced
/// by `±1.7976931348623157e308`.
fn clamp_huge_numbers(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            in_string = escaped || b != b'"';
            escaped = !escaped && b == b'\\';
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = bytes[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .map_or(bytes.len(), |n| i + n);
            let token = &bytes[i..end];
            let huge = std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_infinite);
            if huge {
                if token.first() == Some(&b'-') {
                    out.push(b'-');
                }
                out.extend_from_slice(b"1.7976931348623157e308");
            } else {
                out.extend_from_slice(token);
            }
            i = end;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// `model-00002-of-00004.safetensors` → `(2, 4)`.
fn shard_number(path: &str) -> Option<(u32, u32)> {
    let stem = path.strip_suffix(WEIGHT_SUFFIX)?;
    let (head, of) = stem.rsplit_once("-of-")?;
    let (_, number) = head.rsplit_once('-')?;
    Some((number.parse().ok()?, of.parse().ok()?))
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
    fn numbers_beyond_floats_are_read_as_python_reads_them() {
        let json = br#"{"a": 1e400, "b": -2E+999, "c": "1e400 \" 9e999", "d": [1.5, 7]}"#;
        let value = parse_json_like_python(json).unwrap();
        assert_eq!(value["a"].as_f64(), Some(f64::MAX));
        assert_eq!(value["b"].as_f64(), Some(-f64::MAX));
        assert_eq!(value["c"], "1e400 \" 9e999");
        assert_eq!(value["d"], serde_json::json!([1.5, 7]));
        assert!(parse_json_like_python(b"{\"a\": 1e400").is_err());
    }

    #[test]
    fn shard_numbers_are_read_from_hugging_face_names() {
        assert_eq!(
            shard_number("model-00002-of-00004.safetensors"),
            Some((2, 4))
        );
        assert_eq!(shard_number("model.safetensors"), None);
        assert_eq!(shard_number("x-of-y.safetensors"), None);
    }
}
