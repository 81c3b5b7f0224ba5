//! Hostile-but-valid folders: the most a folder can hold within Ferry's documented caps,
//! judged by the real `ferry validate` process. Each must stay within the importer's
//! 128 MB of Lambda memory (peak RSS of the process) and give a report of at most
//! 1 MiB, whatever the folder holds. These are invariants: the bench fails on them.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;

/// The importer's Lambda memory: every hostile folder is judged within it.
pub const PEAK_RSS_LIMIT_BYTES: u64 = 128 * 1_000_000;
/// The largest report any folder may produce.
pub const REPORT_LIMIT_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Serialize)]
pub struct Hostile {
    pub case: String,
    /// What the folder holds, in a few words.
    pub holds: String,
    pub folder_bytes: u64,
    pub peak_rss_bytes: u64,
    pub report_bytes: u64,
    pub millis: f64,
    pub exit_status: i32,
    /// The report's finding codes, each once, in order of first appearance.
    pub codes: Vec<String>,
    /// Codes the verdict must hold, and codes it must not: a case that a limit stops
    /// early, or that fails for another reason, must not pass as measured.
    #[serde(skip)]
    pub must: &'static [&'static str],
    #[serde(skip)]
    pub must_not: &'static [&'static str],
}

impl Hostile {
    /// The bounds this case broke, as sentences; empty when it kept them all.
    pub fn broken(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.peak_rss_bytes > PEAK_RSS_LIMIT_BYTES {
            broken.push(format!(
                "hostile folder {:?}: peak RSS {} bytes, over the {PEAK_RSS_LIMIT_BYTES}-byte bound",
                self.case, self.peak_rss_bytes
            ));
        }
        if self.report_bytes > REPORT_LIMIT_BYTES {
            broken.push(format!(
                "hostile folder {:?}: a {}-byte report, over the {REPORT_LIMIT_BYTES}-byte bound",
                self.case, self.report_bytes
            ));
        }
        for code in self.must {
            if !self.codes.iter().any(|c| c == code) {
                broken.push(format!(
                    "hostile folder {:?}: no {code} finding (codes: {:?}): the case did not test what it should",
                    self.case, self.codes
                ));
            }
        }
        for code in self.must_not {
            if self.codes.iter().any(|c| c == code) {
                broken.push(format!(
                    "hostile folder {:?}: a {code} finding: a limit stopped the case before it was judged",
                    self.case
                ));
            }
        }
        if !matches!(self.exit_status, 0 | 1) {
            broken.push(format!(
                "hostile folder {:?}: ferry validate exited {} (0 or 1 expected: a verdict)",
                self.case, self.exit_status
            ));
        }
        broken
    }
}

/// How big the hostile folders are: the issue's sizes, or smaller ones for CI.
pub struct Scale {
    /// Shards of zero-size tensors, and tensors per shard (all named by an index).
    pub tensor_shards: usize,
    pub tensors_per_shard: usize,
    /// Weight files with a ~30 MB header each (no index).
    pub big_headers: usize,
    pub big_header_tensors: usize,
    /// Distinct absent shards the index names.
    pub absent_shards: usize,
    /// Length of the hostile dtype string and tensor name (under Ferry's 32 MiB header
    /// limit, so that the header is parsed and the value echoed).
    pub huge_string: usize,
}

impl Scale {
    pub fn full() -> Self {
        Scale {
            tensor_shards: 3,
            tensors_per_shard: 300_000,
            big_headers: 12,
            big_header_tensors: 350_000,
            absent_shards: 1_300_000,
            huge_string: 30_000_000,
        }
    }

    pub fn quick() -> Self {
        Scale {
            tensor_shards: 2,
            tensors_per_shard: 100_000,
            big_headers: 0,
            big_header_tensors: 0,
            absent_shards: 300_000,
            huge_string: 20_000_000,
        }
    }
}

/// Writes one hostile folder into the given directory.
type Writer<'a> = Box<dyn Fn(&Path) -> Result<()> + 'a>;

/// Codes a verdict must (or must not) hold.
type Codes = &'static [&'static str];

