//! The xAPI document resources and the agents/activities objects over HTTP.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::documents::{self, Resource, Scope};
use super::{IngestError, sources, xapi};
use crate::config::IngestMode;
use crate::problem::{ApiError, AppQuery, ProblemDetails};
use crate::server::AppState;
use crate::timestamp::Timestamp;

const VERSION_HEADER: &str = "x-experience-api-version";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_state, put_state, post_state, delete_state))
        .routes(routes!(get_activity_profile, put_activity_profile, post_activity_profile, delete_activity_profile))
        .routes(routes!(get_agent_profile, put_agent_profile, post_agent_profile, delete_agent_profile))
        .routes(routes!(get_agents))
        .routes(routes!(get_activities))
}

/// Parameters of the document resources (xAPI 1.0.3 §7.4–7.6).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DocumentParams {
    activity_id: Option<String>,
    /// The Agent, as JSON.
    agent: Option<String>,
    registration: Option<String>,
    state_id: Option<String>,
    profile_id: Option<String>,
    /// List only documents changed after this moment.
    since: Option<String>,
}

/// Checks the source and the version header, and works out the document's scope and id.
async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    resource: Resource,
    params: &DocumentParams,
) -> Result<(sources::Source, Scope, Option<String>), ApiError> {
    let source = super::routes::source_of(state, headers).await?;
    state.ingest.admit(&source.id)?;
    state.gate.authorize_ingest(&source.id, &source.kinds, "xapi").await?;
    let version = headers.get(VERSION_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !(version.starts_with("1.0.") || version == "2.0.0") {
        return Err(IngestError::Version.into());
    }
    let bad = |text: &str| ApiError::from(IngestError::BadParameter(text.to_owned()));
    let activity = match &params.activity_id {
        Some(id) if xapi::is_iri(id) => Some(id.clone()),
        Some(_) => return Err(bad("activityId must be an IRI")),
        None => None,
    };
    let agent = match &params.agent {
        Some(text) => {
            let identifier = xapi::agent_parameter(text).map_err(|invalid| bad(&invalid.to_string()))?;
            let (scheme, value) = super::store::identifier(&identifier);
            Some(format!("{}:{value}", scheme.as_str()))
        }
        None => None,
    };
    let (needs_activity, needs_agent, document) = match resource {
        Resource::State => (true, true, params.state_id.clone()),
        Resource::ActivityProfile => (true, false, params.profile_id.clone()),
        Resource::AgentProfile => (false, true, params.profile_id.clone()),
    };
    if needs_activity && activity.is_none() {
        return Err(bad("activityId is required"));
    }
    if needs_agent && agent.is_none() {
        return Err(bad("agent is required"));
    }
    let registration = match (&params.registration, resource) {
        (Some(text), Resource::State) => {
            Some(uuid::Uuid::parse_str(text).map_err(|_| bad("registration must be a UUID"))?.to_string())
        }
        (Some(_), _) => return Err(bad("registration applies to the state resource only")),
        (None, _) => None,
    };
    let scope = Scope {
        resource,
        activity: if needs_activity { activity } else { None },
        agent: if needs_agent { agent } else { None },
        registration,
    };
    Ok((source, scope, document))
}

fn with_version(mut response: Response) -> Response {
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static("1.0.3"));
    response
}

