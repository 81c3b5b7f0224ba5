//! What one smoke attempt means: the model answered, it is still warming, the runtime
//! is busy, or the test failed (with what was sent, what came back, what to do).

use serde::Serialize;

use super::answer::{read_answer, Answer};
use super::ports::{InvokeError, InvokeErrorKind, InvokeReply};
use super::request::{choose_format, smoke_body, Family, FormatChoice, RequestFormat};
use super::SmokeConfig;
use crate::text;

/// The smoke request for one model: where it goes and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeRequest {
    /// The imported model's ARN (InvokeModel's `modelId`).
    pub model_arn: String,
    /// The model's family, for the diagnosis.
    pub family: Family,
    /// The format and whether it is documented for this model.
    pub choice: FormatChoice,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl SmokeRequest {
    /// The request for a model with GetImportedModel's `modelArchitecture`, created at
    /// `imported_at` (seconds since the epoch).
    pub fn new(
        model_arn: &str,
        architecture: Option<&str>,
        imported_at: u64,
        config: &SmokeConfig,
    ) -> Self {
        let choice = choose_format(architecture, imported_at, config.format);
        Self {
            model_arn: model_arn.to_owned(),
            family: Family::of(architecture),
            choice,
            body: smoke_body(choice.format, &config.prompt, config.max_tokens),
        }
    }
}

/// The times an attempt is judged at, all in seconds since the epoch but the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptTimes {
    /// When the import job ended.
    pub job_ended_at: u64,
    /// When this attempt was made.
    pub now: u64,
    /// How long after the job's end attempts may go on ([`SmokeConfig::deadline_secs`]).
    pub deadline_secs: u64,
}

impl AttemptTimes {
    fn retry_until(&self) -> u64 {
        self.job_ended_at.saturating_add(self.deadline_secs)
    }
    fn expired(&self) -> bool {
        self.now >= self.retry_until()
    }
}

/// What one attempt means for the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SmokeOutcome {
    /// The model answered.
    Passed(SmokePass),
    /// `ModelNotReadyException`: the model is being restored; try on a later sweep.
    Warming {
        /// Give up after this instant (seconds since the epoch).
        retry_until: u64,
    },
    /// The runtime was busy or failed for reasons not the model's; try on a later sweep.
    RetryLater {
        /// Give up after this instant.
        retry_until: u64,
        /// What happened, echo-safe.
        reason: String,
    },
    /// The smoke test failed: alert.
    Failed(SmokeFailure),
}

/// A model that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmokePass {
    /// The start of the answer.
    pub answer: Answer,
    /// How long the answering call took, as the caller measured it.
    pub latency_ms: u64,
    /// Seconds from the job's end to this answer.
    pub secs_since_job_end: u64,
    /// HTTP attempts of the answering call (SDK retries included).
    pub sdk_attempts: u32,
}

/// Why a smoke test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailureCause {
    /// Still `ModelNotReadyException` at the deadline.
    NeverReady,
    /// Throttled, unavailable or timing out until the deadline.
    GaveUp,
    /// `AccessDeniedException`.
    AccessDenied,
    /// `ValidationException`: the body was refused.
    Refused,
    /// `ModelErrorException`: the model's server failed.
    ModelError,
    /// `ResourceNotFoundException`.
    NotFound,
    /// The answer had no text in any documented shape.
    UnreadableAnswer,
    /// The model stopped at once with no text.
    EmptyAnswer,
    /// Any other error.
    Other,
}

/// A failed smoke test, as the alert tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmokeFailure {
    /// The kind of failure.
    pub cause: FailureCause,
    /// The request body, echo-safe.
    pub sent: String,
    /// The error or the start of the answer, echo-safe.
    pub came_back: String,
    /// What a person should do next.
    pub next_step: String,
}

/// Judges one attempt: `result` of InvokeModel with `request`, `latency_ms` measured by
/// the caller, at `times`; keeps `answer_chars` characters of the answer.
pub fn judge_attempt(
    request: &SmokeRequest,
    result: Result<InvokeReply, InvokeError>,
    latency_ms: u64,
    times: AttemptTimes,
    answer_chars: usize,
) -> SmokeOutcome {
    match result {
        Ok(reply) => judge_reply(request, &reply, latency_ms, times, answer_chars),
        Err(error) => judge_error(request, &error, times),
    }
}

