//! Validation of whole model folders written by the test kit.

use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use ferry_core::{
    validate, Code, FileEntry, FolderSource, LocalFolder, Report, SourceError, ValidateOptions,
};
use ferry_testkit::families::{self, family};
use ferry_testkit::fixtures::{
    self, write_model, write_raw_safetensors, write_sparse_model, write_sparse_safetensors,
};

/// Wraps a source and records every read, to prove what validation touches.
struct Recording<S> {
    inner: S,
    reads: Mutex<Vec<(String, Range<u64>)>>,
}

impl<S: FolderSource> FolderSource for Recording<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn list(&self) -> Result<Vec<FileEntry>, SourceError> {
        self.inner.list().await
    }
    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, SourceError> {
        self.reads
            .lock()
            .unwrap()
            .push((path.to_owned(), range.clone()));
        self.inner.read_range(path, range).await
    }
}

async fn run(dir: &Path) -> Report {
    let folder = LocalFolder::open(dir).unwrap();
    validate(&folder, &ValidateOptions::default())
        .await
        .unwrap()
}

/// Runs validation recording reads; asserts no read of a weight file goes past its
/// header, and that `bytes_read` is exactly the sum of the reads.
async fn run_recorded(dir: &Path) -> Report {
    let source = Recording {
        inner: LocalFolder::open(dir).unwrap(),
        reads: Mutex::default(),
    };
    let report = validate(&source, &ValidateOptions::default())
        .await
        .unwrap();
    let reads = source.reads.into_inner().unwrap();
    let mut total = 0;
    for (path, range) in &reads {
        total += range.end - range.start;
        if path.ends_with(".safetensors") {
            let header_end = 8 + header_len_on_disk(&dir.join(path)).min(100_000_000);
            assert!(
                range.end <= header_end,
                "read {path} {range:?} past its header (ends at {header_end})"
            );
        }
    }
    assert_eq!(
        report.bytes_read, total,
        "bytes_read must count every byte read"
    );
    report
}

fn header_len_on_disk(path: &Path) -> u64 {
    use std::io::Read;
    let mut prefix = [0u8; 8];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut prefix)) {
        Ok(()) => u64::from_le_bytes(prefix),
        Err(_) => 0, // shorter than a prefix: nothing past byte 8 may be read
    }
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

fn finding(report: &Report, code: Code) -> &ferry_core::Finding {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code:?} in {:#?}", report.findings))
}

#[tokio::test]
async fn a_300_shard_model_has_300_weight_files_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_model(dir.path(), &families::family("llama-3.1"), 300).unwrap();
    assert_eq!(written.weight_files.len(), 300);
    let report = run_recorded(dir.path()).await;
    assert!(report.ok, "{:#?}", report.findings);
}

#[tokio::test]
async fn every_supported_family_passes_single_and_sharded() {
    for fam in families::supported() {
        for shards in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let written = write_model(dir.path(), &fam, shards).unwrap();
            let report = run_recorded(dir.path()).await;
            let label = format!("{} ({shards} shard(s))", fam.key);
            assert!(report.ok, "{label}: {:#?}", report.findings);
            let expected_warnings: &[&str] = if fam.key == "gpt-oss" {
                &["unusual-dtype"]
            } else {
                &[]
            };
            let mut warnings = codes(&report);
            warnings.dedup();
            assert_eq!(warnings, expected_warnings, "{label}");
            assert_eq!(
                report.architecture.as_deref(),
                fam.config["architectures"][0].as_str(),
                "{label}"
            );
            assert_eq!(
                report.model_type.as_deref(),
                fam.config["model_type"].as_str(),
                "{label}"
            );
            assert_eq!(report.weight_files, written.weight_files.len(), "{label}");
            let weight_bytes: u64 = written
                .weight_files
                .iter()
                .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
                .sum();
            assert_eq!(report.total_bytes, weight_bytes, "{label}");
            assert!(
                report.family.is_some() && report.context_length.is_some(),
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn multimodal_families_are_marked() {
    for key in ["mllama", "qwen2-vl", "qwen2.5-vl"] {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family(key), 1).unwrap();
        assert!(run(dir.path()).await.multimodal, "{key}");
    }
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    assert!(!run(dir.path()).await.multimodal);
}

#[tokio::test]
async fn unsupported_families_are_refused_with_the_reason() {
    for (fam, reason) in families::unsupported() {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &fam, 1).unwrap();
        let report = run(dir.path()).await;
        assert!(!report.ok, "{}", fam.key);
        let f = finding(&report, Code::UnsupportedArchitecture);
        assert_eq!(f.file.as_deref(), Some("config.json"));
        assert!(f.message.contains(reason), "{}: {}", fam.key, f.message);
        assert_eq!(report.errors(), 1, "{}: {:#?}", fam.key, report.findings);
    }
}

#[tokio::test]
async fn a_sentence_transformers_package_is_an_embedding_model() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen3"), 1).unwrap();
    std::fs::write(
        dir.path().join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"}]"#,
    )
    .unwrap();
    let report = run(dir.path()).await;
    assert!(finding(&report, Code::UnsupportedArchitecture)
        .message
        .contains("embedding"));
}

