//! Reading a model's answer from an InvokeModel response body, whatever documented
//! shape it has, keeping only a bounded, terminal-safe start of its text.

use serde::Serialize;
use serde_json::Value;

use crate::text;

/// Bodies larger than this are not parsed: a smoke answer of a few tokens is a few
/// hundred bytes, and the tracker runs in 128 MB.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The JSON paths holding the answer's text, in the order they are tried.
const TEXT_PATHS: [Shape; 4] = [
    Shape::ChatMessage,
    Shape::CompletionChoice,
    Shape::Generation,
    Shape::Outputs,
];

/// Which documented response shape the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// `choices[0].message.content` (OpenAIChatCompletion).
    ChatMessage,
    /// `choices[0].text` (OpenAICompletion).
    CompletionChoice,
    /// `generation` (Meta Llama's native body).
    Generation,
    /// `outputs[0].text` (Mistral's native body).
    Outputs,
}

impl Shape {
    /// The path as people write it.
    pub fn path(self) -> &'static str {
        match self {
            Shape::ChatMessage => "choices[0].message.content",
            Shape::CompletionChoice => "choices[0].text",
            Shape::Generation => "generation",
            Shape::Outputs => "outputs[0].text",
        }
    }

    fn text(self, body: &Value) -> Option<&str> {
        let value = match self {
            Shape::ChatMessage => &body["choices"][0]["message"]["content"],
            Shape::CompletionChoice => &body["choices"][0]["text"],
            Shape::Generation => &body["generation"],
            Shape::Outputs => &body["outputs"][0]["text"],
        };
        value.as_str()
    }

    /// The stop reason beside the text, where this shape keeps it.
    fn stop_reason(self, body: &Value) -> Option<&str> {
        let value = match self {
            Shape::ChatMessage | Shape::CompletionChoice => &body["choices"][0]["finish_reason"],
            Shape::Generation => &body["stop_reason"],
            Shape::Outputs => &body["outputs"][0]["stop_reason"],
        };
        value.as_str()
    }
}

/// The start of a model's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// At most the configured number of characters, control characters escaped.
    pub text: String,
    /// Whether the text was empty (only whitespace) before it was cut.
    pub empty: bool,
    /// `stop`, `length`, ... as the model said, echo-bounded.
    pub stop_reason: Option<String>,
    /// Where the text was found.
    pub shape: Shape,
}

impl Answer {
    /// Whether the model stopped at the token limit (stop reason `length`): its tokens
    /// were spent, even if none became text.
    pub fn hit_token_limit(&self) -> bool {
        self.stop_reason.as_deref() == Some("length")
    }
}

/// Why an answer body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Too large to be a smoke answer.
    #[error("the answer is {bytes} bytes, more than the {MAX_ANSWER_BYTES} a smoke answer can be")]
    TooLarge {
        /// The body's size.
        bytes: usize,
    },
    /// Not JSON.
    #[error("the answer is not JSON ({detail}); it starts {start}")]
    NotJson {
        /// The parser's complaint.
        detail: String,
        /// The body's first characters, echo-safe.
        start: String,
    },
    /// JSON, but no documented path holds text.
    #[error(
        "the answer has none of choices[0].message.content, choices[0].text, generation, \
         outputs[0].text; its top-level fields: {fields}"
    )]
    NoText {
        /// The top-level field names (at most ten, echo-safe), or what the JSON is.
        fields: String,
    },
}

/// The answer in `body`, its text cut to `max_chars` characters; never panics.
pub fn read_answer(body: &[u8], max_chars: usize) -> Result<Answer, AnswerError> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(AnswerError::TooLarge { bytes: body.len() });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| AnswerError::NotJson {
        detail: e.to_string(),
        start: safe(&String::from_utf8_lossy(&body[..body.len().min(400)]), 80),
    })?;
    let Some(shape) = TEXT_PATHS.into_iter().find(|s| s.text(&value).is_some()) else {
        return Err(AnswerError::NoText {
            fields: field_names(&value),
        });
    };
    let raw = shape.text(&value).unwrap_or_default();
    Ok(Answer {
        text: safe(raw, max_chars),
        empty: raw.trim().is_empty(),
        stop_reason: shape.stop_reason(&value).map(|s| safe(s, 40)),
        shape,
    })
}

/// `value` cut to `max_chars`, escaped, and cut again (escapes lengthen it).
fn safe(value: &str, max_chars: usize) -> String {
    let cut = text::truncate(value, max_chars);
    text::truncate(&text::escape_controls(&cut), max_chars).into_owned()
}

