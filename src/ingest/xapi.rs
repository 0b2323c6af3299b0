//! xAPI 1.0.3 statements (2.0.0 where compatible): validation by the specification's
//! rules, each failure naming the rule and the property, and extraction of the catalogued
//! fields.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::timestamp::Timestamp;

/// The verb that voids an earlier statement (xAPI 1.0.3 §2.3.2).
pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

/// How a statement names its actor (xAPI 1.0.3 §4.1.2.3, Inverse Functional Identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorId {
    Mbox(String),
    MboxSha1sum(String),
    Account { home_page: String, name: String },
    OpenId(String),
}

/// A statement that passed validation, with the fields Consentry can keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub id: Option<Uuid>,
    pub actor: ActorId,
    /// The actor's display name, identity data.
    pub actor_name: Option<String>,
    pub verb: String,
    pub object_id: Option<String>,
    pub object_type: Option<String>,
    /// The statement a `StatementRef` object points at (voiding uses it).
    pub statement_ref: Option<Uuid>,
    pub score_scaled: Option<f64>,
    pub success: Option<bool>,
    pub completion: Option<bool>,
    pub duration_ms: Option<i64>,
    pub registration: Option<Uuid>,
    pub parents: Vec<String>,
    pub timestamp: Option<Timestamp>,
    /// Every extension, as `result.extensions.<IRI>` / `context.extensions.<IRI>` / `object.definition.extensions.<IRI>`.
    pub extensions: Vec<(String, Value)>,
    /// The statement as received, for the idempotency check and conformant storage.
    pub raw: Value,
}

/// A statement that breaks a rule of the specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {rule}")]
pub struct Invalid {
    /// The property at fault, e.g. `actor.mbox` or `result.score.scaled`.
    pub property: String,
    pub rule: String,
}

fn invalid(property: &str, rule: impl Into<String>) -> Invalid {
    Invalid { property: property.to_owned(), rule: rule.into() }
}

/// An IRI as xAPI uses them: an absolute IRI with a scheme.
pub fn is_iri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    !rest.is_empty()
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !text.chars().any(char::is_whitespace)
}

fn object<'a>(value: &'a Value, property: &str) -> Result<&'a Map<String, Value>, Invalid> {
    value.as_object().ok_or_else(|| invalid(property, "must be a JSON object"))
}

fn string<'a>(map: &'a Map<String, Value>, key: &str, property: &str) -> Result<Option<&'a str>, Invalid> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(property, "must be a string")),
    }
}

fn iri(map: &Map<String, Value>, key: &str, property: &str) -> Result<Option<String>, Invalid> {
    match string(map, key, property)? {
        Some(text) if is_iri(text) => Ok(Some(text.to_owned())),
        Some(_) => Err(invalid(property, "must be an absolute IRI (xAPI 1.0.3 §2.2 IRI)")),
        None => Ok(None),
    }
}

fn uuid(map: &Map<String, Value>, key: &str, property: &str) -> Result<Option<Uuid>, Invalid> {
    match string(map, key, property)? {
        Some(text) => Uuid::parse_str(text).map(Some).map_err(|_| invalid(property, "must be a UUID")),
        None => Ok(None),
    }
}

