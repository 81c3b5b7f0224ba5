//! The validation report of `../shared/specs/validate.md`: findings and their codes.

use serde::{Deserialize, Serialize};

/// How much a finding weighs: one `error` makes the report not `ok` (and `ferry
/// validate` exit 1); warnings only inform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `error`: Bedrock would refuse the model by a rule AWS documents, or Ferry cannot
    /// judge the folder; the folder is not imported.
    Error,
    /// `warning`: a doubt AWS documents no rule for; it does not stop an import.
    Warning,
}

/// Every finding code. The contract's codes keep their meaning; Ferry's additions are
/// warnings, except `unsupported-region`, `limit-exceeded` and `invalid-file-name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// `missing-config`: no `config.json`, or it is not a JSON object.
    MissingConfig,
    /// `unsupported-architecture`: `architectures` / `model_type` is not a class Bedrock
    /// imports (embedding models included).
    UnsupportedArchitecture,
    /// `missing-tokenizer`: none of `tokenizer.json`, `tokenizer.model`, `spiece.model`,
    /// or `vocab.json` with `merges.txt`.
    MissingTokenizer,
    /// `missing-weights`: no top-level `.safetensors` file (e.g. only `pytorch_model.bin`
    /// or a `.gguf`), or weight files that declare no tensors.
    MissingWeights,
    /// `incomplete-shards`: the index is unreadable, names a shard that is absent, or
    /// places a tensor in a shard whose header lacks it.
    IncompleteShards,
    /// `invalid-safetensors`: a weight file's header is unreadable or inconsistent with
    /// the file (see [`HeaderError`](crate::validate::safetensors_header::HeaderError)).
    InvalidSafetensors,
    /// `too-large`: the `.safetensors` files total 200×10⁹ bytes or more (100×10⁹ for a
    /// multimodal model).
    TooLarge,
    /// `context-too-long`: the context length is more than 131072 tokens.
    ContextTooLong,
    /// `invalid-source-uri`: the S3 URI breaks Bedrock's `s3Uri` pattern (e.g. a space,
    /// `+`, `=`, `%` or `~` in the path).
    InvalidSourceUri,
    /// The family is imported only in other regions (GPT-OSS: us-east-1); reported
    /// when the region is known.
    UnsupportedRegion,
    /// `unusual-dtype` (warning): a tensor dtype other than F32, F16 and BF16.
    UnusualDtype,
    /// `unexpected-file` (warning): a file of 1 MiB or more that Bedrock does not use.
    UnexpectedFile,
    // Ferry's additions (warnings):
    /// `model_type` disagrees with the class in `architectures`.
    ArchitectureMismatch,
    /// Several weight files and no `model.safetensors.index.json` to tie them together.
    MissingIndex,
    /// A `.safetensors` file in the folder that the index does not name.
    UnindexedWeights,
    /// The context field is present but not a number.
    UnreadableContext,
    /// The folder holds more than Ferry judges within its memory bounds (header bytes,
    /// tensors, index entries): refused, since it cannot be judged.
    LimitExceeded,
    /// A weight file whose name is not UTF-8: it cannot become an S3 key.
    InvalidFileName,
    /// The context field is zero or negative: no model server can size a context from it.
    InvalidContext,
}

impl Code {
    /// The severity every finding of this code has.
    pub fn severity(self) -> Severity {
        match self {
            Code::MissingConfig
            | Code::UnsupportedArchitecture
            | Code::MissingTokenizer
            | Code::MissingWeights
            | Code::IncompleteShards
            | Code::InvalidSafetensors
            | Code::TooLarge
            | Code::ContextTooLong
            | Code::InvalidSourceUri
            | Code::UnsupportedRegion
            | Code::LimitExceeded
            | Code::InvalidFileName => Severity::Error,
            Code::UnusualDtype
            | Code::UnexpectedFile
            | Code::ArchitectureMismatch
            | Code::MissingIndex
            | Code::UnindexedWeights
            | Code::UnreadableContext
            | Code::InvalidContext => Severity::Warning,
        }
    }

    /// The code as it appears in reports (`incomplete-shards`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingConfig => "missing-config",
            Code::UnsupportedArchitecture => "unsupported-architecture",
            Code::MissingTokenizer => "missing-tokenizer",
            Code::MissingWeights => "missing-weights",
            Code::IncompleteShards => "incomplete-shards",
            Code::InvalidSafetensors => "invalid-safetensors",
            Code::TooLarge => "too-large",
            Code::ContextTooLong => "context-too-long",
            Code::InvalidSourceUri => "invalid-source-uri",
            Code::UnsupportedRegion => "unsupported-region",
            Code::UnusualDtype => "unusual-dtype",
            Code::UnexpectedFile => "unexpected-file",
            Code::ArchitectureMismatch => "architecture-mismatch",
            Code::MissingIndex => "missing-index",
            Code::UnindexedWeights => "unindexed-weights",
            Code::UnreadableContext => "unreadable-context",
            Code::LimitExceeded => "limit-exceeded",
            Code::InvalidFileName => "invalid-file-name",
            Code::InvalidContext => "invalid-context",
        }
    }
}