async fn read(
    state: AppState,
    headers: HeaderMap,
    resource: Resource,
    params: DocumentParams,
) -> Result<Response, ApiError> {
    let (_, scope, document) = prepare(&state, &headers, resource, &params).await?;
    let conformant = state.ingest.mode == IngestMode::Conformant;
    let mut connection = state.db.pool().acquire().await?;
    Ok(with_version(match document {
        Some(document) => match documents::get(&mut connection, &scope, &document).await? {
            Some(found) if conformant => {
                let mut response = Body::from(found.content).into_response();
                if let Ok(value) = HeaderValue::from_str(&found.content_type) {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                if let Ok(value) = HeaderValue::from_str(&found.etag) {
                    response.headers_mut().insert(header::ETAG, value);
                }
                response
            }
            _ => ApiError::not_found("no such document").into_response(),
        },
        None => {
            let since = match &params.since {
                Some(text) => Some(
                    Timestamp::parse(text)
                        .map_err(|_| IngestError::BadParameter("since must be a date-time".to_owned()))?,
                ),
                None => None,
            };
            let ids = if conformant { documents::ids(&mut connection, &scope, since).await? } else { Vec::new() };
            axum::Json(ids).into_response()
        }
    }))
}

async fn write(
    state: AppState,
    headers: HeaderMap,
    resource: Resource,
    params: DocumentParams,
    body: Bytes,
    merge: bool,
) -> Result<Response, ApiError> {
    let (source, scope, document) = prepare(&state, &headers, resource, &params).await?;
    let document = document
        .ok_or_else(|| IngestError::BadParameter("the document id (stateId or profileId) is required".to_owned()))?;
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("application/octet-stream");
    if merge && !content_type.starts_with("application/json") {
        return Err(IngestError::NotMergeable.into());
    }
    if state.ingest.mode == IngestMode::Conformant {
        let mut tx = state.db.begin().await?;
        documents::put(&mut tx, &source.id, &scope, &document, content_type, &body, merge).await?;
        tx.commit().await?;
    } else {
        // Minimisation: no purpose reads these documents, so they are not kept.
        metrics::counter!("ingest_documents_discarded_total", "resource" => resource.as_str()).increment(1);
    }
    Ok(with_version(StatusCode::NO_CONTENT.into_response()))
}

async fn remove(
    state: AppState,
    headers: HeaderMap,
    resource: Resource,
    params: DocumentParams,
) -> Result<Response, ApiError> {
    let (_, scope, document) = prepare(&state, &headers, resource, &params).await?;
    if document.is_none() && resource != Resource::State {
        return Err(IngestError::BadParameter("profileId is required".to_owned()).into());
    }
    let mut tx = state.db.begin().await?;
    documents::delete(&mut tx, &scope, document.as_deref()).await?;
    tx.commit().await?;
    Ok(with_version(StatusCode::NO_CONTENT.into_response()))
}

macro_rules! document_operations {
    ($resource:expr, $path:literal, $tag_name:literal, $get:ident, $put:ident, $post:ident, $delete:ident) => {
        #[doc = concat!("Read a ", $tag_name, " document, or list the document ids.")]
        #[utoipa::path(get, path = $path, tag = "ingest", operation_id = stringify!($get), params(DocumentParams),
            security(("basic" = [])),
            responses(
                (status = 200, description = "The document (conformant mode), or the list of ids"),
                (status = 400, description = "Missing or malformed parameters", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 404, description = "No such document (always so in minimise mode)", body = ProblemDetails, content_type = "application/problem+json"),
            ))]
        async fn $get(State(state): State<AppState>, headers: HeaderMap, AppQuery(params): AppQuery<DocumentParams>) -> Result<Response, ApiError> {
            read(state, headers, $resource, params).await
        }

        #[doc = concat!("Store a ", $tag_name, " document (kept in conformant mode only).")]
        #[utoipa::path(put, path = $path, tag = "ingest", operation_id = stringify!($put), params(DocumentParams),
            request_body(content = String, description = "The document, of any content type", content_type = "application/octet-stream"),
            security(("basic" = [])),
            responses(
                (status = 204, description = "Accepted"),
                (status = 400, description = "Missing or malformed parameters", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
            ))]
        async fn $put(State(state): State<AppState>, headers: HeaderMap, AppQuery(params): AppQuery<DocumentParams>, body: Bytes) -> Result<Response, ApiError> {
            write(state, headers, $resource, params, body, false).await
        }

        #[doc = concat!("Merge JSON into a ", $tag_name, " document (kept in conformant mode only).")]
        #[utoipa::path(post, path = $path, tag = "ingest", operation_id = stringify!($post), params(DocumentParams),
            request_body(content = Object, description = "A JSON object to merge into the document", content_type = "application/json"),
            security(("basic" = [])),
            responses(
                (status = 204, description = "Accepted"),
                (status = 400, description = "Missing parameters, or not JSON objects to merge", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
            ))]
        async fn $post(State(state): State<AppState>, headers: HeaderMap, AppQuery(params): AppQuery<DocumentParams>, body: Bytes) -> Result<Response, ApiError> {
            write(state, headers, $resource, params, body, true).await
        }

        #[doc = concat!("Delete a ", $tag_name, " document.")]
        #[utoipa::path(delete, path = $path, tag = "ingest", operation_id = stringify!($delete), params(DocumentParams),
            security(("basic" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 400, description = "Missing or malformed parameters", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
            ))]
        async fn $delete(State(state): State<AppState>, headers: HeaderMap, AppQuery(params): AppQuery<DocumentParams>) -> Result<Response, ApiError> {
            remove(state, headers, $resource, params).await
        }
    };
}

