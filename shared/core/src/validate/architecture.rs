//! What Amazon Bedrock Custom Model Import accepts, as one table (`../shared/FACTS.md`,
//! "Artifacts"), and the judgement of a `config.json` against it.

use serde_json::{Map, Value};

/// One model class Bedrock imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedClass {
    /// The `architectures` entry of `config.json`.
    pub class: &'static str,
    /// The `model_type` that goes with it.
    pub model_type: &'static str,
    /// The family as AWS's documentation names it.
    pub family: &'static str,
    /// Multimodal models have the lower (100 GB) size limit.
    pub multimodal: bool,
    /// Regions where AWS imports this family, when narrower than the service's.
    pub only_regions: Option<&'static [&'static str]>,
}

const fn text(
    class: &'static str,
    model_type: &'static str,
    family: &'static str,
) -> SupportedClass {
    SupportedClass {
        class,
        model_type,
        family,
        multimodal: false,
        only_regions: None,
    }
}

const fn vision(
    class: &'static str,
    model_type: &'static str,
    family: &'static str,
) -> SupportedClass {
    SupportedClass {
        multimodal: true,
        ..text(class, model_type, family)
    }
}

/// Every class Bedrock imports. A `model_type` listed here with another class (Qwen3
/// as a classifier, Mistral as a bare encoder) is refused: the class decides.
pub(crate) const SUPPORTED: &[SupportedClass] = &[
    text("LlamaForCausalLM", "llama", "Llama 2 / 3 / 3.1 / 3.2 / 3.3"),
    vision(
        "MllamaForConditionalGeneration",
        "mllama",
        "Llama 3.2 Vision (Mllama)",
    ),
    text("MistralForCausalLM", "mistral", "Mistral"),
    text("MixtralForCausalLM", "mixtral", "Mixtral"),
    text("T5ForConditionalGeneration", "t5", "Flan-T5"),
    text("GPTBigCodeForCausalLM", "gpt_bigcode", "GPTBigCode"),
    text("Qwen2ForCausalLM", "qwen2", "Qwen2 / Qwen2.5"),
    vision("Qwen2VLForConditionalGeneration", "qwen2_vl", "Qwen2-VL"),
    vision(
        "Qwen2_5_VLForConditionalGeneration",
        "qwen2_5_vl",
        "Qwen2.5-VL",
    ),
    text("Qwen3ForCausalLM", "qwen3", "Qwen3"),
    text("Qwen3MoeForCausalLM", "qwen3_moe", "Qwen3"),
    SupportedClass {
        only_regions: Some(&["us-east-1"]),
        ..text("GptOssForCausalLM", "gpt_oss", "GPT-OSS")
    },
];

/// Size limits in bytes: a model is refused at this size or more.
pub(crate) const TEXT_SIZE_LIMIT: u64 = 200_000_000_000;
/// The limit for multimodal models.
pub(crate) const MULTIMODAL_SIZE_LIMIT: u64 = 100_000_000_000;

/// The longest context Bedrock imports (Llama 3.1 and GPT-OSS publish exactly this).
pub(crate) const MAX_CONTEXT: u64 = 131_072;

/// Where the context length is read, in order; the first present wins. Every
/// supported family uses one of these: decoder LLMs `max_position_embeddings`, Mllama
/// `text_config.max_position_embeddings`, GPTBigCode and T5 `n_positions`.
/// `rope_scaling`, `sliding_window` and the tokenizer's `model_max_length` are not it.
pub(crate) const CONTEXT_FIELDS: &[&[&str]] = &[
    &["max_position_embeddings"],
    &["text_config", "max_position_embeddings"],
    &["n_positions"],
];

/// `model_type`s of encoder and embedding models people try to import.
const EMBEDDING_MODEL_TYPES: &[&str] = &[
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "mpnet",
    "nomic_bert",
    "modernbert",
    "new",
    "electra",
    "deberta",
    "deberta-v2",
    "e5",
    "gte",
];

/// Class-name endings of heads Bedrock does not serve (it serves text generation).
const NON_GENERATIVE_SUFFIXES: &[&str] = &[
    "ForSequenceClassification",
    "ForTokenClassification",
    "ForQuestionAnswering",
    "ForMaskedLM",
    "ForMultipleChoice",
    "ForPreTraining",
];

/// Files that mark a sentence-transformers (embedding) package.
pub(crate) const EMBEDDING_MARKER_FILES: &[&str] = &[
    "config_sentence_transformers.json",
    "modules.json",
    "1_Pooling/config.json",
];

/// The architecture as `config.json` declares it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Declared {
    /// `architectures`, when it is a list of strings.
    pub classes: Option<Vec<String>>,
    /// `model_type`, when it is a string.
    pub model_type: Option<String>,
    /// A description of a malformed `architectures` / `model_type` value.
    pub malformed: Option<String>,
}

