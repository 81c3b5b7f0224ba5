//! Which request format the smoke prompt uses for an imported model, and its body.
//!
//! Why this choice (see `docs/bedrock-after-import.md`, "Request format"): the
//! family-native BedrockCompletion body (`prompt` with `max_gen_len` or `max_tokens`) is
//! the only one documented for imports of every date, but its token-limit field is
//! documented for Llama and Mistral only, and Bedrock ignores fields a family does not
//! know, so a wrong limit field means no limit at all. For other families, imports
//! after 11 November 2025 accept OpenAIChatCompletion, whose `max_tokens` is one field
//! for every model; older imports of those families have no documented body.

use serde::Serialize;
use serde_json::json;

/// Imports created at or after this instant (2025-11-12T00:00:00Z, seconds since the
/// epoch) accept the OpenAI-compatible formats: AWS says "imported after November 11,
/// 2025", so the 11th itself is treated as before.
pub const OPENAI_FORMATS_SINCE: u64 = 1_762_905_600;

/// The model families whose native request fields differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Family {
    /// Llama 2/3/3.x and Mllama: `prompt`, `max_gen_len`; answer in `generation`.
    Llama,
    /// Mistral and Mixtral: `prompt`, `max_tokens`; answer in `outputs[0].text`.
    Mistral,
    /// GPT-OSS (chat-only prompting; its generation_config matters at invocation).
    GptOss,
    /// Qwen, Flan-T5, GPTBigCode, or an architecture Ferry does not recognise.
    Other,
}

impl Family {
    /// The family of GetImportedModel's `modelArchitecture`. AWS documents the field only
    /// as a string (values NOT FOUND), so this matches loosely: case, `_` and `-` are
    /// ignored, and a class name (`LlamaForCausalLM`) or a family name (`llama`) match.
    pub fn of(architecture: Option<&str>) -> Family {
        let Some(architecture) = architecture else {
            return Family::Other;
        };
        let plain: String = architecture
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if plain.contains("gptoss") {
            Family::GptOss
        } else if plain.contains("mistral") || plain.contains("mixtral") {
            Family::Mistral
        } else if plain.contains("llama") {
            Family::Llama
        } else {
            Family::Other
        }
    }
}

/// The request shape sent to InvokeModel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RequestFormat {
    /// `{"prompt", "max_gen_len"}`: Meta Llama's native body.
    BedrockCompletionMaxGenLen,
    /// `{"prompt", "max_tokens"}`: Mistral's native body.
    BedrockCompletionMaxTokens,
    /// `{"messages": [{"role": "user", ...}], "max_tokens"}`: OpenAI Chat schema.
    OpenAiChatCompletion,
}

impl RequestFormat {
    const ALL: [Self; 3] = [
        Self::BedrockCompletionMaxGenLen,
        Self::BedrockCompletionMaxTokens,
        Self::OpenAiChatCompletion,
    ];

    /// The format's name, as configured and recorded (`BedrockCompletionMaxGenLen`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BedrockCompletionMaxGenLen => "BedrockCompletionMaxGenLen",
            Self::BedrockCompletionMaxTokens => "BedrockCompletionMaxTokens",
            Self::OpenAiChatCompletion => "OpenAiChatCompletion",
        }
    }

    /// The format named `name` (see [`RequestFormat::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The format chosen for a model, and whether AWS documents it for that model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FormatChoice {
    /// The format to send.
    pub format: RequestFormat,
    /// `false` when no documented body exists for this model (an import before
    /// 11 November 2025 of a family other than Llama and Mistral): a refusal then
    /// points at the format rather than at the model.
    pub documented: bool,
}

/// The request format for a model of `architecture` imported at `imported_at`
/// (seconds since the epoch); `preferred` (configuration) wins when given.
pub fn choose_format(
    architecture: Option<&str>,
    imported_at: u64,
    preferred: Option<RequestFormat>,
) -> FormatChoice {
    if let Some(format) = preferred {
        return FormatChoice {
            format,
            documented: true,
        };
    }
    let new_formats = imported_at >= OPENAI_FORMATS_SINCE;
    let (format, documented) = match Family::of(architecture) {
        Family::Llama => (RequestFormat::BedrockCompletionMaxGenLen, true),
        Family::Mistral => (RequestFormat::BedrockCompletionMaxTokens, true),
        Family::GptOss | Family::Other if new_formats => {
            (RequestFormat::OpenAiChatCompletion, true)
        }
        // Nothing documented: the `prompt` body public samples send to imported ARNs.
        Family::GptOss | Family::Other => (RequestFormat::BedrockCompletionMaxGenLen, false),
    };
    FormatChoice { format, documented }
}

