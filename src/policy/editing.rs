//! Changing the policies while Consentry runs: drafts validated before they are stored,
//! simulation, replay of recorded decisions, activation with its diff, and rollback.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::store::{self, PolicyFile, StoredSet};
use super::{Action, Gate, InvalidPolicies, PolicyEngine, PolicyError, ReadContext, Resource};
use crate::audit::{self, Actor, EventFilter};
use crate::auth::{Principal, PrincipalKind, Role};
use crate::db::Db;
use crate::timestamp::Timestamp;

/// The shipped `forbid` policies: guarantees no activated set may drop without a reason.
pub const FORBID_GUARANTEES: [&str; 3] =
    ["forbid-audit-edits", "forbid-clients-deciding-proposals", "forbid-special-data-without-article-9-condition"];

/// Largest policy set accepted, all files together.
pub const MAX_SET_BYTES: usize = 512 * 1024;

fn sources(files: &[PolicyFile]) -> Vec<(String, String)> {
    files.iter().map(|file| (file.name.clone(), file.text.clone())).collect()
}

/// Validates `files` against the schema in force.
/// The limits a draft's files keep: names that are `.cedar` file names, and a total size.
pub fn check_files(files: &[PolicyFile]) -> Result<(), PolicyError> {
    let size: usize = files.iter().map(|file| file.name.len() + file.text.len()).sum();
    if size > MAX_SET_BYTES {
        return Err(PolicyError::TooLarge(MAX_SET_BYTES));
    }
    match files.iter().position(|file| !file.name.ends_with(".cedar") || file.name.contains('/')) {
        Some(index) => Err(PolicyError::FileName(index)),
        None => Ok(()),
    }
}

/// Validates a draft against the schema in strict mode and stores it; nothing invalid is
/// stored.
pub async fn save_draft(gate: &Gate, db: &Db, files: &[PolicyFile], author: &str) -> Result<StoredSet, PolicyError> {
    check_files(files)?;
    compile(gate, files).map_err(PolicyError::Invalid)?;
    let mut connection = db.pool().acquire().await?;
    store::insert_draft(&mut connection, files, author).await
}

pub fn compile(gate: &Gate, files: &[PolicyFile]) -> Result<PolicyEngine, InvalidPolicies> {
    PolicyEngine::new(gate.files_engine().schema_text(), &sources(files))
}

/// The engine of an activated set, if one was activated; `None` means the files apply.
pub async fn activated_engine(db: &Db, schema_text: &str) -> Result<Option<PolicyEngine>, PolicyError> {
    let mut connection = db.pool().acquire().await?;
    match store::active(&mut connection).await? {
        Some(set) => PolicyEngine::new(schema_text, &sources(&set.files)).map(Some).map_err(PolicyError::Invalid),
        None => Ok(None),
    }
}

/// The engine of `version`: 0 is the set from files.
pub async fn engine_of(
    gate: &Gate,
    db: &Db,
    version: i64,
) -> Result<(Arc<PolicyEngine>, StoredSetOrFiles), PolicyError> {
    if version == 0 {
        return Ok((gate.files_engine(), StoredSetOrFiles::Files));
    }
    let mut connection = db.pool().acquire().await?;
    let set = store::get(&mut connection, version).await?.ok_or(PolicyError::UnknownVersion(version))?;
    let engine = compile(gate, &set.files).map_err(PolicyError::Invalid)?;
    Ok((Arc::new(engine), StoredSetOrFiles::Stored(set)))
}

pub enum StoredSetOrFiles {
    Files,
    Stored(StoredSet),
}

/// What changes between two sets, by policy id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PolicyDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub fn diff(before: &PolicyEngine, after: &PolicyEngine) -> PolicyDiff {
    let (old, new) = (before.policy_texts(), after.policy_texts());
    PolicyDiff {
        added: new.keys().filter(|id| !old.contains_key(*id)).cloned().collect(),
        removed: old.keys().filter(|id| !new.contains_key(*id)).cloned().collect(),
        changed: new
            .iter()
            .filter(|(id, text)| old.get(*id).is_some_and(|old| old != *text))
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// The shipped guarantees a set lacks.
pub fn missing_guarantees(engine: &PolicyEngine) -> Vec<&'static str> {
    FORBID_GUARANTEES.into_iter().filter(|id| !engine.is_forbid(id)).collect()
}