impl Declared {
    /// What a `config.json` declares.
    pub(crate) fn from_config(config: &Map<String, Value>) -> Self {
        let mut declared = Declared::default();
        match config.get("architectures") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let names: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                match names {
                    Some(names) => declared.classes = Some(names),
                    None => {
                        declared.malformed = Some(
                            "config.json's \"architectures\" is not a list of class names".into(),
                        )
                    }
                }
            }
            Some(_) => {
                declared.malformed =
                    Some("config.json's \"architectures\" is not a list of class names".into())
            }
        }
        match config.get("model_type") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => declared.model_type = Some(s.clone()),
            Some(_) => {
                declared
                    .malformed
                    .get_or_insert_with(|| "config.json's \"model_type\" is not a string".into());
            }
        }
        declared
    }

    /// The class reports show: the supported one when there is one, else the first.
    pub(crate) fn shown_class(&self, verdict: &Verdict) -> Option<String> {
        match verdict {
            Verdict::Supported { class, .. } if self.classes.is_some() => {
                Some(class.class.to_owned())
            }
            _ => self.classes.as_ref().and_then(|c| c.first().cloned()),
        }
    }
}

/// The judgement of a declared architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Bedrock imports the model.
    Supported {
        /// The class that decided: the first `architectures` entry the table lists, or,
        /// when `architectures` is absent or empty, the class of the `model_type`.
        class: &'static SupportedClass,
        /// Set when `model_type` disagrees with the class (a doubt, not a refusal).
        mismatch: Option<String>,
    },
    /// Bedrock does not import the model, or Ferry cannot tell its class.
    Unsupported {
        /// Why, as the `unsupported-architecture` finding words it.
        reason: String,
    },
}

/// Judges the declared architecture. `embedding_marker` is the sentence-transformers
/// file found in the folder, if any.
pub fn judge(declared: &Declared, embedding_marker: Option<&str>) -> Verdict {
    if let Some(marker) = embedding_marker {
        return Verdict::Unsupported {
            reason: format!(
                "the folder is a sentence-transformers embedding model ({marker} is present); \
                 Amazon Bedrock Custom Model Import does not import embedding models"
            ),
        };
    }
    if let Some(problem) = &declared.malformed {
        return Verdict::Unsupported {
            reason: format!("{problem}; Ferry cannot tell which architecture the model is"),
        };
    }
    match (&declared.classes, &declared.model_type) {
        (Some(classes), model_type) if !classes.is_empty() => {
            let found = classes
                .iter()
                .find_map(|name| SUPPORTED.iter().find(|s| s.class == name));
            match found {
                Some(class) => Verdict::Supported {
                    class,
                    mismatch: model_type
                        .as_deref()
                        .filter(|mt| *mt != class.model_type)
                        .map(|mt| {
                            format!(
                                "config.json declares {} but model_type {mt:?} (expected {:?}); \
                                 check that the config belongs to these weights",
                                class.class, class.model_type
                            )
                        }),
                },
                None => Verdict::Unsupported {
                    reason: unsupported_class_reason(&classes[0], model_type.as_deref()),
                },
            }
        }
        (_, Some(model_type)) => match SUPPORTED.iter().find(|s| s.model_type == model_type) {
            Some(class) => Verdict::Supported {
                class,
                mismatch: None,
            },
            None => Verdict::Unsupported {
                reason: unsupported_type_reason(model_type),
            },
        },
        _ => Verdict::Unsupported {
            reason: "config.json names neither \"architectures\" nor \"model_type\"; Bedrock \
                     needs a Hugging Face config that declares the model class"
                .into(),
        },
    }
}

fn unsupported_class_reason(class: &str, model_type: Option<&str>) -> String {
    let same_type: Vec<&str> = model_type
        .map(|mt| {
            SUPPORTED
                .iter()
                .filter(|s| s.model_type == mt)
                .map(|s| s.class)
                .collect()
        })
        .unwrap_or_default();
    let kind = if is_embedding_type(model_type) || is_bare_encoder(class) {
        " (a bare encoder, as embedding models use)"
    } else if NON_GENERATIVE_SUFFIXES.iter().any(|s| class.ends_with(s)) {
        " (not a text-generation head)"
    } else {
        ""
    };
    match same_type.as_slice() {
        [] => {
            format!(
            "{class}{kind}{} is not an architecture Amazon Bedrock Custom Model Import supports; \
             it imports {}",
            model_type.map(|m| format!(" (model_type {m:?})")).unwrap_or_default(),
            supported_summary()
        )
        }
        classes => format!(
            "{class}{kind} is not imported: for model_type {:?} Bedrock imports only {}",
            model_type.unwrap_or_default(),
            classes.join(" or ")
        ),
    }
}