fn judge_reply(
    request: &SmokeRequest,
    reply: &InvokeReply,
    latency_ms: u64,
    times: AttemptTimes,
    answer_chars: usize,
) -> SmokeOutcome {
    let answer = match read_answer(&reply.body, answer_chars) {
        Ok(answer) => answer,
        Err(error) => {
            return failed(
                request,
                FailureCause::UnreadableAnswer,
                error.to_string(),
                "Ferry could not find the answer's text: invoke the model by hand with the \
                 body above and compare the response with the formats in \
                 docs/bedrock-after-import.md; set the tracker's smoke request format if \
                 the model's callers use another one"
                    .into(),
            )
        }
    };
    // Tokens spent at the limit count as an answer (a reasoning model may spend them
    // all before any text); stopping at once with nothing says the model cannot talk.
    if answer.empty && !answer.hit_token_limit() {
        return failed(
            request,
            FailureCause::EmptyAnswer,
            format!(
                "an empty answer at {} (stop reason {})",
                answer.shape.path(),
                answer.stop_reason.as_deref().unwrap_or("none")
            ),
            empty_answer_step(),
        );
    }
    SmokeOutcome::Passed(SmokePass {
        answer,
        latency_ms,
        secs_since_job_end: times.now.saturating_sub(times.job_ended_at),
        sdk_attempts: reply.attempts,
    })
}

fn judge_error(request: &SmokeRequest, error: &InvokeError, times: AttemptTimes) -> SmokeOutcome {
    let came_back = format!("{:?}: {}", error.kind, text::display(&error.message));
    let waiting = match error.kind {
        InvokeErrorKind::NotReady => Some(FailureCause::NeverReady),
        InvokeErrorKind::Throttled
        | InvokeErrorKind::Unavailable
        | InvokeErrorKind::ModelTimeout => Some(FailureCause::GaveUp),
        _ => None,
    };
    if let Some(cause) = waiting {
        if !times.expired() {
            return match cause {
                FailureCause::NeverReady => SmokeOutcome::Warming {
                    retry_until: times.retry_until(),
                },
                _ => SmokeOutcome::RetryLater {
                    retry_until: times.retry_until(),
                    reason: came_back,
                },
            };
        }
        let waited = times.now.saturating_sub(times.job_ended_at);
        return failed(request, cause, came_back, gave_up_step(cause, waited));
    }
    let (cause, next_step) = match error.kind {
        InvokeErrorKind::AccessDenied => (FailureCause::AccessDenied, access_step(request)),
        InvokeErrorKind::Validation => (FailureCause::Refused, refused_step(request)),
        InvokeErrorKind::ModelError { original_status } => (
            FailureCause::ModelError,
            model_error_step(request.family, original_status),
        ),
        InvokeErrorKind::NotFound => (
            FailureCause::NotFound,
            "the imported model does not exist any more (deleted by cleanup or by hand?) \
             or the ledger holds a wrong ARN: check `ferry status` and ListImportedModels"
                .to_owned(),
        ),
        _ => (
            FailureCause::Other,
            "an error Ferry does not classify: invoke the model by hand with the body \
             above to see whether it persists"
                .to_owned(),
        ),
    };
    failed(request, cause, came_back, next_step)
}

fn failed(
    request: &SmokeRequest,
    cause: FailureCause,
    came_back: String,
    next_step: String,
) -> SmokeOutcome {
    SmokeOutcome::Failed(SmokeFailure {
        cause,
        sent: text::display(&String::from_utf8_lossy(&request.body)),
        came_back: text::escape_controls(&text::truncate(&came_back, 1_000)).into_owned(),
        next_step,
    })
}

fn gave_up_step(cause: FailureCause, waited_secs: u64) -> String {
    let minutes = waited_secs / 60;
    if cause == FailureCause::NeverReady {
        format!(
            "the model was still not ready {minutes} minutes after its import ended; AWS \
             documents restores of about 5 minutes and no upper bound: invoke it by hand \
             (aws bedrock-runtime invoke-model) and open a support case if it stays not \
             ready. The model stays imported."
        )
    } else {
        format!(
            "Bedrock's runtime kept refusing or timing out for {minutes} minutes after the \
             import ended: check the account's InvokeModel quotas and the AWS Health \
             Dashboard, then invoke the model by hand"
        )
    }
}

/// `arn:aws:bedrock:REGION:ACCOUNT:imported-model/*` for the model's account.
fn imported_models_of_account(model_arn: &str) -> String {
    match model_arn.split_once(":imported-model/") {
        Some((prefix, _)) => format!("{}:imported-model/*", text::display(prefix)),
        None => "arn:aws:bedrock:REGION:ACCOUNT:imported-model/*".to_owned(),
    }
}

fn access_step(request: &SmokeRequest) -> String {
    format!(
        "the tracker role needs bedrock:InvokeModel on {} (the imported models of its own \
         account): add it to the tracker's policy in the hosting stack",
        imported_models_of_account(&request.model_arn)
    )
}

