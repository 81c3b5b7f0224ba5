//! Model folders for tests: real safetensors files written with the `safetensors`
//! crate, tokenizer files of each kind, hostile headers, and sparse multi-GB shards
//! whose data section takes no disk.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::{json, Value};

use crate::families::{Family, Layout, Tokenizer};

/// What [`write_model`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenModel {
    pub dir: PathBuf,
    /// Weight file names, in order.
    pub weight_files: Vec<String>,
    /// Every tensor name.
    pub tensors: Vec<String>,
}

/// A tensor to write: name, dtype, shape.
pub type TensorSpec = (String, Dtype, Vec<usize>);

/// Writes a complete, valid model folder of `family` with `shards` weight files
/// (1: `model.safetensors`; more: `model-0000k-of-0000n.safetensors` plus the index).
pub fn write_model(dir: &Path, family: &Family, shards: usize) -> Result<WrittenModel> {
    fs::create_dir_all(dir)?;
    write_json(&dir.join("config.json"), &family.config)?;
    write_tokenizer(dir, family)?;
    write_json(
        &dir.join("generation_config.json"),
        &json!({"_from_model_config": true, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.51.0"}),
    )?;
    let tensors = tensors_with_layers(family, layers_for(family, shards));
    let dtype = if family.layout == Layout::EncoderDecoder {
        Dtype::F32
    } else {
        Dtype::BF16
    };
    let tensors: Vec<TensorSpec> = tensors
        .into_iter()
        .map(|(name, shape)| {
            let dt = if name.ends_with("_blocks") || name.ends_with("_scales") {
                Dtype::U8
            } else {
                dtype
            };
            (name, dt, shape)
        })
        .collect();
    write_weights(dir, &tensors, shards)
}

/// Writes `tensors` as real safetensors files split into `shards`, plus the index when
/// there is more than one.
pub fn write_weights(dir: &Path, tensors: &[TensorSpec], shards: usize) -> Result<WrittenModel> {
    let shards = shards.clamp(1, tensors.len().max(1));
    let mut weight_files = Vec::new();
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0usize;
    for i in 0..shards {
        // Contiguous, near-equal chunks: exactly `shards` files.
        let chunk = &tensors[i * tensors.len() / shards..(i + 1) * tensors.len() / shards];
        let name = shard_name(i + 1, shards);
        let buffers: Vec<Vec<u8>> = chunk
            .iter()
            .map(|(tensor, dtype, shape)| {
                pattern(
                    tensor,
                    shape.iter().product::<usize>() * dtype.bitsize() / 8,
                )
            })
            .collect();
        let views = chunk
            .iter()
            .zip(&buffers)
            .map(|((tensor, dtype, shape), data)| {
                Ok((
                    tensor.clone(),
                    TensorView::new(*dtype, shape.clone(), data)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
        safetensors::serialize_to_file(views, Some(metadata), &dir.join(&name))
            .with_context(|| format!("writing {name}"))?;
        for (tensor, _, _) in chunk {
            weight_map.insert(tensor.clone(), name.clone());
        }
        total_size += buffers.iter().map(Vec::len).sum::<usize>();
        weight_files.push(name);
    }
    if shards > 1 {
        write_index(dir, total_size as u64, &weight_map)?;
    }
    Ok(WrittenModel {
        dir: dir.to_owned(),
        weight_files,
        tensors: tensors.iter().map(|(n, _, _)| n.clone()).collect(),
    })
}

/// `model-00002-of-00004.safetensors`, or `model.safetensors` for an unsharded model.
pub fn shard_name(k: usize, of: usize) -> String {
    if of <= 1 {
        "model.safetensors".to_owned()
    } else {
        format!("model-{k:05}-of-{of:05}.safetensors")
    }
}

pub fn write_index(
    dir: &Path,
    total_size: u64,
    weight_map: &BTreeMap<String, String>,
) -> Result<()> {
    write_json(
        &dir.join("model.safetensors.index.json"),
        &json!({"metadata": {"total_size": total_size}, "weight_map": weight_map}),
    )
}

pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The tensors a family's checkpoint holds, at tiny dimensions, with two layers.
pub fn tensors_of(family: &Family) -> Vec<(String, Vec<usize>)> {
    tensors_with_layers(family, 2)
}

/// The fewest layers (two at least) whose tensors fill `shards` files, one tensor each
/// at least: a 300-shard model has about as many layers as a 70B one.
fn layers_for(family: &Family, shards: usize) -> usize {
    let per_layer = tensors_with_layers(family, 3).len() - tensors_of(family).len();
    let fixed = tensors_of(family).len() - 2 * per_layer;
    match shards.saturating_sub(fixed) {
        0 => 2,
        needed => needed.div_ceil(per_layer.max(1)).max(2),
    }
}

/// The tensors of a family's checkpoint with `layers` layers, at tiny dimensions.
pub fn tensors_with_layers(family: &Family, layers: usize) -> Vec<(String, Vec<usize>)> {
    const H: usize = 16;
    const V: usize = 32;
    const I: usize = 32;
    const KV: usize = 8;
    let mut t: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: &[usize]| t.push((name, shape.to_vec()));
    let decoder_layers = |push: &mut dyn FnMut(String, &[usize]), moe: bool, mxfp4: bool| {
        push("model.embed_tokens.weight".into(), &[V, H]);
        for l in 0..layers {
            let p = format!("model.layers.{l}");
            for (proj, rows) in [("q_proj", H), ("k_proj", KV), ("v_proj", KV), ("o_proj", H)] {
                push(format!("{p}.self_attn.{proj}.weight"), &[rows, H]);
            }
            push(format!("{p}.input_layernorm.weight"), &[H]);
            push(format!("{p}.post_attention_layernorm.weight"), &[H]);
            if mxfp4 {
                push(format!("{p}.mlp.router.weight"), &[2, H]);
                push(
                    format!("{p}.mlp.experts.gate_up_proj_blocks"),
                    &[2, 2 * I, H / 16, 16],
                );
                push(
                    format!("{p}.mlp.experts.gate_up_proj_scales"),
                    &[2, 2 * I, H / 16],
                );
                push(
                    format!("{p}.mlp.experts.down_proj_blocks"),
                    &[2, H, I / 16, 16],
                );
                push(format!("{p}.mlp.experts.down_proj_scales"), &[2, H, I / 16]);
            } else if moe {
                push(format!("{p}.mlp.gate.weight"), &[2, H]);
                for e in 0..2 {
                    push(format!("{p}.mlp.experts.{e}.gate_proj.weight"), &[I, H]);
                    push(format!("{p}.mlp.experts.{e}.up_proj.weight"), &[I, H]);
                    push(format!("{p}.mlp.experts.{e}.down_proj.weight"), &[H, I]);
                }
            } else {
                push(format!("{p}.mlp.gate_proj.weight"), &[I, H]);
                push(format!("{p}.mlp.up_proj.weight"), &[I, H]);
                push(format!("{p}.mlp.down_proj.weight"), &[H, I]);
            }
        }
        push("model.norm.weight".into(), &[H]);
        push("lm_head.weight".into(), &[V, H]);
    };
    match family.layout {
        Layout::Decoder => decoder_layers(&mut push, false, false),
        Layout::MixtureOfExperts => decoder_layers(&mut push, true, family.key == "gpt-oss"),
        Layout::VisionLanguage => {
            decoder_layers(&mut push, false, false);
            push("visual.patch_embed.proj.weight".into(), &[H, 3, 2, 2, 2]);
            push("visual.blocks.0.attn.qkv.weight".into(), &[3 * H, H]);
            push("visual.blocks.0.attn.proj.weight".into(), &[H, H]);
            push("visual.blocks.0.mlp.fc1.weight".into(), &[I, H]);
            push("visual.blocks.0.mlp.fc2.weight".into(), &[H, I]);
            push("visual.merger.mlp.0.weight".into(), &[H, 4 * H]);
        }
        Layout::EncoderDecoder => {
            push("shared.weight".into(), &[V, H]);
            for side in ["encoder", "decoder"] {
                let p = format!("{side}.block.0.layer");
                for w in ["q", "k", "v", "o"] {
                    push(format!("{p}.0.SelfAttention.{w}.weight"), &[H, H]);
                }
                push(
                    format!("{p}.0.SelfAttention.relative_attention_bias.weight"),
                    &[32, 2],
                );
                push(format!("{p}.0.layer_norm.weight"), &[H]);
                let ff = if side == "decoder" {
                    for w in ["q", "k", "v", "o"] {
                        push(format!("{p}.1.EncDecAttention.{w}.weight"), &[H, H]);
                    }
                    push(format!("{p}.1.layer_norm.weight"), &[H]);
                    2
                } else {
                    1
                };
                push(format!("{p}.{ff}.DenseReluDense.wi_0.weight"), &[I, H]);
                push(format!("{p}.{ff}.DenseReluDense.wi_1.weight"), &[I, H]);
                push(format!("{p}.{ff}.DenseReluDense.wo.weight"), &[H, I]);
                push(format!("{p}.{ff}.layer_norm.weight"), &[H]);
                push(format!("{side}.final_layer_norm.weight"), &[H]);
            }
            push("lm_head.weight".into(), &[V, H]);
        }
        Layout::Gpt => {
            push("transformer.wte.weight".into(), &[V, H]);
            push("transformer.wpe.weight".into(), &[64, H]);
            for l in 0..layers {
                let p = format!("transformer.h.{l}");
                push(format!("{p}.ln_1.weight"), &[H]);
                push(format!("{p}.ln_1.bias"), &[H]);
                push(format!("{p}.attn.c_attn.weight"), &[H + 2 * KV, H]);
                push(format!("{p}.attn.c_attn.bias"), &[H + 2 * KV]);
                push(format!("{p}.attn.c_proj.weight"), &[H, H]);
                push(format!("{p}.ln_2.weight"), &[H]);
                push(format!("{p}.mlp.c_fc.weight"), &[4 * H, H]);
                push(format!("{p}.mlp.c_proj.weight"), &[H, 4 * H]);
            }
            push("transformer.ln_f.weight".into(), &[H]);
        }
        Layout::Encoder => {
            push("embeddings.word_embeddings.weight".into(), &[V, H]);
            push("embeddings.position_embeddings.weight".into(), &[64, H]);
            for w in ["query", "key", "value"] {
                push(
                    format!("encoder.layer.0.attention.self.{w}.weight"),
                    &[H, H],
                );
            }
            push("encoder.layer.0.intermediate.dense.weight".into(), &[I, H]);
            push("encoder.layer.0.output.dense.weight".into(), &[H, I]);
            push("pooler.dense.weight".into(), &[H, H]);
        }
    }
    t
}

fn write_tokenizer(dir: &Path, family: &Family) -> Result<()> {
    let sentencepiece = matches!(family.tokenizer, Tokenizer::SentencePiece | Tokenizer::T5);
    write_json(&dir.join("tokenizer.json"), &tokenizer_json(sentencepiece))?;
    let chat_template = "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}{% endfor %}";
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": family.tokenizer_class,
            "model_max_length": 1_000_000_000_000_000_019_884_624_838_656.0_f64,
            "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
            "add_bos_token": true, "clean_up_tokenization_spaces": false,
            "chat_template": chat_template
        }),
    )?;
    write_json(
        &dir.join("special_tokens_map.json"),
        &json!({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}),
    )?;
    match family.tokenizer {
        Tokenizer::FastOnly => {}
        Tokenizer::SentencePiece => fs::write(dir.join("tokenizer.model"), sentencepiece_model())?,
        Tokenizer::T5 => fs::write(dir.join("spiece.model"), sentencepiece_model())?,
        Tokenizer::Bpe => {
            write_json(&dir.join("vocab.json"), &vocab())?;
            fs::write(dir.join("merges.txt"), "#version: 0.2\nĠ t\nh e\n")?;
        }
        Tokenizer::WordPiece => {
            fs::write(dir.join("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")?
        }
    }
    Ok(())
}

fn vocab() -> Value {
    let tokens = ["<unk>", "<s>", "</s>", "Ġt", "he", "h", "e", "t", "Ġ"];
    Value::Object(
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), json!(i)))
            .collect(),
    )
}

fn tokenizer_json(sentencepiece: bool) -> Value {
    let (pre, decoder) = if sentencepiece {
        (
            json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}),
            json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}),
        )
    } else {
        (
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}),
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        )
    };
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [
            {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null, "pre_tokenizer": pre, "post_processor": null, "decoder": decoder,
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": sentencepiece, "byte_fallback": sentencepiece,
                  "vocab": vocab(), "merges": ["Ġ t", "h e"]}
    })
}