fn field_names(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "none (an empty object)".into(),
        Value::Object(map) => {
            let mut names: Vec<String> = map.keys().take(10).map(|k| safe(k, 40)).collect();
            if map.len() > 10 {
                names.push(format!("and {} more", map.len() - 10));
            }
            names.join(", ")
        }
        Value::Array(_) => "none (a JSON array)".into(),
        _ => "none (not an object)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(body: &str) -> Result<Answer, AnswerError> {
        read_answer(body.as_bytes(), 200)
    }

    #[test]
    fn every_documented_shape_is_read_with_its_stop_reason() {
        let cases = [
            (
                r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"ready"},"finish_reason":"stop"}]}"#,
                Shape::ChatMessage,
                "stop",
            ),
            (
                r#"{"choices":[{"index":0,"text":" ready","finish_reason":"length"}]}"#,
                Shape::CompletionChoice,
                "length",
            ),
            (
                r#"{"generation":" ready","prompt_token_count":9,"generation_token_count":2,"stop_reason":"stop"}"#,
                Shape::Generation,
                "stop",
            ),
            (
                r#"{"outputs":[{"text":" ready","stop_reason":"length"}]}"#,
                Shape::Outputs,
                "length",
            ),
        ];
        for (body, shape, stop) in cases {
            let answer = read(body).unwrap();
            assert_eq!(answer.shape, shape, "{body}");
            assert!(answer.text.contains("ready"));
            assert!(!answer.empty);
            assert_eq!(answer.stop_reason.as_deref(), Some(stop));
            assert_eq!(answer.hit_token_limit(), stop == "length");
        }
    }

    #[test]
    fn text_is_bounded_and_escaped() {
        let body = serde_json::json!({"generation": format!("a\n\u{1b}[2J{}", "x".repeat(5000))});
        let answer = read_answer(body.to_string().as_bytes(), 10).unwrap();
        assert_eq!(answer.text.chars().count(), 10);
        assert!(answer.text.starts_with("a\\n\\u{1b}"), "{}", answer.text);
    }

    #[test]
    fn empty_and_null_content_are_told_apart() {
        let empty = read(r#"{"choices":[{"message":{"content":"  "},"finish_reason":"length"}]}"#);
        let empty = empty.unwrap();
        assert!(empty.empty && empty.hit_token_limit());
        // A null content is no text at all: no documented path holds a string.
        let null = read(r#"{"choices":[{"message":{"content":null}}]}"#).unwrap_err();
        assert!(matches!(null, AnswerError::NoText { .. }));
    }

    #[test]
    fn errors_name_what_was_missing_and_what_came() {
        let err = read(r#"{"completion":"x","id":"abc"}"#).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("choices[0].message.content"), "{message}");
        assert!(message.contains("completion, id"), "{message}");
        assert!(read("[]").unwrap_err().to_string().contains("JSON array"));
        assert!(read("{}").unwrap_err().to_string().contains("empty object"));
        let not_json = read("<html>\u{1b}]0;boom</html>").unwrap_err().to_string();
        assert!(
            not_json.contains("not JSON") && not_json.contains("\\u{1b}"),
            "{not_json}"
        );
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert!(matches!(
            read_answer(&big, 10),
            Err(AnswerError::TooLarge { .. })
        ));
    }

    #[test]
    fn many_fields_are_counted_not_listed() {
        let fields: serde_json::Map<String, Value> =
            (0..25).map(|i| (format!("f{i:02}"), Value::Null)).collect();
        let err = read(&Value::Object(fields).to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("and 15 more"), "{err}");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("choices".to_owned()),
                            Just("message".to_owned()),
                            Just("content".to_owned()),
                            Just("text".to_owned()),
                            Just("generation".to_owned()),
                            Just("outputs".to_owned()),
                            Just("stop_reason".to_owned()),
                            Just("finish_reason".to_owned()),
                            any::<String>(),
                        ],
                        inner
                    ),
                    0..5
                )
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), max in 0usize..50) {
            if let Ok(answer) = read_answer(&body, max) {
                prop_assert!(answer.text.chars().count() <= max.max(1));
            }
        }

        #[test]
        fn arbitrary_json_keeps_the_bound(value in json_value(), max in 0usize..50) {
            match read_answer(value.to_string().as_bytes(), max) {
                Ok(answer) => {
                    prop_assert!(answer.text.chars().count() <= max.max(1));
                    prop_assert!(!answer.text.chars().any(crate::text::is_unsafe_for_terminal));
                }
                Err(err) => prop_assert!(err.to_string().chars().count() < 2_000),
            }
        }
    }
}