#[tokio::test]
async fn an_empty_folder_is_judged_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_recorded(dir.path()).await;
    assert!(!report.ok);
    assert_eq!(
        codes(&report),
        ["missing-config", "missing-tokenizer", "missing-weights"]
    );
    assert_eq!(
        (report.files, report.total_bytes, report.bytes_read),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn config_problems() {
    let cases: &[(&[u8], &str)] = &[
        (b"[1,2]", "not an object"),
        (b"{\"a\":", "not valid JSON"),
        (b"", "not valid JSON"),
    ];
    for (content, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family("mistral"), 1).unwrap();
        std::fs::write(dir.path().join("config.json"), content).unwrap();
        let report = run(dir.path()).await;
        assert_eq!(codes(&report), ["missing-config"]);
        assert!(
            report.findings[0].message.contains(expected),
            "{}",
            report.findings[0].message
        );
        assert_eq!(report.architecture, None);
    }
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("inner"), &family("mistral"), 1).unwrap();
    let report = run(dir.path()).await;
    assert!(finding(&report, Code::MissingConfig)
        .message
        .contains("inner/config.json exists"));
}

#[tokio::test]
async fn context_limit_is_131072_from_the_family_field() {
    let cases = [
        ("llama-3.1", "max_position_embeddings", 131_072, true),
        ("llama-3.1", "max_position_embeddings", 131_073, false),
        ("qwen3", "max_position_embeddings", 262_144, false),
        ("gpt-bigcode", "n_positions", 200_000, false),
    ];
    for (key, field, value, ok) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut fam = family(key);
        fam.config[field] = value.into();
        write_model(dir.path(), &fam, 1).unwrap();
        let report = run(dir.path()).await;
        assert_eq!(
            report.ok, ok,
            "{key} {field}={value}: {:#?}",
            report.findings
        );
        assert_eq!(report.context_length, Some(value));
        if !ok {
            let f = finding(&report, Code::ContextTooLong);
            assert!(
                f.message.contains(field) && f.message.contains(&value.to_string()),
                "{}",
                f.message
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut mllama = family("mllama");
    mllama.config["text_config"]["max_position_embeddings"] = 524_288.into();
    write_model(dir.path(), &mllama, 1).unwrap();
    assert!(run(dir.path()).await.has(Code::ContextTooLong));
}

#[tokio::test]
async fn tokenizer_presence() {
    let remove = |dir: &Path, names: &[&str]| {
        for n in names {
            std::fs::remove_file(dir.join(n)).unwrap();
        }
    };
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen2.5"), 1).unwrap();
    remove(dir.path(), &["tokenizer.json", "merges.txt"]);
    let report = run(dir.path()).await;
    assert!(finding(&report, Code::MissingTokenizer)
        .message
        .contains("without merges.txt"));

    // vocab.json + merges.txt alone is a tokenizer; so is tokenizer.model or spiece.model alone.
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen2.5"), 1).unwrap();
    remove(dir.path(), &["tokenizer.json"]);
    assert!(run(dir.path()).await.ok);
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("flan-t5"), 1).unwrap();
    remove(dir.path(), &["tokenizer.json"]);
    assert!(run(dir.path()).await.ok);
}

#[tokio::test]
async fn other_weight_formats_are_missing_weights() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 1).unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let bin = std::fs::File::create(dir.path().join("pytorch_model.bin")).unwrap();
    bin.set_len(3 * 1024 * 1024).unwrap();
    let report = run(dir.path()).await;
    assert_eq!(codes(&report), ["missing-weights", "unexpected-file"]);
    assert!(report.findings[0].message.contains("pytorch_model.bin"));
    assert_eq!(
        report.findings[1].file.as_deref(),
        Some("pytorch_model.bin")
    );
}

