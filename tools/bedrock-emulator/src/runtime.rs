//! bedrock-runtime's InvokeModel for imported models: the answer a model gives to each
//! request format Ferry's smoke test sends, in the documented response shapes, and the
//! errors of a model that is not ready or broken.

use serde_json::{json, Value};

use crate::wire::ApiError;

/// What every model says, cut to the request's token limit (one word, one token).
const REPLY: [&str; 8] = [
    "ready,",
    "and",
    "answering",
    "from",
    "the",
    "Ferry",
    "Bedrock",
    "emulator.",
];

/// The runtime's message while a model is restored (re:Post Knowledge Center).
pub const NOT_READY_MESSAGE: &str =
    "Model is not ready for inference. Wait and try your request again.";

pub fn not_ready() -> ApiError {
    ApiError::new(429, "ModelNotReadyException", NOT_READY_MESSAGE)
}

/// A model whose server fails at every call, as a GPT-OSS import with an old
/// generation_config.json does. AWS's exact error for that case is not documented; the
/// emulator answers ModelErrorException (HTTP 424) with the model server's status 500.
pub fn broken(model_arn: &str) -> (ApiError, Value) {
    let error = ApiError::new(
        424,
        "ModelErrorException",
        "Received server error (500) from model. The model's generation_config.json does \
         not name its end-of-sequence tokens (emulated broken model).",
    );
    let body = json!({
        "message": error.message,
        "originalStatusCode": 500,
        "resourceName": model_arn,
    });
    (error, body)
}

pub(crate) fn malformed(detail: &str) -> ApiError {
    ApiError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

/// The token limit a body asks for, from whichever field its format uses.
fn token_limit(request: &Value) -> Result<usize, ApiError> {
    for field in ["max_tokens", "max_gen_len", "max_completion_tokens"] {
        if let Some(value) = request.get(field) {
            return value
                .as_u64()
                .filter(|n| *n >= 1)
                .map(|n| n.min(4096) as usize)
                .ok_or_else(|| malformed(&format!("#/{field}: expected a positive integer")));
        }
    }
    Ok(512)
}

/// The answer to `request` by a model of `architecture`, in the response shape of the
/// request's format: OpenAI chat (`messages`), Llama's native body (`max_gen_len`, or a
/// Llama-family `prompt`), Mistral's (`outputs`), or OpenAI completion (`prompt` with
/// `max_tokens` for other families).
pub fn answer(
    request: &Value,
    architecture: &str,
    model_arn: &str,
    n: u64,
) -> Result<Value, ApiError> {
    let limit = token_limit(request)?;
    let words = REPLY.len().min(limit);
    let text = REPLY[..words].join(" ");
    let stop = if words < REPLY.len() {
        "length"
    } else {
        "stop"
    };
    let usage = json!({"prompt_tokens": 9, "completion_tokens": words, "total_tokens": 9 + words});
    let family = architecture.to_ascii_lowercase();
    if let Some(messages) = request.get("messages") {
        if messages.as_array().is_none_or(|m| m.is_empty()) {
            return Err(malformed("#/messages: expected a non-empty list"));
        }
        return Ok(json!({
            "id": format!("chatcmpl-emulator-{n}"), "object": "chat.completion", "model": model_arn,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": stop}],
            "usage": usage,
        }));
    }
    if !request.get("prompt").is_some_and(Value::is_string) {
        return Err(malformed("required key [prompt] or [messages] not found"));
    }
    if family.contains("mistral") || family.contains("mixtral") {
        return Ok(json!({"outputs": [{"text": text, "stop_reason": stop}]}));
    }
    if request.get("max_gen_len").is_some() || request.get("max_tokens").is_none() {
        return Ok(json!({
            "generation": text, "prompt_token_count": 9,
            "generation_token_count": words, "stop_reason": stop,
        }));
    }
    Ok(json!({
        "id": format!("cmpl-emulator-{n}"), "object": "text_completion", "model": model_arn,
        "choices": [{"index": 0, "text": text, "finish_reason": stop, "logprobs": null}],
        "usage": usage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdef123456";

    #[test]
    fn each_format_gets_its_documented_shape() {
        let llama = answer(
            &json!({"prompt": "hi", "max_gen_len": 16}),
            "LlamaForCausalLM",
            ARN,
            1,
        )
        .unwrap();
        assert_eq!(llama["stop_reason"], "stop");
        assert!(llama["generation"].as_str().unwrap().starts_with("ready"));
        let mistral = answer(
            &json!({"prompt": "hi", "max_tokens": 2}),
            "MistralForCausalLM",
            ARN,
            1,
        )
        .unwrap();
        assert_eq!(mistral["outputs"][0]["text"], "ready, and");
        assert_eq!(mistral["outputs"][0]["stop_reason"], "length");
        let chat = answer(
            &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
            "GptOssForCausalLM",
            ARN,
            1,
        )
        .unwrap();
        assert_eq!(chat["choices"][0]["message"]["content"], "ready,");
        assert_eq!(chat["choices"][0]["finish_reason"], "length");
        let completion = answer(
            &json!({"prompt": "hi", "max_tokens": 16}),
            "Qwen2ForCausalLM",
            ARN,
            1,
        )
        .unwrap();
        assert_eq!(completion["object"], "text_completion");
        assert!(completion["choices"][0]["text"].is_string());
    }

    #[test]
    fn malformed_bodies_are_validation_errors() {
        for body in [
            json!({}),
            json!({"prompt": 3}),
            json!({"messages": []}),
            json!({"prompt": "hi", "max_tokens": 0}),
            json!({"prompt": "hi", "max_gen_len": "16"}),
        ] {
            let error = answer(&body, "LlamaForCausalLM", ARN, 1).unwrap_err();
            assert_eq!(error.kind, "ValidationException", "{body}");
        }
    }
}
