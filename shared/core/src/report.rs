//! The validation report of `../shared/specs/validate.md`: findings and their codes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Every finding code. The contract's codes keep their meaning; Ferry's additions are
/// warnings only, so they never change `ok` or the exit status.
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
            | Code::UnsupportedRegion => Severity::Error,
            Code::UnusualDtype
            | Code::UnexpectedFile
            | Code::ArchitectureMismatch
            | Code::MissingIndex
            | Code::UnindexedWeights
            | Code::UnreadableContext => Severity::Warning,
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

impl Finding {
    pub fn new(code: Code, file: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            file: file.map(str::to_owned),
            message: message.into(),
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
}