#[tokio::test]
async fn a_missing_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 4).unwrap();
    std::fs::remove_file(dir.path().join("model-00004-of-00004.safetensors")).unwrap();
    let report = run_recorded(dir.path()).await;
    assert!(!report.ok);
    assert_eq!(codes(&report), ["incomplete-shards"]);
    let f = &report.findings[0];
    assert_eq!(f.file.as_deref(), Some("model.safetensors.index.json"));
    assert_eq!(
        f.message,
        "the index names model-00004-of-00004.safetensors, which is not in the folder"
    );
}

#[tokio::test]
async fn index_and_headers_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("qwen3"), 2).unwrap();
    let index_path = dir.path().join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    // A tensor the index places in shard 1 that shard 1 does not hold, and one moved.
    index["weight_map"]["model.layers.9.mlp.up_proj.weight"] =
        "model-00001-of-00002.safetensors".into();
    index["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors".into();
    fixtures::write_json(&index_path, &index).unwrap();
    let report = run(dir.path()).await;
    assert_eq!(codes(&report), ["incomplete-shards"]);
    let f = &report.findings[0];
    assert_eq!(f.file.as_deref(), Some("model-00001-of-00002.safetensors"));
    assert!(
        f.message.starts_with("2 tensor(s)") && f.message.contains("lm_head.weight"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn broken_indexes() {
    for (content, expected) in [
        ("{}", "no \"weight_map\""),
        ("nope", "not valid JSON"),
        (r#"{"weight_map":{"a":1}}"#, "not to a shard"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family("mistral"), 2).unwrap();
        std::fs::write(dir.path().join("model.safetensors.index.json"), content).unwrap();
        let report = run(dir.path()).await;
        let f = finding(&report, Code::IncompleteShards);
        assert!(f.message.contains(expected), "{content}: {}", f.message);
    }
}

#[tokio::test]
async fn shards_without_index_and_orphan_files_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 3).unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors.index.json")).unwrap();
    std::fs::remove_file(dir.path().join("model-00003-of-00003.safetensors")).unwrap();
    let report = run(dir.path()).await;
    assert!(report.ok);
    let f = finding(&report, Code::MissingIndex);
    assert!(
        f.message.contains("say 3 shards but 2 are here"),
        "{}",
        f.message
    );

    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 2).unwrap();
    std::fs::copy(
        dir.path().join("model-00001-of-00002.safetensors"),
        dir.path().join("extra.safetensors"),
    )
    .unwrap();
    let report = run(dir.path()).await;
    assert_eq!(codes(&report), ["unindexed-weights"]);
    assert_eq!(
        report.findings[0].file.as_deref(),
        Some("extra.safetensors")
    );
}

#[tokio::test]
async fn hostile_headers_are_invalid_safetensors_without_reading_data() {
    let giant = 1u64 << 40;
    let one = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_vec();
    let overlap = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#.to_vec();
    // (label, declared header length (None: the real one), header, data bytes, message)
    type Case = (&'static str, Option<u64>, Vec<u8>, u64, &'static str);
    let cases: Vec<Case> = vec![
        ("huge length", Some(u64::MAX), b"{}".to_vec(), 0, "limit"),
        (
            "length just over the cap",
            Some(100_000_001),
            b"{}".to_vec(),
            0,
            "limit",
        ),
        (
            "length past the end",
            Some(50_000),
            b"{}".to_vec(),
            0,
            "only",
        ),
        ("not JSON", None, b"not json!".to_vec(), 0, "does not start"),
        (
            "truncated JSON",
            None,
            b"{\"a\":{".to_vec(),
            0,
            "not valid JSON",
        ),
        ("offsets past the end", None, one.clone(), 4, "truncated"),
        ("overlapping", None, overlap, 12, "overlapping"),
        (
            "giant sparse file with a lying header",
            None,
            one,
            giant,
            "longer than",
        ),
    ];
    for (label, declared, header, data_len, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
        let weights = dir.path().join("model.safetensors");
        write_raw_safetensors(
            &weights,
            declared.unwrap_or(header.len() as u64),
            &header,
            data_len,
        )
        .unwrap();
        let report = run_recorded(dir.path()).await;
        assert!(!report.ok, "{label}");
        let f = finding(&report, Code::InvalidSafetensors);
        assert_eq!(f.file.as_deref(), Some("model.safetensors"), "{label}");
        assert!(f.message.contains(expected), "{label}: {}", f.message);
        if declared.is_some() {
            let config = std::fs::metadata(dir.path().join("config.json"))
                .unwrap()
                .len();
            assert_eq!(
                report.bytes_read,
                config + 8,
                "{label}: only the length prefix is read"
            );
        }
    }
}

#[tokio::test]
async fn a_file_shorter_than_the_length_prefix_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"abc").unwrap();
    let report = run_recorded(dir.path()).await;
    assert!(finding(&report, Code::InvalidSafetensors)
        .message
        .contains("3 bytes"));
}

