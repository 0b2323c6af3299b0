//! The entities of one request, read from the database: the principal with its roles and
//! relations, and the resource with its attributes.

use std::collections::BTreeMap;
use std::str::FromStr;

use cedar_policy::{Context, Entities, EntityUid, Schema};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use super::{Action, PolicyError, ReadContext, Resource};
use crate::auth::{Principal, PrincipalKind};
use crate::timestamp::Timestamp;

/// A request ready for Cedar.
pub struct CedarRequest {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub context: Context,
    pub entities: Entities,
}

fn reference(entity_type: &str, id: &str) -> Value {
    json!({ "__entity": { "type": format!("Consentry::{entity_type}"), "id": id } })
}

fn uid(entity_type: &str, id: &str) -> Result<EntityUid, PolicyError> {
    let text = format!("Consentry::{entity_type}::{}", Value::String(id.to_owned()));
    EntityUid::from_str(&text).map_err(|error| PolicyError::Evaluation(error.to_string()))
}

async fn strings(connection: &mut AnyConnection, sql: &'static str, key: &str) -> Result<Vec<String>, PolicyError> {
    Ok(sqlx::query_scalar(sql).bind(key.to_owned()).fetch_all(connection).await?)
}

/// Builds principal, resource and context entities for `action`.
pub async fn build(
    connection: &mut AnyConnection,
    schema: &Schema,
    principal: &Principal,
    action: Action,
    resource: &Resource,
    context: Option<&ReadContext>,
) -> Result<CedarRequest, PolicyError> {
    let mut entities: BTreeMap<String, Value> = BTreeMap::new();
    let principal_uid = match principal.kind {
        PrincipalKind::User => {
            let subject: Option<Option<String>> = sqlx::query_scalar("SELECT subject_id FROM users WHERE id = $1")
                .bind(principal.id.clone())
                .fetch_optional(&mut *connection)
                .await?;
            let mentor_of =
                strings(connection, "SELECT group_id FROM group_mentors WHERE user_id = $1", &principal.id).await?;
            let teaches =
                strings(connection, "SELECT course_id FROM course_teachers WHERE user_id = $1", &principal.id).await?;
            let wards =
                strings(connection, "SELECT subject_id FROM guardians WHERE user_id = $1", &principal.id).await?;
            let mut attrs = json!({
                "roles": principal.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                "mentor_of": mentor_of.iter().map(|group| reference("Group", group)).collect::<Vec<_>>(),
                "teaches": teaches.iter().map(|course| reference("Course", course)).collect::<Vec<_>>(),
                "guardian_of": wards.iter().map(|ward| reference("Subject", ward)).collect::<Vec<_>>(),
            });
            if let Some(subject) = subject.flatten() {
                attrs["subject"] = reference("Subject", &subject);
                add_subject(connection, &mut entities, &subject).await?;
            }
            entities.insert(
                format!("User::{}", principal.id),
                json!({ "uid": { "type": "Consentry::User", "id": principal.id }, "attrs": attrs, "parents": [] }),
            );
            uid("User", &principal.id)?
        }
        PrincipalKind::Client => {
            // A token names its client by the registered token subject; an unregistered
            // subject is an inactive client registered for nothing.
            let registration = crate::clients::registration(connection, &principal.id)
                .await
                .map_err(|error| PolicyError::Evaluation(error.to_string()))?;
            let (id, active, purposes) = match registration {
                Some(client) => (client.id, client.active, client.purposes),
                None => (principal.id.clone(), false, Vec::new()),
            };
            add_client(&mut entities, &id, active, purposes.iter().map(|purpose| purpose.as_str()));
            uid("Client", &id)?
        }
    };
    let resource_uid = match resource {
        Resource::AuditLog => uid("AuditLog", "log")?,
        Resource::PolicySet => uid("PolicySet", "active")?,
        Resource::Source(id) => {
            let row = sqlx::query("SELECT kinds, status FROM sources WHERE id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *connection)
                .await?;
            let (kinds, active) = match row {
                Some(row) => {
                    let kinds: String = row.try_get("kinds")?;
                    let status: String = row.try_get("status")?;
                    (serde_json::from_str::<Vec<String>>(&kinds).unwrap_or_default(), status == "active")
                }
                None => (Vec::new(), false),
            };
            entities.insert(
                format!("Source::{id}"),
                json!({ "uid": { "type": "Consentry::Source", "id": id }, "attrs": { "kinds": kinds, "active": active }, "parents": [] }),
            );
            uid("Source", id)?
        }
        Resource::Client(id) => {
            let client = crate::clients::get(connection, id).await.ok();
            let key = format!("Client::{id}");
            if !entities.contains_key(&key) {
                let (active, purposes) = match &client {
                    Some(client) => (client.status == "active", client.purposes.clone()),
                    None => (false, Vec::new()),
                };
                add_client(&mut entities, id, active, purposes.iter().map(|purpose| purpose.as_str()));
            }
            uid("Client", id)?
        }
        Resource::Proposal(id) => {
            let subject: Option<String> = sqlx::query_scalar("SELECT subject_id FROM proposals WHERE id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *connection)
                .await?;
            let subject = subject.unwrap_or_else(|| uuid::Uuid::nil().to_string());
            add_subject(connection, &mut entities, &subject).await?;
            entities.insert(
                format!("Proposal::{id}"),
                json!({ "uid": { "type": "Consentry::Proposal", "id": id }, "attrs": { "subject": reference("Subject", &subject) }, "parents": [] }),
            );
            uid("Proposal", id)?
        }
        Resource::DataRequest(id) => {
            // The queue as a whole (`*`) belongs to no student.
            let subject: Option<String> = sqlx::query_scalar("SELECT subject_id FROM data_requests WHERE id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *connection)
                .await?;
            let subject = subject.unwrap_or_else(|| uuid::Uuid::nil().to_string());
            add_subject(connection, &mut entities, &subject).await?;
            entities.insert(
                format!("DataRequest::{id}"),
                json!({ "uid": { "type": "Consentry::DataRequest", "id": id }, "attrs": { "subject": reference("Subject", &subject) }, "parents": [] }),
            );
            uid("DataRequest", id)?
        }
        Resource::Dpia(id) => {
            entities.insert(
                format!("Dpia::{id}"),
                json!({ "uid": { "type": "Consentry::Dpia", "id": id }, "attrs": {}, "parents": [] }),
            );
            uid("Dpia", id)?
        }
        Resource::Purpose(id) => {
            add_purpose(connection, &mut entities, id.as_str()).await?;
            uid("Purpose", id.as_str())?
        }
        Resource::Subject(id) => {
            add_subject(connection, &mut entities, &id.to_string()).await?;
            uid("Subject", &id.to_string())?
        }
    };
    let action_uid = EntityUid::from_str(&format!("Consentry::Action::\"{}\"", action.as_str()))
        .map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    let context = if action.is_read() {
        let read = context.cloned().unwrap_or_default();
        let mut value = json!({ "categories": read.categories });
        if let Some(course) = &read.course {
            value["course"] = reference("Course", course);
        }
        Context::from_json_value(value, Some((schema, &action_uid)))
            .map_err(|error| PolicyError::Evaluation(error.to_string()))?
    } else {
        Context::empty()
    };
    let entities = Entities::from_json_value(Value::Array(entities.into_values().collect()), Some(schema))
        .map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    Ok(CedarRequest { principal: principal_uid, action: action_uid, resource: resource_uid, context, entities })
}

/// A client with the purposes it is registered for, which are themselves entities.
fn add_client<'a>(
    entities: &mut BTreeMap<String, Value>,
    id: &str,
    active: bool,
    purposes: impl Iterator<Item = &'a str>,
) {
    let purposes: Vec<Value> = purposes.map(|purpose| reference("Purpose", purpose)).collect();
    let attrs = json!({ "purposes": purposes, "active": active });
    entities.insert(
        format!("Client::{id}"),
        json!({ "uid": { "type": "Consentry::Client", "id": id }, "attrs": attrs, "parents": [] }),
    );
}

/// A student with their groups (as parents) and whether they are under 16.
async fn add_subject(
    connection: &mut AnyConnection,
    entities: &mut BTreeMap<String, Value>,
    subject: &str,
) -> Result<(), PolicyError> {
    let key = format!("Subject::{subject}");
    if entities.contains_key(&key) {
        return Ok(());
    }
    let birth: Option<Option<String>> = sqlx::query_scalar("SELECT date_of_birth FROM subjects WHERE id = $1")
        .bind(subject.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    let groups = strings(connection, "SELECT group_id FROM group_members WHERE subject_id = $1", subject).await?;
    let under_16 = birth.flatten().is_some_and(|date| is_under_16(&date, Timestamp::now()));
    let parents: Vec<Value> = groups.iter().map(|group| json!({ "type": "Consentry::Group", "id": group })).collect();
    entities.insert(key, json!({ "uid": { "type": "Consentry::Subject", "id": subject }, "attrs": { "under_16": under_16 }, "parents": parents }));
    Ok(())
}

/// A purpose's status, basis and reach; a purpose not yet registered is `none`.
async fn add_purpose(
    connection: &mut AnyConnection,
    entities: &mut BTreeMap<String, Value>,
    id: &str,
) -> Result<(), PolicyError> {
    let row = sqlx::query(
        "SELECT p.status, v.definition FROM purposes p JOIN purpose_versions v ON v.purpose_id = p.id AND v.version = p.version \
         WHERE p.id = $1",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *connection)
    .await?;
    let attrs = match row {
        Some(row) => {
            let status: String = row.try_get("status")?;
            let definition: String = row.try_get("definition")?;
            let definition: Value = serde_json::from_str(&definition).unwrap_or_default();
            let basis = definition["legal_basis"].as_str().unwrap_or_default().to_owned();
            json!({
                "status": status,
                "legal_basis": basis,
                "granularity": definition["granularity"].as_str().unwrap_or_default(),
                "categories": definition["categories"].as_array().cloned().unwrap_or_default(),
                "art9_condition": definition["art9_condition"].is_string(),
            })
        }
        None => {
            json!({ "status": "none", "legal_basis": "", "granularity": "", "categories": [], "art9_condition": false })
        }
    };
    entities.insert(
        format!("Purpose::{id}"),
        json!({ "uid": { "type": "Consentry::Purpose", "id": id }, "attrs": attrs, "parents": [] }),
    );
    Ok(())
}

/// Whether someone born on `birth_date` (`YYYY-MM-DD`) is under 16 at `now`.
pub fn is_under_16(birth_date: &str, now: Timestamp) -> bool {
    let today = now.to_storage();
    let (Some(born), Some(now)) = (birth_date.get(..10), today.get(..10)) else { return false };
    let (Ok(born_year), Ok(this_year)) = (born[..4].parse::<i32>(), now[..4].parse::<i32>()) else { return false };
    // `-MM-DD` strings of the same form compare like dates.
    let had_birthday = now[4..] >= born[4..];
    this_year - born_year - i32::from(!had_birthday) < 16
}

/// A source delivering data of `kind` as itself.
pub fn source_request(
    schema: &Schema,
    id: &str,
    kinds: &[String],
    active: bool,
    kind: &str,
) -> Result<CedarRequest, PolicyError> {
    let entity = json!([{ "uid": { "type": "Consentry::Source", "id": id }, "attrs": { "kinds": kinds, "active": active }, "parents": [] }]);
    let entities =
        Entities::from_json_value(entity, Some(schema)).map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    let action = EntityUid::from_str("Consentry::Action::\"Ingest\"")
        .map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    let context = Context::from_json_value(json!({ "kind": kind }), Some((schema, &action)))
        .map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    let source = uid("Source", id)?;
    Ok(CedarRequest { principal: source.clone(), action, resource: source, context, entities })
}

#[cfg(test)]
mod tests {
    use super::is_under_16;
    use crate::timestamp::Timestamp;

    #[test]
    fn age_is_counted_in_whole_years() {
        let now = Timestamp::parse("2026-11-23T12:00:00Z").unwrap();
        assert!(is_under_16("2010-11-24", now));
        assert!(!is_under_16("2010-11-23", now), "the 16th birthday counts");
        assert!(!is_under_16("1990-01-01", now));
        assert!(!is_under_16("garbage", now));
    }
}