/// One problem or doubt about the folder, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What kind of problem (kebab-case in JSON: `incomplete-shards`).
    pub code: Code,
    /// The code's severity, written out so that tools need not know every code.
    pub severity: Severity,
    /// The file concerned, relative to the folder; `null` for the folder as a whole.
    pub file: Option<String>,
    /// What is wrong and, where Ferry knows, what to do; at most 1,000 characters.
    pub message: String,
}

/// The longest message a finding keeps: every echoed value in it is already shortened
/// to [`crate::text::ECHO_MAX_CHARS`]; this bounds the sentence around them too.
pub(crate) const MAX_MESSAGE_CHARS: usize = 1_000;
/// The longest file name a finding keeps: S3's key limit (1,024 bytes), so a real key is
/// never shortened.
pub(crate) const MAX_FILE_CHARS: usize = 1_024;

impl Finding {
    /// A finding whose file name and message are shortened as every echoed value is,
    /// so that no folder can make a report large.
    pub fn new(code: Code, file: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match crate::text::truncate(&message, MAX_MESSAGE_CHARS) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(short) => short,
        };
        Self {
            code,
            severity: code.severity(),
            // Kept whole up to S3's own key limit, so tools can match it to the folder.
            file: file.map(|f| crate::text::truncate(f, MAX_FILE_CHARS).into_owned()),
            message,
        }
    }
}

/// The JSON report (`ferry validate --format json`). Fields after `findings` are
/// Ferry's optional additions to the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True exactly when no finding has severity `error`.
    pub ok: bool,
    /// The folder as the source names it: a local path or `s3://bucket/prefix/`.
    pub source: String,
    /// The class from `config.json`'s `architectures`: the supported one when one is
    /// listed, else the first; `None` without a config or an `architectures` list.
    pub architecture: Option<String>,
    /// `config.json`'s `model_type`, when it is a string.
    pub model_type: Option<String>,
    /// Files in the folder, every one at any depth.
    pub files: usize,
    /// Sum of the top-level `.safetensors` files' sizes, in bytes: what the size limit
    /// is judged on.
    pub total_bytes: u64,
    /// Bytes read from the source to judge the folder, all files included.
    pub bytes_read: u64,
    /// Every finding, in the order found; past
    /// [`MAX_FINDINGS_PER_CODE`](crate::validate::MAX_FINDINGS_PER_CODE) of one code,
    /// a last finding of that code counts the rest.
    pub findings: Vec<Finding>,
    /// The supported family (`"Qwen3"`), when the architecture is one.
    #[serde(default)]
    pub family: Option<String>,
    /// Whether the supported class is multimodal (the 100 GB limit applies).
    #[serde(default)]
    pub multimodal: bool,
    /// The context length the config declares (`max_position_embeddings`, or
    /// `text_config.max_position_embeddings`, or `n_positions`).
    #[serde(default)]
    pub context_length: Option<u64>,
    /// Number of top-level `.safetensors` files.
    #[serde(default)]
    pub weight_files: usize,
}

impl Report {
    /// Number of findings of severity `error`.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of findings of severity `warning`.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether any finding has this code.
    pub fn has(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_the_contract_spells_them() {
        let all = [
            Code::MissingConfig,
            Code::UnsupportedArchitecture,
            Code::MissingTokenizer,
            Code::MissingWeights,
            Code::IncompleteShards,
            Code::InvalidSafetensors,
            Code::TooLarge,
            Code::ContextTooLong,
            Code::InvalidSourceUri,
            Code::UnsupportedRegion,
            Code::UnusualDtype,
            Code::UnexpectedFile,
            Code::ArchitectureMismatch,
            Code::MissingIndex,
            Code::UnindexedWeights,
            Code::UnreadableContext,
            Code::LimitExceeded,
            Code::InvalidFileName,
            Code::InvalidContext,
        ];
        for code in all {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let finding = Finding::new(Code::TooLarge, None, "m");
        assert_eq!(
            serde_json::to_value(&finding).unwrap(),
            serde_json::json!({"code": "too-large", "severity": "error", "file": null, "message": "m"})
        );
        assert_eq!(Code::UnexpectedFile.severity(), Severity::Warning);
    }

    #[test]
    fn findings_shorten_what_they_echo() {
        let long = "é".repeat(100_000);
        let f = Finding::new(Code::InvalidSafetensors, Some(&long), long.clone());
        assert_eq!(
            f.file.as_deref().map(|f| f.chars().count()),
            Some(MAX_FILE_CHARS)
        );
        // S3's longest key is kept whole, so tools can match it to the folder.
        let key = "k".repeat(1024);
        let kept = Finding::new(Code::InvalidSafetensors, Some(&key), "m");
        assert_eq!(kept.file.as_deref(), Some(key.as_str()));
        assert_eq!(f.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(f.message.ends_with('…'));
    }
}