#[tokio::test]
async fn a_multi_gigabyte_sparse_shard_costs_only_its_header() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    let tensors = vec![
        (
            "model.embed_tokens.weight".to_owned(),
            "BF16",
            vec![128_256, 4096],
        ),
        (
            "model.layers.0.mlp.up_proj.weight".to_owned(),
            "BF16",
            vec![14_336, 4096 * 16],
        ),
    ];
    let header_len =
        write_sparse_safetensors(&dir.path().join("model.safetensors"), &tensors).unwrap();
    let size = std::fs::metadata(dir.path().join("model.safetensors"))
        .unwrap()
        .len();
    assert!(size > 2_000_000_000, "the shard is {size} bytes");
    let report = run_recorded(dir.path()).await;
    assert!(report.ok, "{:#?}", report.findings);
    let small_files = std::fs::metadata(dir.path().join("config.json"))
        .unwrap()
        .len();
    assert_eq!(report.bytes_read, small_files + 8 + header_len);
}

#[tokio::test]
async fn size_limits_at_200_and_100_gb() {
    // (family, shards, bytes per shard, too large?)
    let cases = [
        ("llama-3.1", 4, 50_000_000_000u64, true), // 200.0 GB plus norms: refused
        ("llama-3.1", 4, 49_000_000_000, false),   // 196 GB
        ("qwen2-vl", 2, 50_000_000_000, true),     // multimodal, 100 GB
        ("qwen2-vl", 2, 49_000_000_000, false),
        ("mixtral", 30, 8_000_000_000, true), // 240 GB
    ];
    for (key, shards, shard_bytes, too_large) in cases {
        let dir = tempfile::tempdir().unwrap();
        let header_bytes =
            write_sparse_model(dir.path(), &family(key), shards, shard_bytes).unwrap();
        let report = run_recorded(dir.path()).await;
        assert_eq!(
            report.has(Code::TooLarge),
            too_large,
            "{key} {shards}x{shard_bytes}: {:#?}",
            report.findings
        );
        assert_eq!(report.ok, !too_large, "{key}");
        let small = ["config.json", "model.safetensors.index.json"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum::<u64>();
        assert_eq!(
            report.bytes_read,
            small + header_bytes,
            "{key}: headers and small files only"
        );
    }
}

#[tokio::test]
async fn large_files_bedrock_ignores_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    std::fs::create_dir(dir.path().join("original")).unwrap();
    std::fs::File::create(dir.path().join("original/consolidated.00.pth"))
        .unwrap()
        .set_len(16_060_000_000)
        .unwrap();
    std::fs::File::create(dir.path().join("notes.txt"))
        .unwrap()
        .set_len(1024 * 1024 - 1)
        .unwrap();
    std::fs::File::create(dir.path().join("optimizer.pt"))
        .unwrap()
        .set_len(1024 * 1024)
        .unwrap();
    let report = run(dir.path()).await;
    assert!(report.ok);
    let files: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.file.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        files,
        [
            ("unexpected-file", "optimizer.pt"),
            ("unexpected-file", "original/consolidated.00.pth")
        ]
    );
    assert!(report.findings[1].message.contains("16.06 GB"));
}

