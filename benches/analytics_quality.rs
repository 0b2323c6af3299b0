//! How well the risk model finds the demo institution's drifting students: one analytics
//! run over the semester on the full demo institution (2,000 students, ~12 % seeded to
//! drift away), then the precision of each mentor's first invitations against the chance
//! rate, and the AUC of the risk score over all scored students.
//!
//! `cargo bench --bench analytics_quality`; the figures go into `docs/analytics.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use consentry::analytics::{RunWindow, run};
use consentry::datadir::{DataDir, Pepper};
use consentry::db::{self, Db};
use consentry::demo::{Institution, seed};
use consentry::dpia::{Deployment, Workbench};
use consentry::gateway::Keys;
use consentry::policy::{Gate, PolicyEngine};
use consentry::timestamp::Timestamp;
use sqlx::Row;

fn main() {
    let scale: f64 = std::env::var("ANALYTICS_BENCH_SCALE").ok().and_then(|text| text.parse().ok()).unwrap_or(1.0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let institution = Institution::generate(scale);
    let drifting: BTreeSet<String> = institution
        .students
        .iter()
        .filter(|student| student.profile.drift_week.is_some())
        .map(|student| student.subject_id.to_string())
        .collect();
    let (report, proposals, scores) = runtime.block_on(async {
        let data_dir = DataDir::open(dir.path()).unwrap();
        let db = Db::connect(&db::sqlite_url(&data_dir.sqlite_file().unwrap()), 4).await.unwrap();
        db.migrate().await.unwrap();
        seed(
            &db,
            &institution,
            &Workbench::new(None, Deployment::default()).unwrap(),
            &PolicyEngine::shipped().unwrap(),
        )
        .await
        .unwrap();
        let gate = Gate::new(Arc::new(PolicyEngine::shipped().unwrap()), None, db.clone());
        let keys = Arc::new(Keys::new(&Pepper::from_bytes([9; 32])).unwrap());
        let window = RunWindow {
            since: Timestamp::parse("2026-02-02T00:00:00Z").unwrap(),
            until: Timestamp::parse("2026-06-29T00:00:00Z").unwrap(),
        };
        let report = run(&db, &gate, &keys, window, Timestamp::now()).await.unwrap();
        let rows =
            sqlx::query("SELECT mentor_id, subject_id, rank, score, action FROM proposals ORDER BY mentor_id, rank")
                .fetch_all(db.pool())
                .await
                .unwrap();
        let proposals: Vec<(String, String, i64, String)> = rows
            .iter()
            .map(|row| (row.get("mentor_id"), row.get("subject_id"), row.get("rank"), row.get("action")))
            .collect();
        let scores: BTreeMap<String, f64> =
            rows.iter().map(|row| (row.get::<String, _>("subject_id"), row.get::<f64, _>("score"))).collect();
        (report, proposals, scores)
    });
    let students = institution.students.len();
    let chance = drifting.len() as f64 / students as f64;
    println!("{students} students, {} seeded to drift ({:.1} %)", drifting.len(), chance * 100.0);
    println!("scored {} students, {} proposals", report.students_scored, report.proposals);
    for k in [3, 5, 10] {
        let top: Vec<_> = proposals.iter().filter(|(_, _, rank, _)| *rank <= k).collect();
        let hits = top.iter().filter(|(_, subject, _, _)| drifting.contains(subject)).count();
        let precision = hits as f64 / top.len().max(1) as f64;
        println!(
            "precision of each mentor's first {k}: {:.1} % ({hits} of {}), {:.1}× chance",
            precision * 100.0,
            top.len(),
            precision / chance
        );
    }
    let invited: Vec<_> = proposals.iter().filter(|(_, _, _, action)| action == "invite_conversation").collect();
    let invited_drifting = invited.iter().filter(|(_, subject, _, _)| drifting.contains(subject)).count();
    println!(
        "invitations: {} ({invited_drifting} drifting); drifting students invited: {:.1} %",
        invited.len(),
        invited_drifting as f64 / drifting.len().max(1) as f64 * 100.0
    );
    // AUC over students with a proposal (a score); students without one count as score 0.
    let all: Vec<(f64, bool)> = institution
        .students
        .iter()
        .map(|student| {
            let id = student.subject_id.to_string();
            (scores.get(&id).copied().unwrap_or(0.0), drifting.contains(&id))
        })
        .collect();
    let positives: Vec<f64> = all.iter().filter(|(_, drifts)| *drifts).map(|(score, _)| *score).collect();
    let negatives: Vec<f64> = all.iter().filter(|(_, drifts)| !*drifts).map(|(score, _)| *score).collect();
    let mut wins = 0.0;
    for positive in &positives {
        for negative in &negatives {
            wins += if positive > negative {
                1.0
            } else if positive == negative {
                0.5
            } else {
                0.0
            };
        }
    }
    println!("AUC of the risk score: {:.3}", wins / (positives.len() * negatives.len()).max(1) as f64);
}
