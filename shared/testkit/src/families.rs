//! Real-looking `config.json` of every family Bedrock imports, and of the ones it
//! refuses, shrunk to tiny dimensions so the tensors stay small. Field sets follow the
//! published configs of each family (context fields included: that is what Ferry reads).

use serde_json::{json, Value};

/// How a family names its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `model.layers.N.self_attn.q_proj.weight` ... (Llama, Mistral, Qwen, GPT-OSS).
    Decoder,
    /// Decoder with `mlp.experts.E.*` (Mixtral, Qwen3-MoE).
    MixtureOfExperts,
    /// `encoder.block.N.layer.0.SelfAttention.q.weight` ... (T5).
    EncoderDecoder,
    /// `transformer.h.N.attn.c_attn.weight` ... (GPTBigCode, GPT-2).
    Gpt,
    /// A decoder plus `visual.blocks.N.*` / `vision_model.*` (Mllama, Qwen2-VL).
    VisionLanguage,
    /// `encoder.layer.N.attention.self.query.weight` ... (BERT-style embedding models).
    Encoder,
}

/// Which tokenizer files a family ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    /// `tokenizer.json` only (Llama 3, GPT-OSS, Mllama).
    FastOnly,
    /// `tokenizer.model` (SentencePiece) and `tokenizer.json` (Llama 2, Mistral, Mixtral).
    SentencePiece,
    /// `spiece.model` and `tokenizer.json` (T5).
    T5,
    /// `vocab.json`, `merges.txt` and `tokenizer.json` (Qwen, GPTBigCode, GPT-2).
    Bpe,
    /// `vocab.txt` and `tokenizer.json` (BERT).
    WordPiece,
}

/// A family fixture.
#[derive(Debug, Clone)]
pub struct Family {
    /// Short name used for folder names and test labels.
    pub key: &'static str,
    pub config: Value,
    pub layout: Layout,
    pub tokenizer: Tokenizer,
    pub tokenizer_class: &'static str,
}

const HIDDEN: u64 = 16;
const VOCAB: u64 = 32;

