//! Signing people in and out: the session endpoints, and in demo mode a login picker,
//! clearly marked DEMO, that exists only on a server started with `--demo`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{self, COOKIE};
use super::{Principal, Role};
use crate::audit::{self, Actor, ActorKind, Decision, Event};
use crate::problem::{ApiError, ProblemDetails, ProblemType};
use crate::server::AppState;

/// The double-submit cookie that protects the demo login form.
const LOGIN_CSRF_COOKIE: &str = "consentry_login_csrf";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(demo_login_page, demo_login))
        .routes(routes!(get_session))
        .routes(routes!(logout))
        .routes(routes!(get_user_roles, set_user_roles))
        .routes(routes!(set_group_mentors))
        .routes(routes!(start_login))
        .routes(routes!(finish_login))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// The configured identity provider's id.
    provider: String,
}

/// Sign in with an identity provider (OpenID Connect).
///
/// Redirects to the provider's sign-in page (authorization code flow with PKCE).
#[utoipa::path(get, path = "/auth/login", tag = "auth", operation_id = "start_login",
    params(LoginParams),
    responses(
        (status = 303, description = "On to the provider"),
        (status = 404, description = "No such provider", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The provider cannot be reached", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn start_login(
    State(state): State<AppState>,
    crate::problem::AppQuery(params): crate::problem::AppQuery<LoginParams>,
) -> Result<Response, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    let url =
        super::oidc::begin(&mut connection, &state.oidc, &state.oidc_providers, &params.provider, state.clock.now())
            .await
            .map_err(oidc_problem)?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn oidc_problem(error: super::oidc::OidcError) -> ApiError {
    use super::oidc::OidcError;
    match error {
        OidcError::UnknownProvider(_) => ApiError::not_found(error.to_string()),
        OidcError::Provider(_) => ApiError::new(ProblemType::ServiceUnavailable, error.to_string()),
        OidcError::UnknownState | OidcError::Refused(_) | OidcError::BadToken(_) => {
            ApiError::new(ProblemType::Unauthenticated, error.to_string())
        }
        OidcError::NotLinked(_) => ApiError::new(ProblemType::Forbidden, error.to_string()),
        OidcError::Db(error) => error.into(),
        OidcError::Store(error) => error.into(),
    }
}

/// Where the identity provider sends the browser back.
#[utoipa::path(get, path = "/auth/callback", tag = "auth", operation_id = "finish_login",
    params(CallbackParams),
    responses(
        (status = 303, description = "Signed in; on to the web interface"),
        (status = 401, description = "Unknown or used state, refused by the provider, or an ID token that does not verify", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "No person here matches the sign-in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The provider cannot be reached", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn finish_login(
    State(state): State<AppState>,
    crate::problem::AppQuery(params): crate::problem::AppQuery<CallbackParams>,
) -> Result<Response, ApiError> {
    let (Some(code), Some(login_state)) = (params.code.as_deref(), params.state.as_deref()) else {
        let reason = params.error_description.or(params.error).unwrap_or_else(|| "no code".to_owned());
        audit_login(&state, "unknown", "oidc", Err(format!("provider-error: {reason}"))).await?;
        return Err(ApiError::new(ProblemType::Unauthenticated, format!("the sign-in did not complete: {reason}")));
    };
    let store = state.sessions.clone();
    let mut connection = state.db.pool().acquire().await?;
    let finished =
        super::oidc::finish(&mut connection, &state.oidc, &state.oidc_providers, login_state, code, store.clock.now())
            .await;
    let signed_in = match finished {
        Ok(signed_in) => signed_in,
        Err(error) => {
            drop(connection);
            audit_login(&state, "unknown", "oidc", Err(error.to_string())).await?;
            return Err(oidc_problem(error));
        }
    };
    let opened = sessions::open(
        &mut connection,
        &signed_in.user,
        &signed_in.provider,
        &signed_in.roles,
        store.lifetimes,
        store.clock.now(),
    )
    .await
    .map_err(ApiError::internal)?;
    drop(connection);
    audit_login(&state, &signed_in.user, &signed_in.provider, Ok(())).await?;
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) =
        HeaderValue::from_str(&store.set_cookie(COOKIE, Some(&opened.token), store.lifetimes.absolute_seconds))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    roles: Vec<Role>,
}

async fn user_roles(state: &AppState, user: &str) -> Result<Vec<Role>, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    crate::directory::roles_of(&mut connection, user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user has the id `{user}`")))
}

/// A person's local role grants.
#[utoipa::path(get, path = "/api/v1/users/{id}/roles", tag = "auth", operation_id = "get_user_roles",
    params(("id" = String, Path, description = "Login id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles granted here", body = [Role]),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_user_roles(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Vec<Role>>, ApiError> {
    state.gate.authorize(&principal, crate::policy::Action::GrantRoles, crate::policy::Resource::PolicySet).await?;
    Ok(Json(user_roles(&state, &id).await?))
}

/// Grant a person roles locally (replaces their local grants).
///
/// Beside what their identity provider says: privacy officer, DPO, admin, mentor, …
/// Audited with the roles before and after.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "auth", operation_id = "set_user_roles",
    params(("id" = String, Path, description = "Login id")),
    request_body = RolesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles now granted", body = [Role]),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown role", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_user_roles(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::problem::AppJson(body): crate::problem::AppJson<RolesBody>,
) -> Result<Json<Vec<Role>>, ApiError> {
    let decision =
        state.gate.authorize(&principal, crate::policy::Action::GrantRoles, crate::policy::Resource::PolicySet).await?;
    let before = user_roles(&state, &id).await?;
    let mut roles = body.roles;
    roles.sort();
    roles.dedup();
    let mut tx = state.db.begin().await?;
    crate::directory::set_roles(&mut tx, &id, &roles).await?;
    let event = Event::new(Actor::from(&principal), "user.roles_granted", format!("User::{id}"))
        .decided(Decision::Allow, decision.reasons)
        .details(json!({ "from": before, "to": roles }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(roles))
}

fn demo_only(state: &AppState) -> Result<&crate::demo::DemoMode, ApiError> {
    state.demo.as_deref().ok_or_else(|| ApiError::not_found("there is no demo login on this server"))
}

/// The demo login picker.
///
/// Lists the demo institution's people by role; choosing one signs in as them. Only on a
/// server started with `--demo`.
#[utoipa::path(get, path = "/auth/demo", tag = "auth", operation_id = "demo_login_page",
    responses(
        (status = 200, description = "The picker (HTML)", content_type = "text/html"),
        (status = 404, description = "Not a demo server", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn demo_login_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let demo = demo_only(&state)?;
    let csrf = super::secrets::issue().map_err(ApiError::internal)?;
    let people: Vec<_> =
        demo.institution.principals().into_iter().filter(|person| person.kind == super::PrincipalKind::User).collect();
    let mut by_role: Vec<(Role, Vec<&crate::demo::DemoPrincipal>)> = Vec::new();
    for role in Role::ALL {
        let holders: Vec<_> = people.iter().filter(|person| person.roles.contains(&role)).take(12).collect();
        if !holders.is_empty() {
            by_role.push((role, holders));
        }
    }
    let language = crate::web::language(&headers);
    let texts = crate::web::texts(language);
    let markup = crate::web::bare(
        language,
        texts.demo_title,
        html! {
            p.demo role="alert" { (texts.demo_warning) }
            h1 { (texts.demo_title) }
            form.person method="post" action="/auth/demo" {
                input type="hidden" name="csrf" value=(csrf);
                label for="demo-sub" { (texts.demo_any_person) }
                input id="demo-sub" type="text" name="sub" autocomplete="username" required;
                button id="demo-sub-submit" type="submit" { (texts.sign_in) }
            }
            @for (role, holders) in &by_role {
                h2 { (crate::web::role_name(language, *role)) }
                form.people method="post" action="/auth/demo" {
                    input type="hidden" name="csrf" value=(csrf);
                    @for person in holders {
                        button type="submit" name="sub" value=(person.id) { (person.id) " — " (person.name) }
                    }
                }
            }
        },
    );
    let store = state.sessions.clone();
    let cookie = store.set_cookie(LOGIN_CSRF_COOKIE, Some(&csrf), 600);
    Ok(([(header::SET_COOKIE, cookie)], markup).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DemoLoginForm {
    sub: String,
    csrf: String,
}

async fn audit_login(
    state: &AppState,
    user: &str,
    provider: &str,
    outcome: Result<(), String>,
) -> Result<(), ApiError> {
    let actor = Actor { id: user.to_owned(), kind: ActorKind::User, roles: Vec::new() };
    let event = match outcome {
        Ok(()) => Event::new(actor, "auth.login", format!("User::{user}"))
            .decided(Decision::Allow, vec![provider.to_owned()])
            .details(json!({ "provider": provider })),
        Err(reason) => Event::new(actor, "auth.login_failed", format!("User::{user}"))
            .decided(Decision::Deny, vec![reason.clone()])
            .details(json!({ "provider": provider, "reason": reason })),
    };
    audit::record_alone(&state.db, event).await?;
    Ok(())
}

/// Sign in as a demo person (demo servers only).
#[utoipa::path(post, path = "/auth/demo", tag = "auth", operation_id = "demo_login",
    request_body(content = DemoLoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in; on to the web interface"),
        (status = 403, description = "The form's CSRF token does not match", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a demo server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No such demo person", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn demo_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DemoLoginForm>,
) -> Result<Response, ApiError> {
    let demo = demo_only(&state)?;
    let expected = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| sessions::cookie(cookies, LOGIN_CSRF_COOKIE));
    if expected.as_deref() != Some(form.csrf.as_str()) {
        audit_login(&state, &form.sub, "demo", Err("csrf-mismatch".to_owned())).await?;
        return Err(ApiError::new(ProblemType::Forbidden, "the form is stale or forged: open the login page again"));
    }
    let known = demo.institution.principal(&form.sub).is_some_and(|person| person.kind == super::PrincipalKind::User);
    if !known {
        audit_login(&state, &form.sub, "demo", Err("unknown-user".to_owned())).await?;
        return Err(ApiError::invalid_field("sub", format!("no demo person has the id `{}`", form.sub)));
    }
    let store = state.sessions.clone();
    let mut connection = state.db.pool().acquire().await?;
    let opened = sessions::open(&mut connection, &form.sub, "demo", &[], store.lifetimes, store.clock.now())
        .await
        .map_err(ApiError::internal)?;
    drop(connection);
    audit_login(&state, &form.sub, "demo", Ok(())).await?;
    let mut response = Redirect::to("/").into_response();
    let session_cookie = store.set_cookie(COOKIE, Some(&opened.token), store.lifetimes.absolute_seconds);
    let cleared = store.set_cookie(LOGIN_CSRF_COOKIE, None, 0);
    for cookie in [session_cookie, cleared] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The signed-in person's session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    user: String,
    roles: Vec<Role>,
    provider: String,
    expires_at: String,
    /// Send as `X-CSRF-Token` with every state-changing request made with the cookie.
    csrf_token: String,
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| sessions::cookie(cookies, COOKIE))
}

/// My session.
#[utoipa::path(get, path = "/auth/session", tag = "auth", operation_id = "get_session",
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Not signed in, or the session ended", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_session(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<SessionView>, ApiError> {
    let token = session_token(&headers).ok_or(super::AuthError::SessionEnded)?;
    let store = state.sessions.clone();
    let mut connection = state.db.pool().acquire().await?;
    let session = sessions::resolve(&mut connection, &token, store.lifetimes, store.clock.now())
        .await
        .map_err(ApiError::internal)?
        .ok_or(super::AuthError::SessionEnded)?;
    Ok(Json(SessionView {
        user: session.principal.id,
        roles: session.principal.roles.into_iter().collect(),
        provider: session.provider,
        expires_at: session.expires_at,
        csrf_token: session.csrf,
    }))
}

/// Sign out: ends the session here, and at the identity provider where it supports
/// RP-initiated logout (then the answer sends the browser there).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "logout",
    responses(
        (status = 204, description = "Signed out"),
        (status = 303, description = "Signed out here; on to the provider to sign out there"),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Missing CSRF token", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn logout(State(state): State<AppState>, principal: Principal, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_token(&headers).ok_or(super::AuthError::SessionEnded)?;
    let at_provider = end_session(&state, &principal, &token).await?;
    let cleared = state.sessions.clone().set_cookie(COOKIE, None, 0);
    match at_provider {
        Some(url) => Ok(([(header::SET_COOKIE, cleared)], Redirect::to(&url)).into_response()),
        None => Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response()),
    }
}

/// Ends the session `token` of `principal`, audited; returns where to sign out at the
/// identity provider too, if it offers that. The caller clears the cookie.
pub async fn end_session(state: &AppState, principal: &Principal, token: &str) -> Result<Option<String>, ApiError> {
    let store = state.sessions.clone();
    let mut connection = state.db.pool().acquire().await?;
    let provider = sessions::resolve(&mut connection, token, store.lifetimes, store.clock.now())
        .await
        .map_err(ApiError::internal)?
        .map(|session| session.provider);
    sessions::end(&mut connection, token).await.map_err(ApiError::internal)?;
    drop(connection);
    let event = Event::new(Actor::from(principal), "auth.logout", format!("User::{}", principal.id))
        .decided(Decision::Allow, Vec::new());
    audit::record_alone(&state.db, event).await?;
    Ok(match provider {
        Some(provider) => super::oidc::logout_url(&state.oidc, &state.oidc_providers, &provider).await,
        None => None,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MentorsBody {
    /// Login ids of the group's mentors.
    mentors: Vec<String>,
}

/// Make people mentors of a group (replaces its mentors).
///
/// A mentor sees and decides the proposals of the students in their groups. Audited with
/// the mentors before and after.
#[utoipa::path(put, path = "/api/v1/groups/{id}/mentors", tag = "auth", operation_id = "set_group_mentors",
    params(("id" = String, Path, description = "Group id")),
    request_body = MentorsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group's mentors now", body = [String]),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown person", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_group_mentors(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::problem::AppJson(body): crate::problem::AppJson<MentorsBody>,
) -> Result<Json<Vec<String>>, ApiError> {
    let decision =
        state.gate.authorize(&principal, crate::policy::Action::GrantRoles, crate::policy::Resource::PolicySet).await?;
    let mut mentors = body.mentors;
    mentors.sort();
    mentors.dedup();
    let mut tx = state.db.begin().await?;
    let before = crate::directory::group_mentors(&mut tx, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no group has the id `{id}`")))?;
    let mut unknown = Vec::new();
    for (index, mentor) in mentors.iter().enumerate() {
        if crate::directory::roles_of(&mut tx, mentor).await?.is_none() {
            unknown.push(crate::problem::FieldError::new(
                format!("mentors[{index}]"),
                format!("no person has the login `{mentor}`"),
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::invalid(unknown));
    }
    crate::directory::set_group_mentors(&mut tx, &id, &mentors).await?;
    let event = Event::new(Actor::from(&principal), "group.mentors_changed", format!("Group::{id}"))
        .decided(Decision::Allow, decision.reasons)
        .details(json!({ "from": before, "to": mentors }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(mentors))
}