/// A small SentencePiece model protobuf: three pieces and a trainer spec.
fn sentencepiece_model() -> Vec<u8> {
    let mut out = Vec::new();
    for (piece, kind) in [("<unk>", 2u8), ("<s>", 3), ("</s>", 3)] {
        let mut inner = vec![0x0a, piece.len() as u8];
        inner.extend_from_slice(piece.as_bytes());
        inner.extend_from_slice(&[0x15, 0, 0, 0, 0, 0x18, kind]);
        out.push(0x0a);
        out.push(inner.len() as u8);
        out.extend(inner);
    }
    out.extend_from_slice(&[0x12, 0x04, 0x28, 0x20, 0x30, 0x01]);
    out
}

/// Deterministic, non-zero tensor bytes so that files differ by content.
fn pattern(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// Writes a safetensors file with any length prefix, header bytes and data length:
/// for hostile files. The data section is sparse (takes no disk).
pub fn write_raw_safetensors(
    path: &Path,
    declared_len: u64,
    header: &[u8],
    data_len: u64,
) -> Result<()> {
    let mut file = File::create(path)?;
    file.write_all(&declared_len.to_le_bytes())?;
    file.write_all(header)?;
    file.set_len(8 + header.len() as u64 + data_len)?;
    Ok(())
}

/// Writes a valid safetensors file whose data section is sparse: the header declares
/// `tensors` (name, dtype name, shape), laid out contiguously. Returns the header length.
pub fn write_sparse_safetensors(path: &Path, tensors: &[(String, &str, Vec<u64>)]) -> Result<u64> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * dtype_size(dtype);
        header.insert(
            name.clone(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_string(&Value::Object(header))?;
    // Like the safetensors library: pad with spaces so the data starts 8-byte aligned.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    write_raw_safetensors(path, text.len() as u64, text.as_bytes(), offset)?;
    Ok(text.len() as u64)
}

fn dtype_size(dtype: &str) -> u64 {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        _ => 1,
    }
}

/// Writes a model folder of `family` whose weights are sparse shards of `shard_bytes`
/// each (one BF16 tensor per shard plus norms): hundreds of GB that take no disk.
/// Returns the sum of the header lengths plus prefixes: what validation must read of them.
pub fn write_sparse_model(
    dir: &Path,
    family: &Family,
    shards: usize,
    shard_bytes: u64,
) -> Result<u64> {
    fs::create_dir_all(dir)?;
    write_json(&dir.join("config.json"), &family.config)?;
    write_tokenizer(dir, family)?;
    let mut weight_map = BTreeMap::new();
    let mut header_bytes = 0;
    for k in 1..=shards {
        let name = shard_name(k, shards);
        let tensors = vec![
            (
                format!("model.layers.{k}.mlp.weight"),
                "BF16",
                vec![shard_bytes / 2 / 4096, 4096],
            ),
            (
                format!("model.layers.{k}.input_layernorm.weight"),
                "BF16",
                vec![4096],
            ),
        ];
        for (tensor, _, _) in &tensors {
            weight_map.insert(tensor.clone(), name.clone());
        }
        header_bytes += 8 + write_sparse_safetensors(&dir.join(&name), &tensors)?;
    }
    if shards > 1 {
        write_index(dir, shards as u64 * shard_bytes, &weight_map)?;
    }
    Ok(header_bytes)
}

/// Llama 3.1 8B's real tensor layout: 291 tensors, 16.06 GB in BF16.
pub fn llama_3_1_8b_tensors() -> Vec<(String, &'static str, Vec<u64>)> {
    let (hidden, inter, vocab, kv) = (4096u64, 14336u64, 128_256u64, 1024u64);
    let mut t = vec![(
        "model.embed_tokens.weight".to_owned(),
        "BF16",
        vec![vocab, hidden],
    )];
    for l in 0..32 {
        let p = format!("model.layers.{l}");
        t.push((format!("{p}.input_layernorm.weight"), "BF16", vec![hidden]));
        t.push((
            format!("{p}.mlp.down_proj.weight"),
            "BF16",
            vec![hidden, inter],
        ));
        t.push((
            format!("{p}.mlp.gate_proj.weight"),
            "BF16",
            vec![inter, hidden],
        ));
        t.push((
            format!("{p}.mlp.up_proj.weight"),
            "BF16",
            vec![inter, hidden],
        ));
        t.push((
            format!("{p}.post_attention_layernorm.weight"),
            "BF16",
            vec![hidden],
        ));
        t.push((
            format!("{p}.self_attn.k_proj.weight"),
            "BF16",
            vec![kv, hidden],
        ));
        t.push((
            format!("{p}.self_attn.o_proj.weight"),
            "BF16",
            vec![hidden, hidden],
        ));
        t.push((
            format!("{p}.self_attn.q_proj.weight"),
            "BF16",
            vec![hidden, hidden],
        ));
        t.push((
            format!("{p}.self_attn.v_proj.weight"),
            "BF16",
            vec![kv, hidden],
        ));
    }
    t.push(("model.norm.weight".to_owned(), "BF16", vec![hidden]));
    t.push(("lm_head.weight".to_owned(), "BF16", vec![vocab, hidden]));
    t
}

/// Writes a Llama-3.1-8B-shaped folder (real config, tokenizer files, four sparse
/// shards with the real tensor layout, index): 16 GB that take a few KB of disk.
pub fn write_llama_3_1_8b_sparse(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let mut family = crate::families::family("llama-3.1");
    family.config = json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": false,
        "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
        "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
        "max_position_embeddings": 131072, "mlp_bias": false, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
        "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256
    });
    write_json(&dir.join("config.json"), &family.config)?;
    write_tokenizer(dir, &family)?;
    write_json(
        &dir.join("generation_config.json"),
        &json!({"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
                "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.43.0.dev0"}),
    )?;
    let tensors = llama_3_1_8b_tensors();
    let total: u64 = tensors
        .iter()
        .map(|(_, d, s)| s.iter().product::<u64>() * dtype_size(d))
        .sum();
    let target = total.div_ceil(4);
    let mut shards: Vec<Vec<(String, &str, Vec<u64>)>> = vec![Vec::new()];
    let mut size = 0;
    for tensor in tensors {
        let bytes = tensor.2.iter().product::<u64>() * dtype_size(tensor.1);
        if size + bytes > target && shards.len() < 4 && !shards.last().is_some_and(Vec::is_empty) {
            shards.push(Vec::new());
            size = 0;
        }
        size += bytes;
        shards.last_mut().context("no shard")?.push(tensor);
    }
    let of = shards.len();
    let mut weight_map = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = shard_name(i + 1, of);
        for (tensor, _, _) in shard {
            weight_map.insert(tensor.clone(), name.clone());
        }
        write_sparse_safetensors(&dir.join(&name), shard)?;
    }
    write_index(dir, total, &weight_map)
}
