//! The validation report of `../shared/specs/validate.md`: findings and their codes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Every finding code. The contract's codes keep their meaning; Ferry's additions are
/// warnings, except `unsupported-region`, `limit-exceeded`, `invalid-file-name` and
/// `invalid-context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    MissingConfig,
    UnsupportedArchitecture,
    MissingTokenizer,
    MissingWeights,
    IncompleteShards,
    InvalidSafetensors,
    TooLarge,
    ContextTooLong,
    InvalidSourceUri,
    /// The family is imported only in other regions (GPT-OSS: us-east-1); reported
    /// when the region is known.
    UnsupportedRegion,
    UnusualDtype,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// The file concerned, relative to the folder; `null` for the folder as a whole.
    pub file: Option<String>,
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
    pub ok: bool,
    pub source: String,
    pub architecture: Option<String>,
    pub model_type: Option<String>,
    pub files: usize,
    pub total_bytes: u64,
    pub bytes_read: u64,
    pub findings: Vec<Finding>,
    /// The supported family (`"Qwen3"`), when the architecture is one.
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub multimodal: bool,
    /// The context length and the config field it came from.
    #[serde(default)]
    pub context_length: Option<u64>,
    #[serde(default)]
    pub weight_files: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

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