fn unsupported_type_reason(model_type: &str) -> String {
    let kind = if is_embedding_type(Some(model_type)) {
        " is an encoder/embedding model type, and Bedrock does not import embedding models"
    } else {
        " is not an architecture Amazon Bedrock Custom Model Import supports"
    };
    format!(
        "model_type {model_type:?}{kind}; it imports {}",
        supported_summary()
    )
}

/// `MistralModel`, `BertModel`: the transformer without a head, as embedding models
/// ship it (unlike `GPT2LMHeadModel`, which has one).
fn is_bare_encoder(class: &str) -> bool {
    class.ends_with("Model") && !class.contains("For") && !class.contains("LMHead")
}

fn is_embedding_type(model_type: Option<&str>) -> bool {
    model_type.is_some_and(|mt| EMBEDDING_MODEL_TYPES.contains(&mt))
}

/// "Llama 2 / 3 ..., Mistral, ..." with each family once.
pub(crate) fn supported_summary() -> String {
    let mut families: Vec<&str> = Vec::new();
    for s in SUPPORTED {
        if !families.contains(&s.family) {
            families.push(s.family);
        }
    }
    families.join(", ")
}

/// What a context field holds, judged as Bedrock's model servers would read it.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextReading {
    /// A whole positive number: the context length.
    Length(u64),
    /// More than `MAX_CONTEXT` however it is read (`"1000000"`, `200000.5`, `1e400`):
    /// the value as a person should see it, and the length when it is a whole number.
    TooLong {
        /// The value as the message shows it (`1000000`, `the string "1000000"`).
        shown: String,
        /// The value, when the JSON holds a whole number that fits in a `u64`.
        length: Option<u64>,
    },
    /// Not a context any server can use (zero or negative): why.
    Invalid(String),
    /// Not a plain number, and within the limit if read as one: why (AWS is silent).
    Unreadable(String),
}

/// The context reading and the field it came from, per `CONTEXT_FIELDS`.
pub fn context_length(config: &Map<String, Value>) -> Option<(ContextReading, String)> {
    for path in CONTEXT_FIELDS {
        let mut value = None;
        let mut current = config;
        for (i, key) in path.iter().enumerate() {
            match current.get(*key) {
                Some(Value::Object(inner)) if i + 1 < path.len() => current = inner,
                Some(v) if i + 1 == path.len() && !v.is_null() => value = Some(v),
                _ => break,
            }
        }
        let Some(value) = value else { continue };
        let field = path.join(".");
        return Some((read_context(value, &field), field));
    }
    None
}

fn read_context(value: &Value, field: &str) -> ContextReading {
    if let Some(n) = value.as_u64() {
        return whole_context(n, field);
    }
    let (number, written) = match value {
        Value::Number(n) => (n.as_f64(), n.to_string()),
        // A number written as a string: loaders keep it a string, servers read it as
        // a number or fail; over the limit it fails either way.
        Value::String(s) => (
            s.trim().parse::<f64>().ok(),
            format!("the string {}", crate::text::echo_quoted(s)),
        ),
        other => (None, crate::validate::json_kind(other).to_owned()),
    };
    let shown = if number.is_some_and(|n| n.abs() >= f64::MAX) {
        format!("{written}, a number beyond 64-bit floating point")
    } else {
        written
    };
    match number {
        Some(n) if n > MAX_CONTEXT as f64 => ContextReading::TooLong {
            shown,
            length: None,
        },
        Some(n) if n <= 0.0 => ContextReading::Invalid(format!(
            "config.json's {field} is {shown}: a model cannot have a context of {n} tokens, and \
             model servers size their context from it; set it to the length the model was trained for"
        )),
        Some(n) if matches!(value, Value::Number(_)) && n.fract() == 0.0 => {
            whole_context(n as u64, field)
        }
        _ => ContextReading::Unreadable(format!(
            "config.json's {field} is {shown}, not a whole number; AWS documents only the 128K limit, \
             so write it as a whole number to be sure model servers read it"
        )),
    }
}

