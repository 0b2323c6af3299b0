//! Policy test tables: `policies/tests/*.json`, each a list of requests and the decision
//! expected, over the entities in `entities.json` beside them (plus a table's own). `cargo test` runs them, and so does
//! `consentry policy test` for an institution's own policies.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Context, Entities, EntityUid};
use serde::Deserialize;
use serde_json::Value;

use super::PolicyEngine;

/// The file of entities all tables of a folder share.
pub const SHARED_ENTITIES: &str = "entities.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// Entities every case of the table shares.
    #[serde(default)]
    entities: Vec<Value>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// `Consentry::User::"po1"`
    principal: String,
    /// The action's name, e.g. `ReadAudit`.
    action: String,
    resource: String,
    #[serde(default)]
    context: Option<Value>,
    /// `allow` or `deny`.
    decision: String,
    /// The policy this case exercises: for an `allow`, one of the policies that permit.
    policy: String,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOutcome {
    pub file: String,
    pub case: String,
    /// Why the case failed; `None` when it passed.
    pub failure: Option<String>,
    pub policy: String,
    pub expected_allow: bool,
}

/// Runs every `*.json` table in `dir` against `engine`.
pub fn run_tables(engine: &PolicyEngine, dir: &Path) -> Result<Vec<TableOutcome>, String> {
    let shared_path = dir.join(SHARED_ENTITIES);
    let shared: Vec<Value> = match std::fs::read_to_string(&shared_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|error| format!("{SHARED_ENTITIES}: {error}"))?,
        Err(_) => Vec::new(),
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|error| format!("{}: {error}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json") && *path != shared_path)
        .collect();
    paths.sort();
    let mut outcomes = Vec::new();
    for path in paths {
        let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|error| format!("{file}: {error}"))?;
        let table: Table = serde_json::from_str(&text).map_err(|error| format!("{file}: {error}"))?;
        let all = shared.iter().cloned().chain(table.entities).collect();
        let entities = Entities::from_json_value(Value::Array(all), Some(engine.schema()))
            .map_err(|error| format!("{file}: entities: {error}"))?;
        for case in table.cases {
            let expected_allow = case.decision == "allow";
            let failure = run_case(engine, &entities, &case).err();
            outcomes.push(TableOutcome {
                file: file.clone(),
                case: case.name,
                failure,
                policy: case.policy,
                expected_allow,
            });
        }
    }
    Ok(outcomes)
}

fn run_case(engine: &PolicyEngine, entities: &Entities, case: &Case) -> Result<(), String> {
    let parse = |text: &str| EntityUid::from_str(text).map_err(|error| format!("`{text}`: {error}"));
    let action = parse(&format!("Consentry::Action::\"{}\"", case.action))?;
    let context = match &case.context {
        Some(context) => Context::from_json_value(context.clone(), Some((engine.schema(), &action)))
            .map_err(|error| error.to_string())?,
        None => Context::empty(),
    };
    let evaluation = engine.evaluate(parse(&case.principal)?, action, parse(&case.resource)?, context, entities)?;
    let expected_allow = match case.decision.as_str() {
        "allow" => true,
        "deny" => false,
        other => return Err(format!("decision `{other}` is neither allow nor deny")),
    };
    if !expected_allow && engine.is_forbid(&case.policy) && !evaluation.policy_ids.contains(&case.policy) {
        return Err(format!("denied, but not by `{}` (policies: {:?})", case.policy, evaluation.policy_ids));
    }
    if evaluation.allowed != expected_allow {
        return Err(format!(
            "expected {}, got {} (policies: {:?})",
            case.decision,
            if evaluation.allowed { "allow" } else { "deny" },
            evaluation.policy_ids
        ));
    }
    // An allow next to a forbid policy shows the forbid is narrow; it cannot be its reason.
    if expected_allow && !engine.is_forbid(&case.policy) && !evaluation.policy_ids.contains(&case.policy) {
        return Err(format!("allowed, but not by `{}` (policies: {:?})", case.policy, evaluation.policy_ids));
    }
    Ok(())
}

/// The policies that lack an allow or a deny case among `outcomes`.
pub fn uncovered(engine: &PolicyEngine, outcomes: &[TableOutcome]) -> Vec<String> {
    let mut covered: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for outcome in outcomes {
        let entry = covered.entry(outcome.policy.as_str()).or_default();
        if outcome.expected_allow {
            entry.0 = true;
        } else {
            entry.1 = true;
        }
    }
    engine.policy_files().keys().filter(|id| covered.get(id.as_str()) != Some(&(true, true))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tables_pass_and_cover_every_shipped_policy() {
        let engine = PolicyEngine::shipped().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tests");
        let outcomes = run_tables(&engine, &dir).unwrap();
        let failures: Vec<String> = outcomes
            .iter()
            .filter_map(|outcome| {
                outcome.failure.as_ref().map(|failure| format!("{} / {}: {failure}", outcome.file, outcome.case))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(uncovered(&engine, &outcomes), Vec::<String>::new(), "every policy has an allow and a deny case");
    }
}