fn refused_step(request: &SmokeRequest) -> String {
    let format_advice = if !request.choice.documented {
        "AWS documents no request body for this architecture when imported before \
         11 November 2025: set the tracker's smoke request format to the one the model's \
         callers use (BedrockCompletionMaxGenLen, BedrockCompletionMaxTokens or \
         OpenAiChatCompletion)"
    } else if request.choice.format == RequestFormat::OpenAiChatCompletion {
        "the chat format needs the model's chat template (chat_template.jinja, or \
         chat_template in tokenizer_config.json): add it and import again, or set the \
         tracker's smoke request format to a BedrockCompletion one"
    } else {
        "check the model's architecture in config.json against the family Ferry chose, or \
         set the tracker's smoke request format"
    };
    // Which error an old GPT-OSS generation_config.json gives is not documented.
    if request.family == Family::GptOss {
        return format!("{GPT_OSS_FIX}. If the folder has that file: {format_advice}");
    }
    format!("Bedrock refused the request body: {format_advice}")
}

const GPT_OSS_FIX: &str = "GPT-OSS imports need the updated generation_config.json, whose \
     eos_token_id is [200002, 199999, 200012]; an older file fails at invocation, not at \
     import: replace generation_config.json in the model folder and upload it again (a new \
     import)";

fn model_error_step(family: Family, original_status: Option<u16>) -> String {
    if family == Family::GptOss {
        return GPT_OSS_FIX.to_owned();
    }
    let status = original_status.map_or_else(String::new, |s| format!(" (status {s})"));
    format!(
        "the model's server failed{status}: compare config.json, generation_config.json and \
         the tokenizer files with the base model's, then upload the fixed folder again"
    )
}

