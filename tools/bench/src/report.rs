//! The report: what was measured, on which machine, against which targets; as JSON
//! (for tools) and markdown (for people, and the README's Performance section).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::access_check::AccessCheck;
use crate::bytes_read::BytesRead;
use crate::critical_path::Row;
use crate::functions::{Burst, Distribution};
use crate::hostile::{Hostile, PEAK_RSS_LIMIT_BYTES, REPORT_LIMIT_BYTES};
use crate::sizes::Size;

pub const INIT_TARGET_MS: f64 = 15.0;
pub const RSS_TARGET_BYTES: u64 = 40_000_000;
/// "S3 calls linear in events with a small constant": each further batch of the same
/// folder lists it again and reads little; more than this per batch is a regression.
pub const MAX_S3_CALLS_PER_FURTHER_BATCH: f64 = 5.0;
const README_START: &str = "<!-- bench:start (scripts/bench writes this part) -->";
const README_END: &str = "<!-- bench:end -->";

#[derive(Debug, Serialize)]
pub struct Plan {
    pub cold_runs: usize,
    pub bursts: Vec<usize>,
    pub shards: Vec<usize>,
    pub shard_sizes: Vec<u64>,
    /// Model sizes of the critical-path measurement.
    pub path_shards: Vec<usize>,
}

/// The fewest calls, one after the other, up to and including CreateModelImportJob
/// (README, Performance, "Round trips"): the importer on a new process with the access
/// check on, and the tracker's sweep that completes a job and starts the next.
pub const IMPORTER_BOUND: usize = 9;
pub const TRACKER_BOUND: usize = 7;
/// The ratio to the bound the importer's path must stay within; init to the bare binary's.
pub const PATH_RATIO_TARGET: f64 = 1.5;
pub const INIT_RATIO_TARGET: f64 = 1.5;

fn bound_of(function: &str) -> usize {
    if function == "tracker" {
        TRACKER_BOUND
    } else {
        IMPORTER_BOUND
    }
}

fn path_cells(r: &Row) -> String {
    format!(
        "{} | {:.0} ms | {:.1} | {} | {}",
        r.path.sequential_calls,
        r.path.wall_ms,
        r.path.wall_round_trips,
        r.path.calls_before,
        r.calls.values().sum::<u64>()
    )
}

/// The critical-path table: each row beside its bound (and its "before", when given).
pub fn critical_path_table(rows: &[Row], before: Option<&[Row]>) -> String {
    let mut s = String::from("| Function | Shards | Bound (sequential calls) | Sequential calls to Create | Wall to the Create request | Wall ÷ delay | Calls before Create | Calls in the invocation | Ratio to the bound |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let bound = bound_of(&r.function);
        let earlier = before.and_then(|b| {
            b.iter()
                .find(|x| x.function == r.function && x.shards == r.shards)
        });
        if let Some(e) = earlier {
            let _ = writeln!(
                s,
                "| {} (before) | {} | {bound} | {} | {:.2} |",
                e.function,
                e.shards,
                path_cells(e),
                e.path.sequential_calls as f64 / bound as f64
            );
        }
        let _ = writeln!(
            s,
            "| {} | {} | {bound} | {} | {:.2} |",
            r.function,
            r.shards,
            path_cells(r),
            r.path.sequential_calls as f64 / bound as f64
        );
    }
    s
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub date: String,
}

