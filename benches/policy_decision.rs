//! One Cedar decision with the shipped policies and demo entities, and with 1,000 extra
//! policies, next to the database round trip that reads the same request's entities,
//! measured in the same run on SQLite.
//!
//! `cargo bench --bench policy_decision` prints criterion's figures, then p50 and p99 of
//! each and their ratios to the round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use consentry::auth::{Principal, PrincipalKind, Role};
use consentry::db::{self, Db};
use consentry::demo::{Institution, seed};
use consentry::dpia::{Deployment, Workbench};
use consentry::policy::{Action, Gate, PolicyEngine, Resource, SHIPPED_POLICIES, SHIPPED_SCHEMA};
use criterion::Criterion;

const SAMPLES: usize = 2_000;

/// The shipped set and `extra` more policies, all for `action` (on a `Subject`).
fn engine_with_extra(extra: usize, action: &str) -> PolicyEngine {
    let mut files: Vec<(String, String)> =
        SHIPPED_POLICIES.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
    let rules: String = (0..extra)
        .map(|n| {
            format!(
                "@id(\"extra-{n}\")\npermit (principal is Consentry::User, action == Consentry::Action::\"{action}\", \
                 resource is Consentry::Subject) when {{ principal.roles.contains(\"role-{n}\") }};\n"
            )
        })
        .collect();
    files.push(("extra.cedar".to_owned(), rules));
    PolicyEngine::new(SHIPPED_SCHEMA, &files).unwrap()
}

/// p50 and p99 of `SAMPLES` runs of `run`.
fn percentiles(mut run: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[SAMPLES / 2], times[SAMPLES * 99 / 100])
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, gate) = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&dir.path().join("bench.db")), 2).await.unwrap();
        db.migrate().await.unwrap();
        seed(
            &db,
            &Institution::generate(0.05),
            &Workbench::new(None, Deployment::default()).unwrap(),
            &PolicyEngine::shipped().unwrap(),
        )
        .await
        .unwrap();
        let gate = Gate::new(Arc::new(PolicyEngine::shipped().unwrap()), None, db.clone());
        (db, gate)
    });
    // A student choosing for themself: the request reads the user, their subject and groups.
    let student = Principal { id: "s0001".to_owned(), kind: PrincipalKind::User, roles: [Role::Student].into() };
    let subject = runtime.block_on(async {
        consentry::directory::subject_of_user(&mut db.pool().acquire().await.unwrap(), "s0001").await.unwrap().unwrap()
    });
    let resource = Resource::Subject(subject);
    let prepared = runtime.block_on(gate.prepare(&student, Action::ManageOwnConsent, &resource)).unwrap();
    let shipped = PolicyEngine::shipped().unwrap();
    // Extra policies for the request's own action are all evaluated; those for another
    // action are sliced away before evaluation.
    let crowded = engine_with_extra(1_000, "ManageOwnConsent");
    let elsewhere = engine_with_extra(1_000, "ViewOwnData");
    assert!(
        prepared.decide(&shipped).unwrap()
            && prepared.decide(&crowded).unwrap()
            && prepared.decide(&elsewhere).unwrap()
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("policy_decision");
    group.bench_function("entities_round_trip", |bench| {
        bench
            .to_async(&runtime)
            .iter(|| async { gate.prepare(&student, Action::ManageOwnConsent, &resource).await.unwrap() })
    });
    group.bench_function("decision_shipped", |bench| bench.iter(|| prepared.decide(&shipped).unwrap()));
    group.bench_function("decision_1000_extra_same_action", |bench| bench.iter(|| prepared.decide(&crowded).unwrap()));
    group.bench_function("decision_1000_extra_other_action", |bench| {
        bench.iter(|| prepared.decide(&elsewhere).unwrap())
    });
    group.finish();
    criterion.final_summary();

    let round_trip = percentiles(|| {
        runtime.block_on(gate.prepare(&student, Action::ManageOwnConsent, &resource)).unwrap();
    });
    let decision = percentiles(|| {
        prepared.decide(&shipped).unwrap();
    });
    let crowded_decision = percentiles(|| {
        prepared.decide(&crowded).unwrap();
    });
    let elsewhere_decision = percentiles(|| {
        prepared.decide(&elsewhere).unwrap();
    });
    let ratio = |value: Duration, base: Duration| value.as_secs_f64() / base.as_secs_f64();
    println!("{:<36} {:>10} {:>10}", "", "p50", "p99");
    for (name, (p50, p99)) in [
        ("entities round trip (baseline)", round_trip),
        ("decision, shipped policies", decision),
        ("decision, +1,000 for this action", crowded_decision),
        ("decision, +1,000 for another", elsewhere_decision),
    ] {
        println!(
            "{name:<36} {:>8.1}µs {:>8.1}µs   ratio to baseline p50 {:.3}×, p99 {:.3}×",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            ratio(p50, round_trip.0),
            ratio(p99, round_trip.1)
        );
    }
}