/// One hostile folder: what it holds, how to write it, and the codes its verdict must
/// and must not hold.
struct Case<'a> {
    name: &'static str,
    holds: String,
    write: Writer<'a>,
    must: Codes,
    must_not: Codes,
}

/// Builds each hostile folder and runs `ferry validate --format json` on it.
pub fn measure(scale: &Scale) -> Result<Vec<Hostile>> {
    let ferry = ferry_local_lambda::workspace_binary("ferry")?;
    let mut rows = Vec::new();
    for case in cases(scale) {
        if case.name == "big headers" && scale.big_headers == 0 {
            continue;
        }
        rows.push(measure_case(&ferry, case)?);
    }
    Ok(rows)
}

/// The hostile folders at `scale`, in the report's order.
fn cases(scale: &Scale) -> Vec<Case<'_>> {
    vec![
        Case {
            name: "many tensors, index naming them all",
            holds: format!(
                "{} shards of {} zero-size tensors, an index of {} entries",
                scale.tensor_shards,
                scale.tensors_per_shard,
                scale.tensor_shards * scale.tensors_per_shard
            ),
            write: Box::new(|dir| {
                many_tensors(dir, scale.tensor_shards, scale.tensors_per_shard, true)
            }),
            must: &[],
            must_not: &["limit-exceeded", "incomplete-shards", "invalid-safetensors"],
        },
        Case {
            name: "big headers",
            holds: format!(
                "{} weight files of {} zero-size tensors each",
                scale.big_headers, scale.big_header_tensors
            ),
            write: Box::new(|dir| {
                many_tensors(dir, scale.big_headers, scale.big_header_tensors, false)
            }),
            must: &[],
            must_not: &["invalid-safetensors"],
        },
        Case {
            name: "index naming absent shards",
            holds: format!(
                "an index naming {} distinct absent shards",
                scale.absent_shards
            ),
            write: Box::new(|dir| absent_shards(dir, scale.absent_shards)),
            must: &["incomplete-shards"],
            must_not: &["limit-exceeded"],
        },
        Case {
            name: "huge dtype string",
            holds: format!("a dtype string of {} bytes", scale.huge_string),
            write: Box::new(|dir| huge_string(dir, scale.huge_string, true)),
            must: &["invalid-safetensors"],
            must_not: &["limit-exceeded"],
        },
        Case {
            name: "huge tensor name",
            holds: format!("a tensor name of {} bytes", scale.huge_string),
            write: Box::new(|dir| huge_string(dir, scale.huge_string, false)),
            must: &[],
            must_not: &["limit-exceeded"],
        },
        Case {
            name: "dense config",
            holds: "a config.json of 1 MiB, a list of 500,000 zeros".to_owned(),
            write: Box::new(dense_config),
            must: &[],
            must_not: &[],
        },
    ]
}

/// Writes the case's folder in a scratch directory and measures `ferry` on it.
fn measure_case(ferry: &Path, case: Case) -> Result<Hostile> {
    let name = case.name;
    let root = tempfile::tempdir()?;
    let dir = root.path().join("hostile");
    std::fs::create_dir_all(&dir)?;
    (case.write)(&dir).with_context(|| format!("writing the {name:?} folder"))?;
    let folder_bytes = folder_size(&dir)?;
    eprintln!("bench: hostile folder {name:?} ({})", case.holds);
    let run = run_measured(ferry, &dir)?;
    Ok(Hostile {
        case: name.to_owned(),
        holds: case.holds,
        folder_bytes,
        peak_rss_bytes: run.peak_rss_kib * 1024,
        report_bytes: run.report_bytes,
        millis: run.millis,
        exit_status: run.exit_status,
        codes: run.codes,
        must: case.must,
        must_not: case.must_not,
    })
}

struct Run {
    peak_rss_kib: u64,
    report_bytes: u64,
    millis: f64,
    exit_status: i32,
    codes: Vec<String>,
}