/// Every family Bedrock Custom Model Import supports.
pub fn supported() -> Vec<Family> {
    vec![
        Family {
            key: "llama-2",
            config: decoder(
                "LlamaForCausalLM",
                "llama",
                4096,
                json!({"rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2, "pretraining_tp": 1}),
            ),
            layout: Layout::Decoder,
            tokenizer: Tokenizer::SentencePiece,
            tokenizer_class: "LlamaTokenizer",
        },
        Family {
            key: "llama-3.1",
            config: decoder(
                "LlamaForCausalLM",
                "llama",
                131072,
                json!({
                "rope_theta": 500000.0, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
                "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 8192, "rope_type": "llama3"}}),
            ),
            layout: Layout::Decoder,
            tokenizer: Tokenizer::FastOnly,
            tokenizer_class: "PreTrainedTokenizerFast",
        },
        Family {
            key: "mllama",
            config: json!({
                "architectures": ["MllamaForConditionalGeneration"], "model_type": "mllama",
                "image_token_index": 128256, "torch_dtype": "bfloat16", "transformers_version": "4.45.0",
                "text_config": {"model_type": "mllama_text_model", "hidden_size": HIDDEN, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32,
                    "max_position_embeddings": 131072, "rope_theta": 500000.0, "vocab_size": VOCAB,
                    "cross_attention_layers": [1], "rms_norm_eps": 1e-5},
                "vision_config": {"model_type": "mllama_vision_model", "hidden_size": HIDDEN, "image_size": 560,
                    "patch_size": 14, "num_hidden_layers": 1, "max_num_tiles": 4}
            }),
            layout: Layout::VisionLanguage,
            tokenizer: Tokenizer::FastOnly,
            tokenizer_class: "PreTrainedTokenizerFast",
        },
        Family {
            key: "mistral",
            config: decoder(
                "MistralForCausalLM",
                "mistral",
                32768,
                json!({"sliding_window": null, "rope_theta": 1000000.0}),
            ),
            layout: Layout::Decoder,
            tokenizer: Tokenizer::SentencePiece,
            tokenizer_class: "LlamaTokenizer",
        },
        Family {
            key: "mixtral",
            config: decoder(
                "MixtralForCausalLM",
                "mixtral",
                32768,
                json!({"num_local_experts": 2, "num_experts_per_tok": 2, "router_aux_loss_coef": 0.02}),
            ),
            layout: Layout::MixtureOfExperts,
            tokenizer: Tokenizer::SentencePiece,
            tokenizer_class: "LlamaTokenizer",
        },
        Family {
            key: "flan-t5",
            config: json!({
                "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": HIDDEN,
                "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1,
                "n_positions": 512, "relative_attention_num_buckets": 32, "vocab_size": VOCAB,
                "feed_forward_proj": "gated-gelu", "is_encoder_decoder": true, "tie_word_embeddings": false,
                "decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0,
                "torch_dtype": "float32", "transformers_version": "4.23.1"
            }),
            layout: Layout::EncoderDecoder,
            tokenizer: Tokenizer::T5,
            tokenizer_class: "T5Tokenizer",
        },
        Family {
            key: "gpt-bigcode",
            config: json!({
                "architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode", "n_embd": HIDDEN,
                "n_head": 2, "n_layer": 2, "n_inner": 64, "n_positions": 8192, "vocab_size": VOCAB,
                "multi_query": true, "activation_function": "gelu_pytorch_tanh", "attention_softmax_in_fp32": true,
                "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16", "transformers_version": "4.28.1"
            }),
            layout: Layout::Gpt,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "GPT2Tokenizer",
        },
        Family {
            key: "qwen2.5",
            config: decoder(
                "Qwen2ForCausalLM",
                "qwen2",
                32768,
                json!({"sliding_window": 131072, "use_sliding_window": false, "max_window_layers": 28, "rope_theta": 1000000.0}),
            ),
            layout: Layout::Decoder,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "Qwen2Tokenizer",
        },
        Family {
            key: "qwen2-vl",
            config: vision_decoder("Qwen2VLForConditionalGeneration", "qwen2_vl"),
            layout: Layout::VisionLanguage,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "Qwen2TokenizerFast",
        },
        Family {
            key: "qwen2.5-vl",
            config: vision_decoder("Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl"),
            layout: Layout::VisionLanguage,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "Qwen2TokenizerFast",
        },
        Family {
            key: "qwen3",
            config: decoder(
                "Qwen3ForCausalLM",
                "qwen3",
                40960,
                json!({"head_dim": 8, "rope_theta": 1000000.0, "sliding_window": null}),
            ),
            layout: Layout::Decoder,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "Qwen2Tokenizer",
        },
        Family {
            key: "qwen3-moe",
            config: decoder(
                "Qwen3MoeForCausalLM",
                "qwen3_moe",
                40960,
                json!({"num_experts": 2, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "head_dim": 8}),
            ),
            layout: Layout::MixtureOfExperts,
            tokenizer: Tokenizer::Bpe,
            tokenizer_class: "Qwen2Tokenizer",
        },
        Family {
            key: "gpt-oss",
            config: decoder(
                "GptOssForCausalLM",
                "gpt_oss",
                131072,
                json!({
                "num_local_experts": 2, "experts_per_token": 2, "sliding_window": 128, "head_dim": 8,
                "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096},
                "quantization_config": {"quant_method": "mxfp4"}}),
            ),
            layout: Layout::MixtureOfExperts,
            tokenizer: Tokenizer::FastOnly,
            tokenizer_class: "PreTrainedTokenizerFast",
        },
    ]
}

/// Families people try to import and Bedrock refuses, with the reason Ferry must give.
pub fn unsupported() -> Vec<(Family, &'static str)> {
    vec![
        (
            Family {
                key: "gpt2",
                config: json!({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": HIDDEN,
                    "n_head": 2, "n_layer": 2, "n_positions": 1024, "n_ctx": 1024, "vocab_size": VOCAB,
                    "activation_function": "gelu_new", "bos_token_id": 50256, "eos_token_id": 50256}),
                layout: Layout::Gpt,
                tokenizer: Tokenizer::Bpe,
                tokenizer_class: "GPT2Tokenizer",
            },
            "GPT2LMHeadModel",
        ),
        (
            Family {
                key: "bert",
                config: json!({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": HIDDEN,
                    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                    "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": VOCAB}),
                layout: Layout::Encoder,
                tokenizer: Tokenizer::WordPiece,
                tokenizer_class: "BertTokenizer",
            },
            "embedding",
        ),
        (
            Family {
                key: "e5-mistral",
                config: decoder("MistralModel", "mistral", 32768, json!({})),
                layout: Layout::Decoder,
                tokenizer: Tokenizer::SentencePiece,
                tokenizer_class: "LlamaTokenizer",
            },
            "embedding",
        ),
        (
            Family {
                key: "qwen3-classifier",
                config: decoder(
                    "Qwen3ForSequenceClassification",
                    "qwen3",
                    40960,
                    json!({"num_labels": 2}),
                ),
                layout: Layout::Decoder,
                tokenizer: Tokenizer::Bpe,
                tokenizer_class: "Qwen2Tokenizer",
            },
            "Qwen3ForCausalLM",
        ),
    ]
}

/// Looks a supported family up by key.
pub fn family(key: &str) -> Family {
    supported()
        .into_iter()
        .chain(unsupported().into_iter().map(|(f, _)| f))
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no fixture family {key:?}"))
}

fn decoder(class: &str, model_type: &str, context: u64, extra: Value) -> Value {
    let mut config = json!({
        "architectures": [class],
        "model_type": model_type,
        "hidden_size": HIDDEN,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "hidden_act": "silu",
        "max_position_embeddings": context,
        "rms_norm_eps": 1e-5,
        "vocab_size": VOCAB,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": true,
        "attention_dropout": 0.0
    });
    merge(&mut config, extra);
    config
}

fn vision_decoder(class: &str, model_type: &str) -> Value {
    decoder(
        class,
        model_type,
        128000,
        json!({
            "vision_start_token_id": 151652, "vision_end_token_id": 151653, "image_token_id": 151655,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "vision_config": {"depth": 1, "hidden_size": HIDDEN, "num_heads": 2, "patch_size": 14,
                              "spatial_merge_size": 2, "temporal_patch_size": 2}
        }),
    )
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(base), Value::Object(extra)) = (base, extra) {
        base.extend(extra);
    }
}
