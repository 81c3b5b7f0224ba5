//! The smoke test of a freshly imported model: one small InvokeModel call that proves
//! the model answers. Which body to send ([`request`]), how to read the answer
//! ([`answer`]), and what one attempt means ([`outcome`]: passed, still warming, try
//! later, or failed with what to do). Pure: the tracker supplies the times and makes
//! the call through the [`ports::InvokeModel`] port.

pub mod answer;
pub mod outcome;
pub mod ports;
pub mod request;

pub use answer::{read_answer, Answer, AnswerError, Shape};
pub use outcome::{
    judge_attempt, AttemptTimes, FailureCause, SmokeFailure, SmokeOutcome, SmokePass, SmokeRequest,
};
pub use ports::{InvokeError, InvokeErrorKind, InvokeModel, InvokeReply};
pub use request::{choose_format, smoke_body, Family, FormatChoice, RequestFormat};

/// How the tracker smoke-tests a model. The defaults keep one test to a few tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeConfig {
    /// The prompt sent to every model; short, with an answer that is easy to see.
    pub prompt: String,
    /// The most tokens the model may generate.
    pub max_tokens: u32,
    /// How long after its import job ended a model may stay not ready before the
    /// smoke test fails. Ferry's choice: AWS documents restores of about 5 minutes
    /// and no upper bound.
    pub deadline_secs: u64,
    /// How many characters of the answer are kept for the ledger and alerts.
    pub answer_chars: usize,
    /// A request format that overrides the rule of [`choose_format`].
    pub format: Option<RequestFormat>,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        Self {
            prompt: "Reply with the single word: ready".into(),
            max_tokens: 16,
            deadline_secs: 15 * 60,
            answer_chars: 200,
            format: None,
        }
    }
}

/// A smoke configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("smoke test configuration: {0}")]
pub struct SmokeConfigError(pub String);

impl SmokeConfig {
    /// Refuses an empty prompt, a token limit of 0 or above 4096 (a smoke test is
    /// billed like any call), and a deadline of 0.
    pub fn check(&self) -> Result<(), SmokeConfigError> {
        if self.prompt.trim().is_empty() {
            return Err(SmokeConfigError("the prompt is empty".into()));
        }
        if !(1..=4096).contains(&self.max_tokens) {
            return Err(SmokeConfigError(format!(
                "max_tokens {} is not between 1 and 4096",
                self.max_tokens
            )));
        }
        if self.deadline_secs == 0 {
            return Err(SmokeConfigError("the deadline is 0 seconds".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_small_and_valid() {
        let config = SmokeConfig::default();
        assert!(config.check().is_ok());
        assert!(config.max_tokens <= 16);
        for broken in [
            SmokeConfig {
                prompt: " ".into(),
                ..SmokeConfig::default()
            },
            SmokeConfig {
                max_tokens: 0,
                ..SmokeConfig::default()
            },
            SmokeConfig {
                deadline_secs: 0,
                ..SmokeConfig::default()
            },
        ] {
            assert!(broken.check().is_err(), "{broken:?}");
        }
    }
}