/// The smoke request's JSON body: `prompt` asked with at most `max_tokens` tokens,
/// temperature 0 so that repeated smoke tests ask the same thing.
pub fn smoke_body(format: RequestFormat, prompt: &str, max_tokens: u32) -> Vec<u8> {
    let body = match format {
        RequestFormat::BedrockCompletionMaxGenLen => {
            json!({"prompt": prompt, "max_gen_len": max_tokens, "temperature": 0.0})
        }
        RequestFormat::BedrockCompletionMaxTokens => {
            json!({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0})
        }
        RequestFormat::OpenAiChatCompletion => json!({
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
        }),
    };
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const OLD: u64 = OPENAI_FORMATS_SINCE - 1;
    const NEW: u64 = OPENAI_FORMATS_SINCE;

    #[test]
    fn families_match_class_and_family_names_loosely() {
        for (architecture, family) in [
            ("LlamaForCausalLM", Family::Llama),
            ("llama", Family::Llama),
            ("MllamaForConditionalGeneration", Family::Llama),
            ("MistralForCausalLM", Family::Mistral),
            ("MIXTRAL", Family::Mistral),
            ("GptOssForCausalLM", Family::GptOss),
            ("gpt_oss", Family::GptOss),
            ("gpt-oss", Family::GptOss),
            ("Qwen3ForCausalLM", Family::Other),
            ("T5ForConditionalGeneration", Family::Other),
            ("", Family::Other),
        ] {
            assert_eq!(Family::of(Some(architecture)), family, "{architecture}");
        }
        assert_eq!(Family::of(None), Family::Other);
    }

    #[test]
    fn llama_and_mistral_use_their_native_body_whatever_the_date() {
        for at in [OLD, NEW] {
            let llama = choose_format(Some("LlamaForCausalLM"), at, None);
            assert_eq!(llama.format, RequestFormat::BedrockCompletionMaxGenLen);
            let mistral = choose_format(Some("MistralForCausalLM"), at, None);
            assert_eq!(mistral.format, RequestFormat::BedrockCompletionMaxTokens);
            assert!(llama.documented && mistral.documented);
        }
    }

    #[test]
    fn other_families_use_chat_after_the_cut_off_and_are_undocumented_before() {
        for architecture in [Some("Qwen2ForCausalLM"), Some("GptOssForCausalLM"), None] {
            let new = choose_format(architecture, NEW, None);
            assert_eq!(new.format, RequestFormat::OpenAiChatCompletion);
            assert!(new.documented);
            let old = choose_format(architecture, OLD, None);
            assert_eq!(old.format, RequestFormat::BedrockCompletionMaxGenLen);
            assert!(!old.documented);
        }
    }

    #[test]
    fn configuration_overrides_the_rule() {
        let chosen = choose_format(
            Some("LlamaForCausalLM"),
            NEW,
            Some(RequestFormat::OpenAiChatCompletion),
        );
        assert_eq!(chosen.format, RequestFormat::OpenAiChatCompletion);
    }

    #[test]
    fn bodies_carry_the_prompt_and_the_limit_in_the_family_field() {
        let parse = |format| -> Value {
            serde_json::from_slice(&smoke_body(format, "say \"ready\"\n", 16)).unwrap()
        };
        let llama = parse(RequestFormat::BedrockCompletionMaxGenLen);
        assert_eq!(llama["prompt"], "say \"ready\"\n");
        assert_eq!(llama["max_gen_len"], 16);
        assert!(llama.get("max_tokens").is_none());
        let mistral = parse(RequestFormat::BedrockCompletionMaxTokens);
        assert_eq!(mistral["max_tokens"], 16);
        assert!(mistral.get("max_gen_len").is_none());
        let chat = parse(RequestFormat::OpenAiChatCompletion);
        assert_eq!(chat["messages"][0]["role"], "user");
        assert_eq!(chat["messages"][0]["content"], "say \"ready\"\n");
        assert_eq!(chat["max_tokens"], 16);
        assert!(chat.get("prompt").is_none());
        assert_eq!(chat["temperature"], 0.0);
    }
}
