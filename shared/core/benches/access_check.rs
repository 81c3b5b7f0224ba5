//! In-process speed of the access checker: `cargo bench -p ferry-core --bench
//! access_check`. `scripts/bench` runs it and reports criterion's estimates.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ferry_core::access::{run_checks, Scenario};

/// Every scenario of the checker's corpus (`shared/testkit/scenarios`), by file name.
fn corpus() -> Vec<(String, Scenario)> {
    ferry_testkit::scenarios::corpus()
        .unwrap_or_else(|e| panic!("the scenario corpus: {e:#}"))
        .into_iter()
        .map(|(name, value)| {
            let scenario = Scenario::parse(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, scenario)
        })
        .collect()
}

fn access_check(c: &mut Criterion) {
    let corpus = corpus();
    // A fixed instant (2026-11-18): aws:CurrentTime conditions judge it.
    let now = 1_795_000_000;
    let mut group = c.benchmark_group("access_check");
    if let Some((_, baseline)) = corpus.iter().find(|(name, _)| name == "baseline.json") {
        group.bench_function("baseline", |b| {
            b.iter(|| run_checks(black_box(baseline), now))
        });
    }
    // The whole corpus once per iteration: every rule, deny and condition path.
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for (_, scenario) in &corpus {
                black_box(run_checks(black_box(scenario), now));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, access_check);
criterion_main!(benches);