/// Runs `ferry validate DIR --format json` through [`measure_child`] (a fresh
/// `ferry-bench` process), counting its stdout (keeping the first MiB to read the codes).
///
/// Why the extra process: Linux keeps a process's peak RSS across `execve`, and a child
/// spawned straight from this (large) bench process would start with the bench's own
/// peak. A grandchild of a freshly started, small process reports only its own.
fn run_measured(ferry: &Path, dir: &Path) -> Result<Run> {
    let started = Instant::now();
    let scratch = tempfile::tempdir()?;
    let result = scratch.path().join("rusage");
    let mut child = Command::new(std::env::current_exe()?)
        .arg(MEASURE_ARG)
        .arg(&result)
        .arg(ferry)
        .arg("validate")
        .arg(dir)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting ferry-bench to measure ferry validate")?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut kept = Vec::new();
    let mut report_bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        report_bytes += n as u64;
        let room = (REPORT_LIMIT_BYTES as usize + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    let status = child.wait()?;
    let millis = started.elapsed().as_secs_f64() * 1e3;
    ensure!(
        status.success(),
        "measuring ferry validate failed: {status}"
    );
    let text = std::fs::read_to_string(&result).context("reading the measured rusage")?;
    let (exit, kib) = text
        .trim()
        .split_once(' ')
        .context("a malformed rusage line")?;
    Ok(Run {
        peak_rss_kib: kib.parse()?,
        report_bytes,
        millis,
        exit_status: exit.parse()?,
        codes: codes(&kept),
    })
}

/// The first argument that makes `ferry-bench` the measuring middle process.
pub const MEASURE_ARG: &str = "__measure-rss";

/// `ferry-bench __measure-rss RESULT PROGRAM ARGS...`: runs the program with this
/// process's stdout and stderr, and writes "EXIT PEAK_RSS_KIB" to RESULT.
pub fn measure_child(args: &[std::ffi::OsString]) -> Result<()> {
    let [result, program, rest @ ..] = args else {
        bail!("usage: ferry-bench {MEASURE_ARG} RESULT PROGRAM [ARGS...]");
    };
    let child = Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let (exit, kib) = wait_with_rusage(child.id())?;
    std::fs::write(result, format!("{exit} {kib}\n"))?;
    Ok(())
}

/// Waits for the child and returns its exit status and peak resident set (KiB).
fn wait_with_rusage(pid: u32) -> Result<(i32, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: the pointers are to live locals; the child is ours and not waited for
    // elsewhere (its `Child` handle is dropped unwaited).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    ensure!(
        waited == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    Ok((exit, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// The finding codes of a report, each once; none when the report is too big to read.
fn codes(report: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(report) else {
        return vec!["(report over 1 MiB: not read)".into()];
    };
    let mut codes: Vec<String> = Vec::new();
    for f in value["findings"].as_array().into_iter().flatten() {
        if let Some(code) = f["code"].as_str() {
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_owned());
            }
        }
    }
    codes
}

fn folder_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        total += entry?.metadata()?.len();
    }
    Ok(total)
}

/// A Llama config and tokenizer: the folder is otherwise importable.
fn base(dir: &Path) -> Result<()> {
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_json(&dir.join("config.json"), &family.config)?;
    std::fs::write(dir.join("tokenizer.json"), "{}")?;
    Ok(())
}

/// `shards` weight files of `tensors` zero-size tensors each (valid: they tile an
/// empty data section), and, with `index`, an index naming every tensor.
fn many_tensors(dir: &Path, shards: usize, tensors: usize, index: bool) -> Result<()> {
    base(dir)?;
    let mut map = index
        .then(|| -> Result<BufWriter<File>> {
            let mut w = BufWriter::new(File::create(dir.join("model.safetensors.index.json"))?);
            w.write_all(b"{\"metadata\":{\"total_size\":0},\"weight_map\":{")?;
            Ok(w)
        })
        .transpose()?;
    let mut first = true;
    for k in 1..=shards {
        let shard = format!("model-{k:05}-of-{shards:05}.safetensors");
        let mut header = String::with_capacity(tensors * 80);
        header.push('{');
        for t in 0..tensors {
            let name = format!("model.layers.{k}.experts.{t}.w");
            if t > 0 {
                header.push(',');
            }
            header.push_str(&format!(
                "\"{name}\":{{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]}}"
            ));
            if let Some(w) = map.as_mut() {
                let sep = if first { "" } else { "," };
                write!(w, "{sep}\"{name}\":\"{shard}\"")?;
                first = false;
            }
        }
        header.push('}');
        ferry_testkit::fixtures::write_raw_safetensors(
            &dir.join(&shard),
            header.len() as u64,
            header.as_bytes(),
            0,
        )?;
    }
    if let Some(mut w) = map {
        w.write_all(b"}}")?;
        w.flush()?;
    }
    Ok(())
}