fn empty_answer_step() -> String {
    "the model stopped at once without text: check the end-of-sequence ids in \
     generation_config.json and the tokenizer files against the base model's"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::request::OPENAI_FORMATS_SINCE;

    const ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdef123456";
    const ENDED: u64 = 1_800_000_000;

    fn request(architecture: &str) -> SmokeRequest {
        SmokeRequest::new(
            ARN,
            Some(architecture),
            OPENAI_FORMATS_SINCE + 10,
            &SmokeConfig::default(),
        )
    }

    fn at(secs_after_end: u64) -> AttemptTimes {
        AttemptTimes {
            job_ended_at: ENDED,
            now: ENDED + secs_after_end,
            deadline_secs: 900,
        }
    }

    fn answered(body: &str) -> Result<InvokeReply, InvokeError> {
        Ok(InvokeReply {
            body: body.as_bytes().to_vec(),
            attempts: 2,
            latency_ms: 840,
        })
    }

    fn error(kind: InvokeErrorKind, message: &str) -> Result<InvokeReply, InvokeError> {
        Err(InvokeError::new(kind, message, 3))
    }

    fn failure(outcome: SmokeOutcome) -> SmokeFailure {
        match outcome {
            SmokeOutcome::Failed(failure) => failure,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    const NOT_READY: &str = "Model is not ready for inference. Wait and try your request again.";

    #[test]
    fn an_answer_passes_with_its_latency_time_since_the_job_and_attempts() {
        let outcome = judge_attempt(
            &request("LlamaForCausalLM"),
            answered(r#"{"generation":" ready","stop_reason":"stop"}"#),
            840,
            at(125),
            200,
        );
        let SmokeOutcome::Passed(pass) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(pass.answer.text, " ready");
        assert_eq!((pass.latency_ms, pass.secs_since_job_end), (840, 125));
        assert_eq!(pass.sdk_attempts, 2);
    }

    #[test]
    fn not_ready_is_warming_until_the_deadline_then_a_failure() {
        let llama = request("LlamaForCausalLM");
        let warming = judge_attempt(
            &llama,
            error(InvokeErrorKind::NotReady, NOT_READY),
            0,
            at(60),
            200,
        );
        assert_eq!(
            warming,
            SmokeOutcome::Warming {
                retry_until: ENDED + 900
            }
        );
        let late = failure(judge_attempt(
            &llama,
            error(InvokeErrorKind::NotReady, NOT_READY),
            0,
            at(900),
            200,
        ));
        assert_eq!(late.cause, FailureCause::NeverReady);
        assert!(late.next_step.contains("15 minutes"), "{}", late.next_step);
        assert!(late.came_back.contains("not ready"));
        assert!(late.sent.contains("max_gen_len"));
    }

    #[test]
    fn busy_runtime_is_retried_later_until_the_deadline() {
        for kind in [
            InvokeErrorKind::Throttled,
            InvokeErrorKind::Unavailable,
            InvokeErrorKind::ModelTimeout,
        ] {
            let early = judge_attempt(&request("llama"), error(kind, "slow down"), 0, at(10), 200);
            assert!(
                matches!(early, SmokeOutcome::RetryLater { retry_until, .. } if retry_until == ENDED + 900),
                "{early:?}"
            );
            let late = failure(judge_attempt(
                &request("llama"),
                error(kind, "slow down"),
                0,
                at(2_000),
                200,
            ));
            assert_eq!(late.cause, FailureCause::GaveUp);
        }
    }

    #[test]
    fn access_denied_names_the_action_and_the_accounts_imported_models() {
        let denied = failure(judge_attempt(
            &request("llama"),
            error(InvokeErrorKind::AccessDenied, "not authorized"),
            0,
            at(10),
            200,
        ));
        assert_eq!(denied.cause, FailureCause::AccessDenied);
        assert!(denied.next_step.contains(
            "bedrock:InvokeModel on arn:aws:bedrock:us-east-1:777788889999:imported-model/*"
        ));
    }

    #[test]
    fn gpt_oss_failing_at_invoke_names_the_generation_config_fix() {
        let gpt = request("GptOssForCausalLM");
        for kind in [
            InvokeErrorKind::ModelError {
                original_status: Some(500),
            },
            InvokeErrorKind::Validation,
        ] {
            let failed = failure(judge_attempt(&gpt, error(kind, "boom"), 0, at(10), 200));
            assert!(
                failed.next_step.contains("[200002, 199999, 200012]"),
                "{}",
                failed.next_step
            );
            assert!(failed.sent.contains("messages"), "{}", failed.sent);
        }
        let other = failure(judge_attempt(
            &request("Qwen2ForCausalLM"),
            error(
                InvokeErrorKind::ModelError {
                    original_status: Some(424),
                },
                "boom",
            ),
            0,
            at(10),
            200,
        ));
        assert_eq!(other.cause, FailureCause::ModelError);
        assert!(other.next_step.contains("status 424"));
        assert!(!other.next_step.contains("200002"));
    }

    #[test]
    fn a_refused_body_points_at_the_format() {
        let chat = failure(judge_attempt(
            &request("Qwen3ForCausalLM"),
            error(InvokeErrorKind::Validation, "Malformed input request"),
            0,
            at(10),
            200,
        ));
        assert_eq!(chat.cause, FailureCause::Refused);
        assert!(chat.next_step.contains("chat template"));
        let old = SmokeRequest::new(
            ARN,
            Some("Qwen2ForCausalLM"),
            1_700_000_000,
            &SmokeConfig::default(),
        );
        let undocumented = failure(judge_attempt(
            &old,
            error(InvokeErrorKind::Validation, "x"),
            0,
            at(10),
            200,
        ));
        assert!(undocumented.next_step.contains("documents no request body"));
    }

    #[test]
    fn missing_model_and_unknown_errors_fail() {
        let gone = failure(judge_attempt(
            &request("llama"),
            error(InvokeErrorKind::NotFound, "gone"),
            0,
            at(1),
            200,
        ));
        assert_eq!(gone.cause, FailureCause::NotFound);
        let odd = failure(judge_attempt(
            &request("llama"),
            error(InvokeErrorKind::Other, "odd\n"),
            0,
            at(1),
            200,
        ));
        assert_eq!(odd.cause, FailureCause::Other);
        assert!(odd.came_back.contains("odd\\n"), "{}", odd.came_back);
    }

    #[test]
    fn unreadable_and_empty_answers_fail_but_a_spent_limit_passes() {
        let unreadable = failure(judge_attempt(
            &request("llama"),
            answered(r#"{"completion":"x"}"#),
            5,
            at(1),
            200,
        ));
        assert_eq!(unreadable.cause, FailureCause::UnreadableAnswer);
        assert!(unreadable.came_back.contains("generation"));
        let empty = failure(judge_attempt(
            &request("llama"),
            answered(r#"{"generation":"","stop_reason":"stop"}"#),
            5,
            at(1),
            200,
        ));
        assert_eq!(empty.cause, FailureCause::EmptyAnswer);
        let spent = judge_attempt(
            &request("GptOssForCausalLM"),
            answered(r#"{"choices":[{"message":{"content":""},"finish_reason":"length"}]}"#),
            5,
            at(1),
            200,
        );
        assert!(matches!(spent, SmokeOutcome::Passed(_)), "{spent:?}");
    }

    #[test]
    fn a_hostile_arn_and_prompt_are_echoed_safely() {
        let config = SmokeConfig {
            prompt: format!("\u{1b}[2J{}", "p".repeat(1_000)),
            ..SmokeConfig::default()
        };
        let hostile = SmokeRequest::new("arn:\n:imported-model/x", Some("llama"), 0, &config);
        let denied = failure(judge_attempt(
            &hostile,
            error(InvokeErrorKind::AccessDenied, "no"),
            0,
            at(1),
            200,
        ));
        assert!(!denied.sent.chars().any(crate::text::is_unsafe_for_terminal));
        assert!(denied.sent.chars().count() <= 300);
        assert!(
            denied.next_step.contains("arn:\\n:imported-model/*"),
            "{}",
            denied.next_step
        );
    }
}