fn language_map(value: &Value, property: &str) -> Result<(), Invalid> {
    let map = object(value, property)?;
    for (tag, text) in map {
        let valid_tag = !tag.is_empty()
            && tag
                .split('-')
                .all(|part| !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid_tag {
            return Err(invalid(property, format!("`{tag}` is not an RFC 5646 language tag")));
        }
        if !text.is_string() {
            return Err(invalid(property, "values of a language map are strings"));
        }
    }
    Ok(())
}

/// ISO 8601 duration as xAPI uses it, in milliseconds (fractions of seconds kept to 0.01 s).
pub fn duration_ms(text: &str) -> Option<i64> {
    match crate::timestamp::parse_duration(text)? {
        iso8601::Duration::Weeks(weeks) => Some(i64::from(weeks) * 7 * 86_400_000),
        iso8601::Duration::YMDHMS { year, month, day, hour, minute, second, millisecond } => {
            // Years and months have no fixed length; xAPI sources use days and smaller units.
            let days = i64::from(year) * 365 + i64::from(month) * 30 + i64::from(day);
            Some(
                ((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60_000
                    + i64::from(second) * 1000
                    + i64::from(millisecond),
            )
        }
    }
}

/// An Agent given as a query parameter (xAPI document resources), by its identifier.
pub fn agent_parameter(text: &str) -> Result<ActorId, Invalid> {
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("agent", "must be an Agent as JSON"))?;
    agent(&value, "agent").map(|(identifier, _)| identifier)
}

fn agent(value: &Value, property: &str) -> Result<(ActorId, Option<String>), Invalid> {
    let map = object(value, property)?;
    match string(map, "objectType", &format!("{property}.objectType"))? {
        None | Some("Agent") | Some("Group") => {}
        Some(other) => {
            return Err(invalid(&format!("{property}.objectType"), format!("`{other}` is neither Agent nor Group")));
        }
    }
    let name = string(map, "name", &format!("{property}.name"))?.map(str::to_owned);
    let present: Vec<&str> =
        ["mbox", "mbox_sha1sum", "account", "openid"].into_iter().filter(|key| map.contains_key(*key)).collect();
    let identifier = match present.as_slice() {
        ["mbox"] => {
            let mbox = string(map, "mbox", &format!("{property}.mbox"))?.unwrap_or_default();
            let address = mbox
                .strip_prefix("mailto:")
                .ok_or_else(|| invalid(&format!("{property}.mbox"), "must be a mailto: IRI"))?;
            if !address.contains('@') || address.starts_with('@') || address.ends_with('@') {
                return Err(invalid(&format!("{property}.mbox"), "must be a mailto: IRI with an e-mail address"));
            }
            ActorId::Mbox(mbox.to_owned())
        }
        ["mbox_sha1sum"] => {
            let sum = string(map, "mbox_sha1sum", &format!("{property}.mbox_sha1sum"))?.unwrap_or_default();
            if sum.len() != 40 || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("{property}.mbox_sha1sum"),
                    "must be the 40 hexadecimal digits of a SHA-1",
                ));
            }
            ActorId::MboxSha1sum(sum.to_ascii_lowercase())
        }
        ["account"] => {
            let account = object(&map["account"], &format!("{property}.account"))?;
            let home_page = iri(account, "homePage", &format!("{property}.account.homePage"))?
                .ok_or_else(|| invalid(&format!("{property}.account.homePage"), "is required"))?;
            let name = string(account, "name", &format!("{property}.account.name"))?
                .ok_or_else(|| invalid(&format!("{property}.account.name"), "is required"))?;
            ActorId::Account { home_page, name: name.to_owned() }
        }
        ["openid"] => ActorId::OpenId(iri(map, "openid", &format!("{property}.openid"))?.unwrap_or_default()),
        [] => {
            return Err(invalid(
                property,
                "an Agent needs exactly one of mbox, mbox_sha1sum, account, openid (§4.1.2.3)",
            ));
        }
        _ => {
            return Err(invalid(
                property,
                "an Agent has exactly one inverse functional identifier, not several (§4.1.2.3)",
            ));
        }
    };
    Ok((identifier, name))
}

fn extensions(parent: &Map<String, Value>, property: &str, found: &mut Vec<(String, Value)>) -> Result<(), Invalid> {
    if let Some(value) = parent.get("extensions") {
        for (key, value) in object(value, &format!("{property}.extensions"))? {
            if !is_iri(key) {
                return Err(invalid(&format!("{property}.extensions"), format!("key `{key}` must be an IRI")));
            }
            found.push((format!("{property}.extensions.{key}"), value.clone()));
        }
    }
    Ok(())
}