#[tokio::test]
async fn every_finding_is_reported_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut fam = family("gpt2");
    fam.config["n_positions"] = 1_000_000.into();
    write_model(dir.path(), &fam, 3).unwrap();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    std::fs::remove_file(dir.path().join("vocab.json")).unwrap();
    std::fs::remove_file(dir.path().join("model-00002-of-00003.safetensors")).unwrap();
    write_raw_safetensors(
        &dir.path().join("model-00003-of-00003.safetensors"),
        2,
        b"{}",
        5,
    )
    .unwrap();
    let report = run(dir.path()).await;
    assert_eq!(
        codes(&report),
        [
            "unsupported-architecture",
            "context-too-long",
            "missing-tokenizer",
            "invalid-safetensors",
            "incomplete-shards"
        ]
    );
}

#[tokio::test]
async fn concurrency_one_and_progress_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mixtral"), 7).unwrap();
    let folder = LocalFolder::open(dir.path()).unwrap();
    let calls = Mutex::new(Vec::new());
    let progress = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
    let serial = validate(
        &folder,
        &ValidateOptions {
            concurrency: 1,
            progress: Some(&progress),
            region: None,
        },
    )
    .await
    .unwrap();
    let parallel = validate(&folder, &ValidateOptions::default())
        .await
        .unwrap();
    assert_eq!(serial, parallel);
    assert_eq!(
        calls.into_inner().unwrap(),
        (1..=7).map(|d| (d, 7)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn region_limited_families_are_judged_when_the_region_is_known() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("gpt-oss"), 1).unwrap();
    let folder = LocalFolder::open(dir.path()).unwrap();
    let judge = |region: Option<&str>| ValidateOptions {
        region: region.map(str::to_owned),
        ..Default::default()
    };
    let elsewhere = validate(&folder, &judge(Some("us-west-2"))).await.unwrap();
    assert!(!elsewhere.ok);
    assert!(finding(&elsewhere, Code::UnsupportedRegion)
        .message
        .contains("us-east-1"));
    assert!(
        validate(&folder, &judge(Some("us-east-1")))
            .await
            .unwrap()
            .ok
    );
    assert!(validate(&folder, &judge(None)).await.unwrap().ok);
}

/// A Llama folder whose weights are `headers` (name, header JSON, data bytes) and,
/// when given, this index.
fn hostile_folder(headers: &[(&str, String, u64)], index: Option<String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    for (name, header, data) in headers {
        write_raw_safetensors(
            &dir.path().join(name),
            header.len() as u64,
            header.as_bytes(),
            *data,
        )
        .unwrap();
    }
    if let Some(index) = index {
        std::fs::write(dir.path().join("model.safetensors.index.json"), index).unwrap();
    }
    dir
}