fn whole_context(n: u64, field: &str) -> ContextReading {
    if n == 0 {
        ContextReading::Invalid(format!(
            "config.json's {field} is 0: a model cannot have a context of 0 tokens; set it to the \
             length the model was trained for"
        ))
    } else if n > MAX_CONTEXT {
        ContextReading::TooLong {
            shown: n.to_string(),
            length: Some(n),
        }
    } else {
        ContextReading::Length(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn judge_json(config: Value) -> Verdict {
        let Value::Object(map) = config else {
            unreachable!()
        };
        judge(&Declared::from_config(&map), None)
    }

    #[test]
    fn every_supported_class_is_accepted_with_its_model_type() {
        for s in SUPPORTED {
            let verdict =
                judge_json(json!({"architectures": [s.class], "model_type": s.model_type}));
            assert_eq!(
                verdict,
                Verdict::Supported {
                    class: s,
                    mismatch: None
                },
                "{}",
                s.class
            );
        }
    }

    #[test]
    fn the_class_decides_not_the_model_type() {
        let cases = [
            (
                json!({"architectures": ["Qwen3ForSequenceClassification"], "model_type": "qwen3"}),
                "only Qwen3ForCausalLM",
            ),
            (
                json!({"architectures": ["MistralModel"], "model_type": "mistral"}),
                "embedding",
            ),
            (
                json!({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}),
                "not an architecture",
            ),
            (
                json!({"architectures": ["BertModel"], "model_type": "bert"}),
                "embedding",
            ),
            (json!({"model_type": "bert"}), "embedding models"),
            (json!({"model_type": "gemma"}), "not an architecture"),
            (json!({}), "neither"),
            (json!({"architectures": "LlamaForCausalLM"}), "not a list"),
            (json!({"architectures": [1]}), "not a list"),
        ];
        for (config, expected) in cases {
            match judge_json(config.clone()) {
                Verdict::Unsupported { reason } => {
                    assert!(reason.contains(expected), "{config}: {reason}")
                }
                other => panic!("{config} was {other:?}"),
            }
        }
    }

    #[test]
    fn judges_by_model_type_without_architectures_and_flags_mismatches() {
        assert!(matches!(judge_json(json!({"model_type": "qwen2_vl"})),
            Verdict::Supported { class, .. } if class.multimodal));
        let Verdict::Supported {
            mismatch: Some(m), ..
        } = judge_json(json!({"architectures": ["LlamaForCausalLM"], "model_type": "mistral"}))
        else {
            panic!("expected a mismatch")
        };
        assert!(m.contains("\"llama\""), "{m}");
    }

    #[test]
    fn sentence_transformers_packages_are_embedding_models() {
        let declared = Declared {
            classes: Some(vec!["Qwen3ForCausalLM".into()]),
            model_type: Some("qwen3".into()),
            malformed: None,
        };
        assert!(matches!(judge(&declared, Some("modules.json")),
            Verdict::Unsupported { reason } if reason.contains("embedding")));
    }

    #[test]
    fn context_is_read_from_the_fields_each_family_uses() {
        let ctx = |v: Value| context_length(v.as_object().unwrap());
        let length = |n: u64, f: &str| Some((ContextReading::Length(n), f.to_owned()));
        assert_eq!(
            ctx(json!({"max_position_embeddings": 131072, "rope_scaling": {"factor": 8.0}})),
            length(131072, "max_position_embeddings")
        );
        assert_eq!(
            ctx(json!({"text_config": {"max_position_embeddings": 131072}})),
            length(131072, "text_config.max_position_embeddings")
        );
        assert_eq!(
            ctx(json!({"n_positions": 8192})),
            length(8192, "n_positions")
        );
        assert_eq!(
            ctx(json!({"max_position_embeddings": 4096, "n_positions": 999999})),
            length(4096, "max_position_embeddings")
        );
        assert_eq!(
            ctx(json!({"sliding_window": 999999, "model_max_length": 1})),
            None
        );
        assert_eq!(
            ctx(json!({"max_position_embeddings": 32768.0})),
            length(32768, "max_position_embeddings")
        );
    }

    #[test]
    fn odd_contexts_are_judged_as_servers_would_read_them() {
        let reading = |v: Value| {
            context_length(json!({ "max_position_embeddings": v }).as_object().unwrap())
                .unwrap()
                .0
        };
        let too_long = |v: Value| matches!(reading(v), ContextReading::TooLong { .. });
        assert!(too_long(json!("1000000")));
        assert!(too_long(json!(200000.5)));
        assert!(too_long(json!(131073)));
        assert!(too_long(json!(f64::MAX)));
        assert!(matches!(reading(json!(-1)), ContextReading::Invalid(_)));
        assert!(matches!(reading(json!(0)), ContextReading::Invalid(_)));
        assert!(matches!(reading(json!(-0.5)), ContextReading::Invalid(_)));
        for unreadable in [
            json!("8192"),
            json!(8191.5),
            json!("long"),
            json!(true),
            json!([1]),
        ] {
            assert!(
                matches!(reading(unreadable.clone()), ContextReading::Unreadable(_)),
                "{unreadable}"
            );
        }
    }
}
