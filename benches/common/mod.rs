//! What the criterion benchmarks share: reading back criterion's estimates to print each
//! measurement's ratio to the baseline it ran beside.

/// Criterion's estimate of one iteration of `group/bench` in this run, in nanoseconds: the
/// slope it prints as `time`, or the mean where it fitted no slope.
pub fn mean_nanoseconds(group: &str, bench: &str) -> Option<f64> {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()?
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let estimates: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["slope"]["point_estimate"].as_f64().or_else(|| estimates["mean"]["point_estimate"].as_f64())
}

/// Prints `measured` next to `baseline` (both in `group`) and their ratio.
pub fn print_ratio(group: &str, baseline: &str, measured: &str) {
    if let (Some(base), Some(value)) = (mean_nanoseconds(group, baseline), mean_nanoseconds(group, measured)) {
        let ratio = value / base;
        // A tiny ratio reads better as a fraction.
        let shown = if ratio < 0.01 { format!("1/{:.0}", 1.0 / ratio) } else { format!("{ratio:.3}×") };
        println!(
            "{group}: {measured} {:.3} µs, {baseline} {:.3} µs (baseline): ratio {shown}",
            value / 1000.0,
            base / 1000.0
        );
    }
}