/// Validates one statement.
pub fn parse(value: &Value) -> Result<Statement, Invalid> {
    let map = object(value, "statement")?;
    for key in map.keys() {
        let known = [
            "id",
            "actor",
            "verb",
            "object",
            "result",
            "context",
            "timestamp",
            "stored",
            "authority",
            "version",
            "attachments",
        ];
        if !known.contains(&key.as_str()) {
            return Err(invalid(key, "is not a property of a statement (§2.2: no extra properties)"));
        }
    }
    let id = uuid(map, "id", "id")?;
    let (actor, actor_name) = agent(map.get("actor").ok_or_else(|| invalid("actor", "is required"))?, "actor")?;
    let verb = object(map.get("verb").ok_or_else(|| invalid("verb", "is required"))?, "verb")?;
    let verb_id = iri(verb, "id", "verb.id")?.ok_or_else(|| invalid("verb.id", "is required"))?;
    if verb_id == VOIDED {
        let targets_a_statement = map.get("object").and_then(|object| object.get("objectType")).and_then(Value::as_str)
            == Some("StatementRef");
        if !targets_a_statement {
            return Err(invalid("object", "a voiding statement's object is a StatementRef (§2.3.2)"));
        }
    }
    if let Some(display) = verb.get("display") {
        language_map(display, "verb.display")?;
    }
    let mut found = Vec::new();
    let object_value = map.get("object").ok_or_else(|| invalid("object", "is required"))?;
    let object_map = object(object_value, "object")?;
    let mut statement_ref = None;
    let (object_id, object_type) = match string(object_map, "objectType", "object.objectType")? {
        None | Some("Activity") => {
            let id =
                iri(object_map, "id", "object.id")?.ok_or_else(|| invalid("object.id", "an Activity needs an id"))?;
            let definition_type = match object_map.get("definition") {
                Some(definition) => {
                    let definition = object(definition, "object.definition")?;
                    for key in ["name", "description"] {
                        if let Some(text) = definition.get(key) {
                            language_map(text, &format!("object.definition.{key}"))?;
                        }
                    }
                    extensions(definition, "object.definition", &mut found)?;
                    iri(definition, "type", "object.definition.type")?
                }
                None => None,
            };
            (Some(id), definition_type)
        }
        Some("Agent") | Some("Group") => {
            agent(object_value, "object")?;
            (None, None)
        }
        Some("StatementRef") => {
            let target = uuid(object_map, "id", "object.id")?
                .ok_or_else(|| invalid("object.id", "a StatementRef needs a UUID id"))?;
            statement_ref = Some(target);
            (None, None)
        }
        Some("SubStatement") => {
            for nested in ["id", "stored", "version", "authority"] {
                if object_map.contains_key(nested) {
                    return Err(invalid(&format!("object.{nested}"), "a SubStatement must not have it (§2.4.4.3)"));
                }
            }
            if object_map.get("object").and_then(|object| object.get("objectType")).and_then(Value::as_str)
                == Some("SubStatement")
            {
                return Err(invalid("object.object", "a SubStatement must not contain a SubStatement"));
            }
            (None, None)
        }
        Some(other) => return Err(invalid("object.objectType", format!("`{other}` is not an object type"))),
    };
    let (mut score_scaled, mut success, mut completion, mut duration) = (None, None, None, None);
    if let Some(result) = map.get("result") {
        let result = object(result, "result")?;
        if let Some(score) = result.get("score") {
            let score = object(score, "result.score")?;
            let number = |key: &str| -> Result<Option<f64>, Invalid> {
                match score.get(key) {
                    None => Ok(None),
                    Some(value) => value
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| invalid(&format!("result.score.{key}"), "must be a number")),
                }
            };
            score_scaled = number("scaled")?;
            if score_scaled.is_some_and(|scaled| !(-1.0..=1.0).contains(&scaled)) {
                return Err(invalid("result.score.scaled", "must lie between -1 and 1 (§4.1.5.1)"));
            }
            let (raw, min, max) = (number("raw")?, number("min")?, number("max")?);
            if let (Some(min), Some(max)) = (min, max)
                && min >= max
            {
                return Err(invalid("result.score.min", "must be less than max"));
            }
            if let Some(raw) = raw
                && (min.is_some_and(|min| raw < min) || max.is_some_and(|max| raw > max))
            {
                return Err(invalid("result.score.raw", "must lie between min and max"));
            }
        }
        let flag = |key: &str| -> Result<Option<bool>, Invalid> {
            match result.get(key) {
                None => Ok(None),
                Some(Value::Bool(flag)) => Ok(Some(*flag)),
                Some(_) => Err(invalid(&format!("result.{key}"), "must be true or false")),
            }
        };
        success = flag("success")?;
        completion = flag("completion")?;
        if let Some(text) = string(result, "duration", "result.duration")? {
            duration =
                Some(duration_ms(text).ok_or_else(|| invalid("result.duration", "must be an ISO 8601 duration"))?);
        }
        extensions(result, "result", &mut found)?;
    }
    let (mut registration, mut parents) = (None, Vec::new());
    if let Some(context) = map.get("context") {
        let context = object(context, "context")?;
        registration = uuid(context, "registration", "context.registration")?;
        if matches!(object_map.get("objectType").and_then(Value::as_str), Some("Agent") | Some("Group"))
            && (context.contains_key("revision") || context.contains_key("platform"))
        {
            return Err(invalid("context", "revision and platform apply only when the object is an Activity (§4.1.6)"));
        }
        if let Some(activities) = context.get("contextActivities") {
            let activities = object(activities, "context.contextActivities")?;
            for (kind, value) in activities {
                if !["parent", "grouping", "category", "other"].contains(&kind.as_str()) {
                    return Err(invalid(
                        "context.contextActivities",
                        format!("`{kind}` is not a context activity type"),
                    ));
                }
                let list: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                for activity in list {
                    let id = iri(
                        object(activity, &format!("context.contextActivities.{kind}"))?,
                        "id",
                        &format!("context.contextActivities.{kind}.id"),
                    )?
                    .ok_or_else(|| invalid(&format!("context.contextActivities.{kind}.id"), "is required"))?;
                    if kind == "parent" {
                        parents.push(id);
                    }
                }
            }
        }
        extensions(context, "context", &mut found)?;
    }
    let timestamp = match string(map, "timestamp", "timestamp")? {
        Some(text) => Some(
            Timestamp::parse(text)
                .map_err(|_| invalid("timestamp", "must be an ISO 8601 date-time with a time zone"))?,
        ),
        None => None,
    };
    Ok(Statement {
        id,
        actor,
        actor_name,
        verb: verb_id,
        object_id,
        object_type,
        statement_ref,
        score_scaled,
        success,
        completion,
        duration_ms: duration,
        registration,
        parents,
        timestamp,
        extensions: found,
        raw: value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The "simple statement" example of the xAPI 1.0.3 specification, unchanged.
    fn spec_example() -> Value {
        json!({
            "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
            "timestamp": "2015-11-18T12:17:00+00:00",
            "actor": {
                "objectType": "Agent",
                "name": "Project Tin Can API",
                "mbox": "mailto:user@example.com"
            },
            "verb": {
                "id": "http://example.com/xapi/verbs#sent-a-statement",
                "display": { "en-US": "sent" }
            },
            "object": {
                "id": "http://example.com/xapi/activity/simplestatement",
                "definition": {
                    "name": { "en-US": "simple statement" },
                    "description": { "en-US": "A simple Experience API statement. Note that the LRS does not need to have any prior information about the Actor (learner), the verb, or the Activity/object." }
                }
            }
        })
    }

    fn rule_of(statement: Value) -> String {
        parse(&statement).unwrap_err().property
    }

    #[test]
    fn the_specifications_simple_statement_is_accepted_unchanged() {
        let statement = parse(&spec_example()).unwrap();
        assert_eq!(statement.actor, ActorId::Mbox("mailto:user@example.com".to_owned()));
        assert_eq!(statement.verb, "http://example.com/xapi/verbs#sent-a-statement");
    }

    #[test]
    fn each_rule_names_the_property_it_guards() {
        let with = |path: &[&str], value: Value| {
            let mut statement = spec_example();
            let mut target = &mut statement;
            for key in &path[..path.len() - 1] {
                target = target.as_object_mut().unwrap().entry(key.to_string()).or_insert(json!({}));
            }
            target[path[path.len() - 1]] = value;
            statement
        };
        assert_eq!(rule_of(with(&["id"], json!("not-a-uuid"))), "id");
        assert_eq!(rule_of(with(&["actor", "mbox"], json!("user@example.com"))), "actor.mbox");
        assert_eq!(rule_of(with(&["actor", "mbox_sha1sum"], json!("abc"))), "actor", "two identifiers");
        assert_eq!(rule_of(with(&["verb", "id"], json!("sent"))), "verb.id");
        assert_eq!(rule_of(with(&["verb", "display"], json!({ "en US": "sent" }))), "verb.display");
        assert_eq!(rule_of(with(&["object", "id"], json!("no scheme"))), "object.id");
        assert_eq!(rule_of(with(&["result", "score"], json!({ "scaled": 1.5 }))), "result.score.scaled");
        assert_eq!(rule_of(with(&["result", "score"], json!({ "raw": 11, "min": 0, "max": 10 }))), "result.score.raw");
        assert_eq!(rule_of(with(&["result", "duration"], json!("ten minutes"))), "result.duration");
        assert_eq!(rule_of(with(&["result", "success"], json!("yes"))), "result.success");
        assert_eq!(rule_of(with(&["context", "registration"], json!("abc"))), "context.registration");
        assert_eq!(rule_of(with(&["timestamp"], json!("yesterday"))), "timestamp");
        assert_eq!(rule_of(with(&["mood"], json!("happy"))), "mood");
        assert_eq!(rule_of(with(&["result", "extensions"], json!({ "mood": 3 }))), "result.extensions");
    }

    #[test]
    fn an_agent_needs_exactly_one_identifier_of_the_right_form() {
        let mut statement = spec_example();
        statement["actor"] = json!({ "name": "nobody" });
        assert_eq!(rule_of(statement.clone()), "actor");
        statement["actor"] = json!({ "mbox_sha1sum": "A".repeat(40) });
        assert_eq!(parse(&statement).unwrap().actor, ActorId::MboxSha1sum("a".repeat(40)));
        statement["actor"] = json!({ "account": { "homePage": "https://lms.example", "name": "s1" } });
        assert!(matches!(parse(&statement).unwrap().actor, ActorId::Account { .. }));
        statement["actor"] = json!({ "account": { "name": "s1" } });
        assert_eq!(rule_of(statement), "actor.account.homePage");
    }

    #[test]
    fn sub_statements_may_not_nest_or_carry_ids() {
        let mut statement = spec_example();
        statement["object"] = json!({ "objectType": "SubStatement", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0" });
        assert_eq!(rule_of(statement), "object.id");
    }

    #[test]
    fn context_and_voiding_rules_hold() {
        let mut statement = spec_example();
        statement["object"] = json!({ "objectType": "Agent", "mbox": "mailto:peer@example.com" });
        statement["context"] = json!({ "platform": "Moodle" });
        assert_eq!(rule_of(statement), "context", "revision and platform only for Activities");
        let mut statement = spec_example();
        statement["verb"]["id"] = json!(VOIDED);
        assert_eq!(rule_of(statement.clone()), "object", "voiding needs a StatementRef");
        statement["object"] = json!({ "objectType": "StatementRef", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0" });
        assert_eq!(
            parse(&statement).unwrap().statement_ref.map(|id| id.to_string()).as_deref(),
            Some("fd41c918-b88b-4b20-a0a5-a4c32391aaa0")
        );
        let mut statement = spec_example();
        statement["context"] = json!({ "contextActivities": { "sibling": [{ "id": "https://x.example" }] } });
        assert_eq!(rule_of(statement), "context.contextActivities");
        let mut statement = spec_example();
        statement["object"]["objectType"] = json!("Thing");
        assert_eq!(rule_of(statement), "object.objectType");
    }

    #[test]
    fn fields_and_extensions_are_extracted() {
        let mut statement = spec_example();
        statement["result"] = json!({ "score": { "scaled": 0.8 }, "success": true, "duration": "PT1M30.5S", "extensions": { "https://example.com/mood": 4 } });
        statement["context"] =
            json!({ "contextActivities": { "parent": [{ "id": "https://lms.example/course/c01" }] } });
        let parsed = parse(&statement).unwrap();
        assert_eq!(parsed.score_scaled, Some(0.8));
        assert_eq!(parsed.duration_ms, Some(90_500));
        assert_eq!(parsed.parents, vec!["https://lms.example/course/c01"]);
        assert_eq!(parsed.extensions[0].0, "result.extensions.https://example.com/mood");
    }
}