impl Machine {
    pub fn read() -> Machine {
        let file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = file("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_kib: f64 = file("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let rustc = std::process::Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: file("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc,
            date: ferry_core::text::time::rfc3339(ferry_aws::clock::now_secs()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub mode: &'static str,
    pub build: &'static str,
    pub plan: Plan,
    pub cold_start: BTreeMap<String, Distribution>,
    pub bursts: Vec<Burst>,
    /// The delay added per AWS request on the critical path, ms.
    pub delay_ms: f64,
    pub critical_path: Vec<Row>,
    /// The same measurement of an earlier build (`--before`).
    pub critical_path_before: Option<Vec<Row>>,
    pub bytes_read: Vec<BytesRead>,
    /// `ferry validate` on hostile-but-valid folders.
    pub hostile: Vec<Hostile>,
    pub access_check: AccessCheck,
    pub sizes: BTreeMap<String, Size>,
    pub seconds: f64,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn kb(bytes: u64) -> String {
    format!("{:.2} kB", bytes as f64 / 1e3)
}

fn gb(bytes: u64) -> String {
    if bytes < 1_000_000_000 {
        return mb(bytes);
    }
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// A target that involves no timing: judged on every build.
fn holds(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**not met**"
    }
}

impl Report {
    /// Targets are judged on release builds only: quick mode exists to keep the bench
    /// working, not to time anything.
    fn verdict(&self, met: bool) -> &'static str {
        match (self.build, met) {
            ("debug", _) => "not judged (debug build)",
            (_, met) => holds(met),
        }
    }

    fn burst(&self, events: usize) -> Option<&Burst> {
        self.bursts.iter().find(|b| b.events == events)
    }

    /// S3 calls each further batch of the same folder adds: the slope between the
    /// bursts with the fewest and the most invocations.
    pub fn s3_calls_per_further_batch(&self) -> Option<f64> {
        let fewest = self.bursts.iter().min_by_key(|b| b.invocations)?;
        let most = self.bursts.iter().max_by_key(|b| b.invocations)?;
        (most.invocations > fewest.invocations).then(|| {
            (most.s3_calls as f64 - fewest.s3_calls as f64)
                / (most.invocations - fewest.invocations) as f64
        })
    }

    /// What must hold on any machine and build (no timing): the bench fails on these.
    pub fn broken_invariants(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if let Some(slope) = self.s3_calls_per_further_batch() {
            if slope > MAX_S3_CALLS_PER_FURTHER_BATCH {
                broken.push(format!(
                    "{slope:.1} S3 calls per further batch of the same folder; at most {MAX_S3_CALLS_PER_FURTHER_BATCH} expected"
                ));
            }
        }
        for r in &self.bytes_read {
            if r.bytes_read != r.expected_bytes || r.bytes_served != r.expected_bytes {
                broken.push(format!(
                    "{} shard(s) of {}: read {} (server sent {}), expected {} (headers and small files)",
                    r.shards, r.shard_bytes, r.bytes_read, r.bytes_served, r.expected_bytes
                ));
            }
        }
        broken.extend(self.hostile.iter().flat_map(Hostile::broken));
        for r in &self.critical_path {
            let creates = r.calls.get("Bedrock.CreateModelImportJob").copied();
            if creates != Some(1) || r.calls.keys().any(|op| op.starts_with('?')) {
                broken.push(format!(
                    "critical path, {} with {} shards: {creates:?} CreateModelImportJob call(s), calls {:?}; expected one, each named",
                    r.function, r.shards, r.calls
                ));
            }
        }
        for b in &self.bursts {
            if b.create_model_import_job != 1 || b.jobs_started != 1 {
                broken.push(format!(
                    "burst of {} event(s): {} CreateModelImportJob call(s), {} job(s) started; expected exactly one",
                    b.events, b.create_model_import_job, b.jobs_started
                ));
            }
            if b.importer_calls.keys().any(|op| op.starts_with("unknown"))
                || b.tracker_calls.keys().any(|op| op.starts_with("unknown"))
            {
                broken.push(format!(
                    "burst of {} event(s): API calls without an operation name",
                    b.events
                ));
            }
        }
        broken
    }

    /// The figures the targets judge, as a short table.
    pub fn readme_summary(&self) -> String {
        let mut s = String::new();
        self.write_summary_head(&mut s);
        self.write_cold_start_rows(&mut s);
        self.write_first_invocation_rows(&mut s);
        self.write_critical_path_rows(&mut s);
        self.write_bytes_read_rows(&mut s);
        self.write_api_call_rows(&mut s);
        self.write_hostile_row(&mut s);
        self.write_speed_and_size_rows(&mut s);
        s
    }

    /// The line naming the machine and the build, and the table's head.
    fn write_summary_head(&self, s: &mut String) {
        let m = &self.machine;
        let _ = writeln!(
            s,
            "Measured {} on {} ({} cores, {} GiB, Linux {}), {}, {} build. Full report: \
             [`bench/report.md`](bench/report.md) ([JSON](bench/report.json)).\n",
            &m.date[..10.min(m.date.len())],
            m.cpu,
            m.cores,
            m.memory_gib,
            m.kernel,
            m.rustc,
            self.build
        );
        let _ = writeln!(s, "| What | Measured | Target |");
        let _ = writeln!(s, "|---|---|---|");
    }

    /// Each function's init time against its target.
    fn write_cold_start_rows(&self, s: &mut String) {
        let bare = self
            .cold_start
            .get(crate::functions::BARE)
            .map(|d| d.median_ms);
        for (name, d) in &self.cold_start {
            if let (Some(bare), true) = (bare, name != crate::functions::BARE) {
                let ratio = d.median_ms / bare;
                let _ = writeln!(
                    s,
                    "| `{name}` init against the bare `lambda_runtime` binary's ({bare:.1} ms), medians of the same run | {ratio:.2}× | ≤ {INIT_RATIO_TARGET}×: {} |",
                    self.verdict(ratio <= INIT_RATIO_TARGET)
                );
            }
            let _ = writeln!(
                s,
                "| `{name}` init (exec to first `next`), {} runs | median {:.1} ms, p95 {:.1} ms | p95 < {INIT_TARGET_MS} ms: {} |",
                d.runs,
                d.median_ms,
                d.p95_ms,
                self.verdict(d.p95_ms < INIT_TARGET_MS)
            );
        }
    }

    /// Each critical path against its bound, the importer's judged.
    fn write_critical_path_rows(&self, s: &mut String) {
        for r in &self.critical_path {
            let bound = bound_of(&r.function);
            let ratio = r.path.sequential_calls as f64 / bound as f64;
            let judged = if r.function == "importer" {
                format!(
                    "≤ {PATH_RATIO_TARGET}× the bound ({bound}): {}",
                    self.verdict(ratio <= PATH_RATIO_TARGET)
                )
            } else {
                format!("bound {bound}")
            };
            let _ = writeln!(
                s,
                "| Round trips to CreateModelImportJob at {:.0} ms per AWS request: {}, {}-shard model, new process | {} in sequence ({ratio:.2}× the bound), {:.0} ms ({:.1}× the delay), {} calls before it | {judged} |",
                self.delay_ms,
                r.function,
                r.shards,
                r.path.sequential_calls,
                r.path.wall_ms,
                r.path.wall_round_trips,
                r.path.calls_before
            );
        }
    }

    /// The 40-event burst: first invocations and peak memory against its target.
    fn write_first_invocation_rows(&self, s: &mut String) {
        if let Some(b) = self.burst(40) {
            let _ = writeln!(
                s,
                "| First invocation on a new process: importer, first 10 of 40 events of a 30-shard model; tracker, its completing sweep | {:.0} ms; {:.0} ms | |",
                b.importer_first_invocation_ms, b.tracker_first_invocation_ms
            );
            for (what, kib) in [
                ("importer, 40-event burst", b.importer_peak_rss_kib),
                (
                    "tracker, the sweep that records the import",
                    b.tracker_peak_rss_kib,
                ),
            ] {
                let bytes = kib * 1024;
                let _ = writeln!(
                    s,
                    "| Process peak RSS (VmHWM), {what} (30-shard model) | {} | < {}: {} |",
                    mb(bytes),
                    mb(RSS_TARGET_BYTES),
                    self.verdict(bytes < RSS_TARGET_BYTES)
                );
            }
        }
    }

    /// Bytes read per shard count: headers and small files only.
    fn write_bytes_read_rows(&self, s: &mut String) {
        for shards in &self.plan.shards {
            let rows: Vec<&BytesRead> = self
                .bytes_read
                .iter()
                .filter(|r| r.shards == *shards)
                .collect();
            if !rows.is_empty() {
                let read: Vec<String> = rows
                    .iter()
                    .map(|r| format!("{} of {}", kb(r.bytes_served), gb(r.model_bytes)))
                    .collect();
                let only_headers = rows.iter().all(|r| {
                    r.bytes_served == r.expected_bytes && r.bytes_read == r.expected_bytes
                });
                let _ = writeln!(
                    s,
                    "| Bytes read to validate {shards} shard(s) | {} | headers and small files only, whatever the shard size: {} |",
                    read.join("; "),
                    holds(only_headers)
                );
            }
        }
    }

    /// API calls per burst, and the S3 calls each further batch adds.
    fn write_api_call_rows(&self, s: &mut String) {
        for b in &self.bursts {
            let _ = writeln!(
                s,
                "| API calls for a burst of {} event(s) ({} invocations) | {} CreateModelImportJob, {} S3 calls, {} in all (importer); {} (tracker's sweep) | one job: {} |",
                b.events,
                b.invocations,
                b.create_model_import_job,
                b.s3_calls,
                b.importer_calls.values().sum::<u64>(),
                b.tracker_calls.values().sum::<u64>(),
                holds(b.create_model_import_job == 1 && b.jobs_started == 1)
            );
        }
        if let Some(slope) = self.s3_calls_per_further_batch() {
            let _ = writeln!(
                s,
                "| S3 calls per further batch of 10 events of the same folder | {slope:.1} ({:.2} per event) | at most {MAX_S3_CALLS_PER_FURTHER_BATCH}: {} |",
                slope / 10.0,
                holds(slope <= MAX_S3_CALLS_PER_FURTHER_BATCH)
            );
        }
    }

    /// The worst hostile folder's memory and report size against their bounds.
    fn write_hostile_row(&self, s: &mut String) {
        if !self.hostile.is_empty() {
            let worst_rss = self
                .hostile
                .iter()
                .map(|h| h.peak_rss_bytes)
                .max()
                .unwrap_or(0);
            let worst_report = self
                .hostile
                .iter()
                .map(|h| h.report_bytes)
                .max()
                .unwrap_or(0);
            let _ = writeln!(
                s,
                "| `ferry validate` on {} hostile-but-valid folders ({}): worst case | peak RSS {}, report {} | ≤ {} and ≤ 1 MiB: {} |",
                self.hostile.len(),
                self.hostile.iter().map(|h| h.case.as_str()).collect::<Vec<_>>().join("; "),
                mb(worst_rss),
                kb(worst_report),
                mb(PEAK_RSS_LIMIT_BYTES),
                holds(worst_rss <= PEAK_RSS_LIMIT_BYTES && worst_report <= REPORT_LIMIT_BYTES)
            );
        }
    }

    /// The access checker's speed and the binaries' sizes.
    fn write_speed_and_size_rows(&self, s: &mut String) {
        let a = &self.access_check;
        let _ = writeln!(
            s,
            "| Access check in process ({} scenarios, {} checks) | {:.0} chains/s, {:.1} µs per check, seed chain {:.0} µs | |",
            a.scenarios, a.checks_in_corpus, a.chains_per_second, a.per_check_us, a.baseline_chain_us
        );
        for (name, size) in &self.sizes {
            let zip = size
                .zip_bytes
                .map(|z| format!(", zip {}", mb(z)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| `{name}` size (x86_64) | {}{zip} | |",
                mb(size.binary_bytes)
            );
            if let (Some(binary), Some(zip)) = (size.arm64_binary_bytes, size.arm64_zip_bytes) {
                let _ = writeln!(
                    s,
                    "| `{name}` size (arm64, as deployed) | {}, zip {} | |",
                    mb(binary),
                    mb(zip)
                );
            }
        }
    }

    /// The whole report, for `bench/report.md`: the summary, then each measure's section.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# Ferry benchmark report\n\n");
        let _ = writeln!(
            s,
            "Written by `scripts/bench` ({} mode; `ferry-bench` ran {:.0} s after the build). Every figure comes from one run of it.\n",
            self.mode, self.seconds
        );
        s.push_str("## Summary\n\n");
        s.push_str(&self.readme_summary());
        self.write_cold_start_section(&mut s);
        self.write_bursts_section(&mut s);
        self.write_critical_path_section(&mut s);
        self.write_operations_table(&mut s);
        self.write_bytes_read_section(&mut s);
        s.push_str("\n## Hostile folders\n\n`ferry validate --format json` (the real process, this build) on folders built to be as hard as Ferry's documented limits allow, each valid where it can be. Peak RSS is the process's `ru_maxrss` from `wait4`; it must stay within the importer's 128 MB of Lambda memory, and the report within 1 MiB.\n\n");
        s.push_str(&hostile_table(&self.hostile));
        self.write_access_check_section(&mut s);
        self.write_sizes_section(&mut s);
        let m = &self.machine;
        let _ = writeln!(
            s,
            "\n## Machine\n\n{} ({} cores, {} GiB), Linux {}, {}, {} build, {}.",
            m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc, self.build, m.date
        );
        s
    }

    /// Time to the first `invocation/next`, per function.
    fn write_cold_start_section(&self, s: &mut String) {
        s.push_str("\n## Cold start\n\nTime from spawning the binary to its first `invocation/next` request to the local Runtime API (`tools/local-lambda`), with the local stack's environment. The process is new each run; the page cache is warm, as on a Lambda worker that ran the function before.\n\n| Function | Runs | Median | p95 | Min | Max |\n|---|---|---|---|---|---|\n");
        for (name, d) in &self.cold_start {
            let _ = writeln!(
                s,
                "| `{name}` | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                d.runs, d.median_ms, d.p95_ms, d.min_ms, d.max_ms
            );
        }
    }

    /// The latency-injected paths, with the calls of each invocation.
    fn write_critical_path_section(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n## Round trips: the path to CreateModelImportJob at {:.0} ms per AWS request\n\nEvery request of a new importer process (the first batch of one folder's events, with a second folder queued behind it) and of a new tracker process (the sweep that completes the first job and starts the queued one) goes through a loopback proxy that holds it {:.0} ms before passing it to moto or the Bedrock emulator. *Sequential calls* is the longest chain of calls each sent after the previous one was answered, ending with CreateModelImportJob; *wall ÷ delay* is the time from the invocation to the Create request over the delay (moto serves one request at a time, so concurrent calls queue there and add to the wall time, not to the chain). The bound is derived in the README (Performance, \"Round trips\").\n",
            self.delay_ms, self.delay_ms
        );
        s.push_str(&critical_path_table(
            &self.critical_path,
            self.critical_path_before.as_deref(),
        ));
        for r in &self.critical_path {
            let calls: Vec<String> = r.calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
            let _ = writeln!(
                s,
                "\n{} ({} shards), the chain: {}. Calls: {}.",
                r.function,
                r.shards,
                r.path.chain.join(" → "),
                calls.join(", ")
            );
        }
    }

    /// Each burst's times, memory and calls.
    fn write_bursts_section(&self, s: &mut String) {
        s.push_str("\n## Bursts: invocation time, peak memory, API calls\n\nEach burst uploads a 30-shard Llama model to its own folder in the local stack (moto, the Bedrock emulator), delivers the events in batches of 10 (the stack's event source mapping) to a new importer process, waits for the emulated job to end, and runs one sweep on a new tracker process. Peak RSS is the process's VmHWM (Lambda's Max Memory Used covers the whole sandbox, a little more). API calls come from the `ApiCalls` EMF lines the functions print after every invocation, counted by the interceptor on every client Ferry builds, and read after the process ended (none is lost in the pipe); attempts include SDK retries. The tracker's column is the one sweep that records the completion; the sweeps that found the job still running are not counted here.\n\n| Events | Invocations | Importer init | First invocation | Warm invocation (mean) | Importer calls (attempts) | Importer peak RSS | Tracker sweep | Tracker peak RSS | Jobs |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for b in &self.bursts {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} ms | {:.0} ms | {} | {} ({}) | {} | {:.0} ms | {} | {} |",
                b.events,
                b.invocations,
                b.importer_init_ms,
                b.importer_first_invocation_ms,
                b.importer_warm_invocation_ms
                    .map(|m| format!("{m:.0} ms"))
                    .unwrap_or_else(|| "-".into()),
                b.importer_calls.values().sum::<u64>(),
                b.importer_attempts,
                mb(b.importer_peak_rss_kib * 1024),
                b.tracker_first_invocation_ms,
                mb(b.tracker_peak_rss_kib * 1024),
                b.jobs_started
            );
        }
    }

    /// API calls by operation, one column per burst.
    fn write_operations_table(&self, s: &mut String) {
        let mut operations: Vec<&String> = self
            .bursts
            .iter()
            .flat_map(|b| b.importer_calls.keys().chain(b.tracker_calls.keys()))
            .collect();
        operations.sort();
        operations.dedup();
        s.push_str("\nAPI calls by operation (importer + the tracker's completing sweep):\n\n| Operation |");
        for b in &self.bursts {
            let _ = write!(s, " {} event(s) |", b.events);
        }
        s.push_str("\n|---|");
        for _ in &self.bursts {
            s.push_str("---|");
        }
        s.push('\n');
        for op in operations {
            let _ = write!(s, "| {op} |");
            for b in &self.bursts {
                let i = b.importer_calls.get(op).copied().unwrap_or(0);
                let t = b.tracker_calls.get(op).copied().unwrap_or(0);
                let _ = match (i, t) {
                    (0, 0) => write!(s, " 0 |"),
                    (i, 0) => write!(s, " {i} |"),
                    (0, t) => write!(s, " {t} (tracker) |"),
                    (i, t) => write!(s, " {i} + {t} (tracker) |"),
                };
            }
            s.push('\n');
        }
    }

    /// Bytes read per shard count and size.
    fn write_bytes_read_section(&self, s: &mut String) {
        s.push_str("\n## Bytes read to validate sparse models\n\n`S3Folder` and the real S3 client against a loopback S3 endpoint serving sparse files (`tools/bench/src/folder_s3.rs`), which counts the body bytes it sends. Expected: config.json, the index and every shard's header, nothing else. (A larger shard's header is a few bytes longer: its shapes have more digits.)\n\n| Shards | Shard size | Model size | Ferry's count | Sent by the server | Expected | Requests | Time |\n|---|---|---|---|---|---|---|---|\n");
        for r in &self.bytes_read {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {:.0} ms |",
                r.shards,
                mb(r.shard_bytes),
                gb(r.model_bytes),
                r.bytes_read,
                r.bytes_served,
                r.expected_bytes,
                r.requests,
                r.millis
            );
        }
    }

    /// The access checker's criterion estimates.
    fn write_access_check_section(&self, s: &mut String) {
        let a = &self.access_check;
        let _ = writeln!(
            s,
            "\n## Access check evaluation\n\ncriterion (`cargo bench -p ferry-core --bench access_check`): the seed's chain ({} checks) takes {:.1} µs; one pass over the {} corpus scenarios ({} checks) takes {:.0} µs: {:.0} chains per second, {:.2} µs per check on average.",
            a.checks_in_baseline, a.baseline_chain_us, a.scenarios, a.checks_in_corpus, a.corpus_pass_us, a.chains_per_second, a.per_check_us
        );
    }

    /// Binary and zip sizes per architecture.
    fn write_sizes_section(&self, s: &mut String) {
        s.push_str("\n## Sizes\n\nx86_64 binaries of this build, and the functions' arm64 `bootstrap` as the templates deploy it (`cargo lambda build --release --arm64`, each function's own crate, as `sam build` builds it); each zip holds the binary as `bootstrap`.\n\n| Binary | x86_64 | zip | arm64 | zip |\n|---|---|---|---|---|\n");
        let or_dash = |v: Option<u64>| v.map(mb).unwrap_or_else(|| "-".into());
        for (name, size) in &self.sizes {
            let _ = writeln!(
                s,
                "| `{name}` | {} | {} | {} | {} |",
                mb(size.binary_bytes),
                or_dash(size.zip_bytes),
                or_dash(size.arm64_binary_bytes),
                or_dash(size.arm64_zip_bytes)
            );
        }
    }
}

/// The hostile folders as a markdown table.
pub fn hostile_table(rows: &[Hostile]) -> String {
    let mut s = String::from(
        "| Folder | Holds | On disk | Peak RSS | Report | Time | Exit | Codes |\n|---|---|---|---|---|---|---|---|\n",
    );
    for h in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.0} ms | {} | {} |",
            h.case,
            h.holds,
            mb(h.folder_bytes),
            mb(h.peak_rss_bytes),
            kb(h.report_bytes),
            h.millis,
            h.exit_status,
            h.codes.join(", ")
        );
    }
    s
}

/// Replaces what lies between the README's bench markers with `summary`.
pub fn replace_readme_section(readme: &Path, summary: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    let (Some(start), Some(end)) = (text.find(README_START), text.find(README_END)) else {
        bail!(
            "{} lacks the markers {README_START:?} and {README_END:?}",
            readme.display()
        );
    };
    if end < start {
        bail!("{}: the bench markers are out of order", readme.display());
    }
    let updated = format!(
        "{}{README_START}\n{summary}{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(readme, updated).with_context(|| format!("writing {}", readme.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_section_between_the_markers_is_replaced_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let readme = dir.path().join("README.md");
        let text = format!("# T\n\nbefore\n{README_START}\nold\n{README_END}\nafter\n");
        std::fs::write(&readme, text).unwrap();
        replace_readme_section(&readme, "new table\n").unwrap();
        replace_readme_section(&readme, "newer table\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&readme).unwrap(),
            format!("# T\n\nbefore\n{README_START}\nnewer table\n{README_END}\nafter\n")
        );
        std::fs::write(&readme, "no markers").unwrap();
        let err = replace_readme_section(&readme, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks the markers"), "{err}");
    }
}