/// Makes `version` active (0: back to the files), records the change with its diff in the
/// audit log, and swaps the engine for the next request.
pub async fn activate(
    gate: &Gate,
    db: &Db,
    version: i64,
    principal: &Principal,
    action: &str,
    override_reason: Option<&str>,
    reasons: Vec<String>,
) -> Result<PolicyDiff, PolicyError> {
    let (engine, _) = engine_of(gate, db, version).await?;
    let missing = missing_guarantees(&engine);
    if !missing.is_empty() && override_reason.is_none_or(|reason| reason.trim().is_empty()) {
        return Err(PolicyError::GuaranteesMissing(missing.iter().map(|id| (*id).to_owned()).collect()));
    }
    let changes = diff(&gate.engine(), &engine);
    let mut tx = db.begin().await?;
    store::activate(&mut tx, version, &principal.id, override_reason).await?;
    let event = audit::Event::new(Actor::from(principal), action, "PolicySet")
        .decided(audit::Decision::Allow, reasons)
        .details(json!({
            "version": version,
            "diff": changes,
            "missing_guarantees": missing,
            "override_reason": override_reason,
        }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    gate.replace(engine);
    Ok(changes)
}

/// Activates a stored draft (not a set that was active before: that is a rollback).
pub async fn activate_draft(
    gate: &Gate,
    db: &Db,
    version: i64,
    principal: &Principal,
    override_reason: Option<&str>,
    reasons: Vec<String>,
) -> Result<PolicyDiff, PolicyError> {
    if let (_, StoredSetOrFiles::Stored(set)) = engine_of(gate, db, version).await?
        && set.status != "draft"
    {
        return Err(PolicyError::NotADraft { version, status: set.status });
    }
    activate(gate, db, version, principal, "policy.activated", override_reason, reasons).await
}

/// Makes an earlier set (0: the files) decide again, keeping the override it had.
pub async fn roll_back(
    gate: &Gate,
    db: &Db,
    version: i64,
    principal: &Principal,
    reasons: Vec<String>,
) -> Result<PolicyDiff, PolicyError> {
    let mut connection = db.pool().acquire().await?;
    let reason = match store::get(&mut connection, version).await? {
        Some(set) => set.override_reason,
        None if version == 0 => None,
        None => return Err(PolicyError::UnknownVersion(version)),
    };
    drop(connection);
    activate(gate, db, version, principal, "policy.rolled_back", reason.as_deref(), reasons).await
}

/// One request to try against a set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedRequest {
    pub principal: SimulatedPrincipal,
    /// e.g. `ReadAudit`.
    pub action: String,
    /// e.g. `AuditLog`, `Purpose::learning-research`, `Subject::<uuid>`.
    pub resource: String,
    /// For `ReadRecords` and `ReadAggregates`: the categories read and the course, if any.
    #[serde(default)]
    pub context: Option<ReadContext>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedPrincipal {
    pub id: String,
    pub kind: PrincipalKind,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// What a set decides for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Outcome {
    /// `allow` or `deny`.
    pub decision: String,
    /// The policies that determined it.
    pub policies: Vec<String>,
    pub errors: Vec<String>,
}

fn decision_word(allowed: bool) -> String {
    if allowed { "allow".to_owned() } else { "deny".to_owned() }
}

pub async fn simulate(gate: &Gate, engine: &PolicyEngine, request: &SimulatedRequest) -> Result<Outcome, PolicyError> {
    let action = Action::parse(&request.action).ok_or_else(|| PolicyError::UnknownAction(request.action.clone()))?;
    let resource = Resource::from_audit_name(&request.resource)
        .ok_or_else(|| PolicyError::UnknownResource(request.resource.clone()))?;
    let principal = Principal {
        id: request.principal.id.clone(),
        kind: request.principal.kind,
        roles: request.principal.roles.iter().copied().collect(),
    };
    let evaluation = gate.evaluate(engine, &principal, action, &resource, request.context.as_ref()).await?;
    Ok(Outcome {
        decision: decision_word(evaluation.allowed),
        policies: evaluation.policy_ids,
        errors: evaluation.errors,
    })
}

/// A recorded decision that a set would make differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChangedDecision {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub recorded: String,
    pub replayed: String,
    pub replayed_policies: Vec<String>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Replay {
    /// Recorded decisions evaluated again.
    pub evaluated: u64,
    pub changed: Vec<ChangedDecision>,
}

/// (actor id, roles, action, resource, read context) of a recorded decision.
type ReplayKey = (String, String, String, String, String);

/// Evaluates `engine` against every access decision the audit log recorded between
/// `from` and `until`, with today's entities, and lists the ones it would change.
pub async fn replay(
    gate: &Gate,
    db: &Db,
    engine: &PolicyEngine,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<Replay, PolicyError> {
    let mut evaluated = 0;
    let mut changed = Vec::new();
    // The same actor, roles, action and resource get the same answer from today's entities.
    let mut cache: BTreeMap<ReplayKey, (bool, Vec<String>)> = BTreeMap::new();
    for name in ["access.allowed", "access.denied"] {
        let filter = EventFilter { from, until, action: Some(name.to_owned()), ..EventFilter::default() };
        let mut after = 0;
        loop {
            let events = audit::list_events(db.pool(), &filter, after, 1000).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            for event in events {
                let Some(action) = event.details["action"].as_str().and_then(Action::parse) else { continue };
                let Some(resource) = Resource::from_audit_name(&event.resource) else { continue };
                let principal_kind = match event.actor.kind {
                    audit::ActorKind::User => PrincipalKind::User,
                    audit::ActorKind::Client => PrincipalKind::Client,
                    audit::ActorKind::System => continue,
                };
                let roles: Vec<&str> = event.actor.roles.iter().map(|role| role.as_str()).collect();
                let context: Option<ReadContext> = serde_json::from_value(event.details["context"].clone()).ok();
                let key = (
                    event.actor.id.clone(),
                    roles.join(","),
                    action.as_str().to_owned(),
                    event.resource.clone(),
                    event.details["context"].to_string(),
                );
                let (allowed, policies) = match cache.get(&key) {
                    Some(known) => known.clone(),
                    None => {
                        let principal = Principal {
                            id: event.actor.id.clone(),
                            kind: principal_kind,
                            roles: event.actor.roles.iter().copied().collect(),
                        };
                        let evaluation = gate.evaluate(engine, &principal, action, &resource, context.as_ref()).await?;
                        let outcome = (evaluation.allowed, evaluation.policy_ids);
                        cache.insert(key, outcome.clone());
                        outcome
                    }
                };
                evaluated += 1;
                let recorded = event.decision == audit::Decision::Allow;
                if recorded != allowed {
                    changed.push(ChangedDecision {
                        seq: event.seq,
                        at: event.at,
                        actor: event.actor.id.clone(),
                        action: action.as_str().to_owned(),
                        resource: event.resource.clone(),
                        recorded: decision_word(recorded),
                        replayed: decision_word(allowed),
                        replayed_policies: policies,
                    });
                }
            }
        }
    }
    changed.sort_by_key(|change| change.seq);
    Ok(Replay { evaluated, changed })
}

/// What a set holds, for reading.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SetView {
    /// 0 for the set from files (`policies/` or `policies_dir`).
    pub version: i64,
    pub files: Vec<PolicyFile>,
    pub schema: String,
    /// Every policy id with its file.
    #[schema(value_type = Object)]
    pub policies: Value,
}

pub fn view(version: i64, engine: &PolicyEngine) -> SetView {
    SetView {
        version,
        files: engine
            .sources()
            .iter()
            .map(|(name, text)| PolicyFile { name: name.clone(), text: text.clone() })
            .collect(),
        schema: engine.schema_text().to_owned(),
        policies: json!(engine.policy_files()),
    }
}