/// One valid shard and an index that also names `absent` distinct shards not in the
/// folder, one tensor each.
fn absent_shards(dir: &Path, absent: usize) -> Result<()> {
    base(dir)?;
    let header = br#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
    let present = "model-00000.safetensors";
    ferry_testkit::fixtures::write_raw_safetensors(
        &dir.join(present),
        header.len() as u64,
        header,
        4,
    )?;
    let mut w = BufWriter::new(File::create(dir.join("model.safetensors.index.json"))?);
    write!(w, "{{\"weight_map\":{{\"w\":\"{present}\"")?;
    for i in 1..=absent {
        write!(w, ",\"t{i}\":\"s{i}.safetensors\"")?;
    }
    w.write_all(b"}}")?;
    w.flush()?;
    let size = std::fs::metadata(dir.join("model.safetensors.index.json"))?.len();
    if size > 64 * 1024 * 1024 {
        bail!("the absent-shard index is {size} bytes, over the 64 MiB index cap");
    }
    Ok(())
}

/// A valid model whose config.json is as large as Ferry reads (1 MiB) and as dense
/// as JSON gets: a `Value` tree of it is many times its size.
fn dense_config(dir: &Path) -> Result<()> {
    base(dir)?;
    let header = br#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
    ferry_testkit::fixtures::write_raw_safetensors(
        &dir.join("model.safetensors"),
        header.len() as u64,
        header,
        4,
    )?;
    let config = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","max_position_embeddings":8192,"padding":["#;
    let mut text = String::from(config);
    // ferry_core::validate::MAX_CONFIG_BYTES.
    while text.len() + 4 < 1024 * 1024 {
        text.push_str("0,");
    }
    text.push_str("0]}");
    std::fs::write(dir.join("config.json"), text)?;
    Ok(())
}

/// One weight file whose only tensor has a `len`-byte dtype string (`dtype`) or name.
fn huge_string(dir: &Path, len: usize, dtype: bool) -> Result<()> {
    base(dir)?;
    let long = "A".repeat(len);
    let header = if dtype {
        format!(r#"{{"w":{{"dtype":"{long}","shape":[2],"data_offsets":[0,4]}}}}"#)
    } else {
        format!(r#"{{"{long}":{{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}}}"#)
    };
    ferry_testkit::fixtures::write_raw_safetensors(
        &dir.join("model.safetensors"),
        header.len() as u64,
        header.as_bytes(),
        4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_bound_is_named() {
        let mut row = Hostile {
            case: "c".into(),
            holds: String::new(),
            folder_bytes: 0,
            peak_rss_bytes: PEAK_RSS_LIMIT_BYTES,
            report_bytes: REPORT_LIMIT_BYTES,
            millis: 0.0,
            exit_status: 1,
            codes: vec!["incomplete-shards".into()],
            must: &["incomplete-shards"],
            must_not: &["limit-exceeded"],
        };
        assert!(row.broken().is_empty());
        row.peak_rss_bytes += 1;
        row.report_bytes += 1;
        row.exit_status = 2;
        assert_eq!(row.broken().len(), 3);
        row.codes = vec!["limit-exceeded".into()];
        assert_eq!(row.broken().len(), 5, "{:?}", row.broken());
    }

    #[test]
    fn codes_are_read_once_each() {
        let report = br#"{"findings":[{"code":"a"},{"code":"b"},{"code":"a"}]}"#;
        assert_eq!(codes(report), ["a", "b"]);
        assert_eq!(codes(b"{\"fin").len(), 1);
    }
}