document_operations!(
    Resource::State,
    "/xapi/activities/state",
    "state",
    get_state,
    put_state,
    post_state,
    delete_state
);
document_operations!(
    Resource::ActivityProfile,
    "/xapi/activities/profile",
    "activity profile",
    get_activity_profile,
    put_activity_profile,
    post_activity_profile,
    delete_activity_profile
);
document_operations!(
    Resource::AgentProfile,
    "/xapi/agents/profile",
    "agent profile",
    get_agent_profile,
    put_agent_profile,
    post_agent_profile,
    delete_agent_profile
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentParams {
    /// The Agent, as JSON.
    agent: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    activity_id: String,
}

/// The Person object of an Agent (xAPI §7.6): only the identifier asked about; Consentry
/// passes on no names or other identifiers it holds.
#[utoipa::path(get, path = "/xapi/agents", tag = "ingest", operation_id = "get_xapi_agents", params(AgentParams),
    security(("basic" = [])),
    responses(
        (status = 200, description = "A Person object"),
        (status = 400, description = "The agent is malformed", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<AgentParams>,
) -> Result<Response, ApiError> {
    let scope_params = DocumentParams { agent: Some(params.agent.clone()), ..DocumentParams::default() };
    prepare(&state, &headers, Resource::AgentProfile, &scope_params).await?;
    let identifier =
        xapi::agent_parameter(&params.agent).map_err(|invalid| IngestError::BadParameter(invalid.to_string()))?;
    let person = match identifier {
        xapi::ActorId::Mbox(mbox) => json!({ "objectType": "Person", "mbox": [mbox] }),
        xapi::ActorId::MboxSha1sum(sum) => json!({ "objectType": "Person", "mbox_sha1sum": [sum] }),
        xapi::ActorId::Account { home_page, name } => {
            json!({ "objectType": "Person", "account": [{ "homePage": home_page, "name": name }] })
        }
        xapi::ActorId::OpenId(openid) => json!({ "objectType": "Person", "openid": [openid] }),
    };
    Ok(with_version(axum::Json(person).into_response()))
}

/// The Activity object (xAPI §7.5), as far as Consentry knows it: its id.
#[utoipa::path(get, path = "/xapi/activities", tag = "ingest", operation_id = "get_xapi_activities", params(ActivityParams),
    security(("basic" = [])),
    responses(
        (status = 200, description = "An Activity object"),
        (status = 400, description = "The activityId is not an IRI", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_activities(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<ActivityParams>,
) -> Result<Response, ApiError> {
    let scope_params = DocumentParams { activity_id: Some(params.activity_id.clone()), ..DocumentParams::default() };
    prepare(&state, &headers, Resource::ActivityProfile, &scope_params).await?;
    Ok(with_version(axum::Json(json!({ "objectType": "Activity", "id": params.activity_id })).into_response()))
}