/// A header of `n` zero-size tensors named `{prefix}{i}`.
fn zero_size_header(prefix: &str, n: usize) -> String {
    let body: Vec<String> = (0..n)
        .map(|i| format!(r#""{prefix}{i}":{{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}}"#))
        .collect();
    format!("{{{}}}", body.join(","))
}

const ONE_TENSOR: &str = r#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;

#[tokio::test]
async fn an_index_naming_a_million_absent_shards_is_one_finding() {
    let mut index = String::from(r#"{"weight_map":{"w":"model.safetensors""#);
    for i in 1..=300_000 {
        index.push_str(&format!(r#","t{i}":"s{i}.safetensors""#));
    }
    index.push_str("}}");
    let dir = hostile_folder(&[("model.safetensors", ONE_TENSOR.into(), 4)], Some(index));
    let report = run(dir.path()).await;
    assert_eq!(codes(&report), ["incomplete-shards"]);
    assert_eq!(
        report.findings[0].message,
        "300,000 shards named by the index are absent: s1.safetensors, s10.safetensors, \
         s100.safetensors and 299,997 more"
    );
    assert!(serde_json::to_vec(&report).unwrap().len() < 2_000);
}

#[tokio::test]
async fn findings_of_one_code_are_capped_and_summed_up() {
    let weights: Vec<(String, String, u64)> = (0..50)
        .map(|i| (format!("w{i:02}.safetensors"), "not json".to_owned(), 0))
        .collect();
    let refs: Vec<(&str, String, u64)> = weights
        .iter()
        .map(|(n, h, d)| (n.as_str(), h.clone(), *d))
        .collect();
    let report = run(hostile_folder(&refs, None).path()).await;
    let invalid: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code == Code::InvalidSafetensors)
        .collect();
    assert_eq!(
        invalid.len(),
        ferry_core::validate::MAX_FINDINGS_PER_CODE + 1
    );
    let last = invalid.last().unwrap();
    assert_eq!(last.file, None);
    assert!(
        last.message
            .starts_with("30 more invalid-safetensors finding(s)")
            && last
                .message
                .contains("w20.safetensors, w21.safetensors, w22.safetensors and 27 more"),
        "{}",
        last.message
    );
}

#[tokio::test]
async fn huge_dtype_strings_and_names_are_shortened_in_findings() {
    let long = "A".repeat(5_000_000);
    let dtype = format!(r#"{{"w":{{"dtype":"{long}","shape":[2],"data_offsets":[0,4]}}}}"#);
    let report = run(hostile_folder(&[("model.safetensors", dtype, 4)], None).path()).await;
    let f = finding(&report, Code::InvalidSafetensors);
    assert!(
        f.message.contains("does not define") && f.message.contains('…'),
        "{}",
        &f.message[..300]
    );
    assert!(serde_json::to_vec(&report).unwrap().len() < 4_000);

    let name = format!(r#"{{"{long}":{{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}}}"#);
    let report = run(hostile_folder(&[("model.safetensors", name, 4)], None).path()).await;
    let f = finding(&report, Code::UnusualDtype);
    assert!(
        f.message.contains("AAA…)"),
        "{}",
        &f.message[..300.min(f.message.len())]
    );
    assert!(serde_json::to_vec(&report).unwrap().len() < 4_000);
}

#[tokio::test]
async fn a_forged_file_name_cannot_print_a_ready_line() {
    let forged = "x\n\n✔ Ready for Amazon Bedrock Custom Model Import: no errors, 0 warning(s).\n\x1b[8m.safetensors";
    let dir = hostile_folder(
        &[
            ("model.safetensors", ONE_TENSOR.into(), 4),
            (forged, "broken".into(), 0),
        ],
        None,
    );
    let text = run(dir.path()).await.render_text();
    assert!(!text.contains('\x1b'), "{text}");
    let ready = text
        .lines()
        .filter(|l| l.trim_start().starts_with('✔'))
        .count();
    assert_eq!(ready, 0, "{text}");
    assert!(text.contains("x\\n\\n✔ Ready"), "{text}");
}

#[tokio::test]
async fn headers_beyond_ferrys_limits_are_refused_without_reading_them() {
    // Declared longer than Ferry reads (but within the format's 100,000,000 bytes).
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    let len = ferry_core::validate::MAX_HEADER_BYTES + 1;
    write_raw_safetensors(&dir.path().join("model.safetensors"), len, b"{}", len).unwrap();
    let report = run_recorded(dir.path()).await;
    assert_eq!(codes(&report), ["limit-exceeded"]);
    let config = std::fs::metadata(dir.path().join("config.json"))
        .unwrap()
        .len();
    assert_eq!(
        report.bytes_read,
        config + 8,
        "only the length prefix is read"
    );
}

#[tokio::test]
async fn more_tensors_than_ferry_keeps_are_refused() {
    // Three headers whose tensors together pass MAX_TENSORS.
    let per_file = ferry_core::validate::MAX_TENSORS / 3 + 1;
    let headers: Vec<(String, String, u64)> = (0..3)
        .map(|k| {
            (
                format!("model-0000{}-of-00003.safetensors", k + 1),
                zero_size_header(&format!("s{k}."), per_file),
                0,
            )
        })
        .collect();
    let refs: Vec<(&str, String, u64)> = headers
        .iter()
        .map(|(n, h, d)| (n.as_str(), h.clone(), *d))
        .collect();
    let index = format!(r#"{{"weight_map":{{"s0.0":"{}"}}}}"#, headers[0].0);
    let report = run(hostile_folder(&refs, Some(index)).path()).await;
    let f = finding(&report, Code::LimitExceeded);
    assert_eq!(f.file, None);
    assert!(f.message.contains("1,000,002 tensors"), "{}", f.message);
    assert!(!report.ok);
}

#[tokio::test]
async fn an_empty_weight_map_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("mistral"), 2).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"metadata":{},"weight_map":{}}"#,
    )
    .unwrap();
    let report = run(dir.path()).await;
    assert!(!report.ok, "{:#?}", report.findings);
    let f = finding(&report, Code::IncompleteShards);
    assert!(f.message.contains("names none of the 2"), "{}", f.message);
}

#[tokio::test]
async fn weights_without_tensors_are_missing_weights() {
    let report = run(hostile_folder(&[("model.safetensors", "{}".into(), 0)], None).path()).await;
    assert!(!report.ok);
    assert_eq!(codes(&report), ["missing-weights"]);
    assert!(report.findings[0].message.contains("declare no tensors"));
}

#[tokio::test]
async fn odd_context_values_are_judged_as_bedrock_would() {
    let cases: &[(&str, &str)] = &[
        (r#""1000000""#, "context-too-long"),
        ("200000.5", "context-too-long"),
        ("1e400", "context-too-long"),
        ("-1", "invalid-context"),
        (r#""8192""#, "unreadable-context"),
    ];
    for (value, code) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
        let path = dir.path().join("config.json");
        let config = std::fs::read_to_string(&path).unwrap();
        let config = config.replacen(
            "\"max_position_embeddings\": 131072",
            &format!("\"max_position_embeddings\": {value}"),
            1,
        );
        assert!(
            config.contains(value),
            "the fixture writes the field differently"
        );
        std::fs::write(&path, config).unwrap();
        let report = run(dir.path()).await;
        assert_eq!(codes(&report), [*code], "{value}: {:#?}", report.findings);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_weight_file_whose_name_is_not_utf8_is_counted_and_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    let before = run(dir.path()).await.total_bytes;
    let name = std::ffi::OsStr::from_bytes(b"extra-\xff.safetensors");
    write_raw_safetensors(
        &dir.path().join(name),
        ONE_TENSOR.len() as u64,
        ONE_TENSOR.as_bytes(),
        4,
    )
    .unwrap();
    let report = run(dir.path()).await;
    assert!(!report.ok);
    let f = finding(&report, Code::InvalidFileName);
    assert_eq!(f.file.as_deref(), Some("extra-\\xFF.safetensors"));
    let size = 8 + ONE_TENSOR.len() as u64 + 4;
    assert_eq!(
        report.total_bytes,
        before + size,
        "the file counts in the size"
    );
    assert_eq!(report.weight_files, 2);
}

/// Two names that differ only in bytes that are not UTF-8 stay two files (both were
/// listed as `extra-\u{fffd}.safetensors`, read the same file at two sizes, and
/// validation stopped with a read error).
#[cfg(unix)]
#[tokio::test]
async fn names_that_differ_only_in_undecodable_bytes_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    for (name, padding) in [
        (&b"extra-\xff.safetensors"[..], 4),
        (&b"extra-\xfe.safetensors"[..], 12),
    ] {
        write_raw_safetensors(
            &dir.path().join(std::ffi::OsStr::from_bytes(name)),
            ONE_TENSOR.len() as u64,
            ONE_TENSOR.as_bytes(),
            padding,
        )
        .unwrap();
    }
    let report = run(dir.path()).await;
    let named: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == Code::InvalidFileName)
        .filter_map(|f| f.file.as_deref())
        .collect();
    assert_eq!(
        named,
        ["extra-\\xFE.safetensors", "extra-\\xFF.safetensors"],
        "{:#?}",
        report.findings
    );
    assert_eq!(report.weight_files, 3);
}

/// A folder of more weight files than Ferry judges is refused before any header is read
/// (each judged header keeps about a kilobyte).
#[tokio::test]
async fn more_weight_files_than_ferry_judges_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &family("llama-3.1"), 1).unwrap();
    for n in 0..ferry_core::validate::MAX_WEIGHT_FILES {
        // Empty: reading any of their headers would be an invalid-safetensors finding.
        std::fs::write(dir.path().join(format!("extra-{n:05}.safetensors")), b"").unwrap();
    }
    let report = run(dir.path()).await;
    assert!(!report.ok);
    assert_eq!(codes(&report), ["limit-exceeded"], "{:#?}", report.findings);
    assert!(report.findings[0]
        .message
        .contains("10,001 .safetensors files"));
}
