//! The one place where failures become HTTP responses: RFC 9457 problem details.
//!
//! Handlers return [`ApiError`]; every module's error converts into it here. A final
//! middleware ([`render_problems`]) gives every 4xx and 5xx response, including the ones
//! axum and tower-http produce themselves (404, 405, 408, 413), the same envelope with
//! the request path and request id, and logs the cause of each 5xx once.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::analytics::AnalyticsError;
use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::clients::ClientError;
use crate::consent::ConsentError;
use crate::db::DbError;
use crate::dpia::DpiaError;
use crate::gateway::GatewayError;
use crate::ingest::IngestError;
use crate::policy::PolicyError;
use crate::purposes::PurposeError;
use crate::retention::{ErasureError, RetentionError};
use crate::rights::RightsError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable kinds of problem Consentry reports; `type` is `urn:consentry:problem:<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    MalformedBody,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    TooManyRequests,
    ServiceUnavailable,
    Internal,
    NotRegisteredForPurpose,
    ClientSuspended,
    PurposeNotActive,
    AggregateOnlyPurpose,
    FieldNotAllowed,
    DpiaRequired,
}

impl ProblemType {
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedBody => "malformed-body",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::RequestTimeout => "request-timeout",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation => "validation",
            Self::TooManyRequests => "too-many-requests",
            Self::ServiceUnavailable => "service-unavailable",
            Self::Internal => "internal",
            Self::NotRegisteredForPurpose => "not-registered-for-purpose",
            Self::ClientSuspended => "client-suspended",
            Self::PurposeNotActive => "purpose-not-active",
            Self::AggregateOnlyPurpose => "aggregate-only-purpose",
            Self::FieldNotAllowed => "field-not-allowed",
            Self::DpiaRequired => "dpia-required",
        }
    }

    pub fn uri(self) -> String {
        format!("urn:consentry:problem:{}", self.slug())
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::NotRegisteredForPurpose
            | Self::ClientSuspended
            | Self::PurposeNotActive
            | Self::AggregateOnlyPurpose
            | Self::FieldNotAllowed => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict | Self::DpiaRequired => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedBody => "Malformed request body",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden => "Access denied",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RequestTimeout => "Request took too long",
            Self::Conflict => "Conflict with the current state",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Validation => "Invalid request",
            Self::TooManyRequests => "Too many requests",
            Self::ServiceUnavailable => "Service unavailable",
            Self::Internal => "Internal error",
            Self::NotRegisteredForPurpose => "Not registered for this purpose",
            Self::ClientSuspended => "Client suspended",
            Self::PurposeNotActive => "Purpose not active",
            Self::AggregateOnlyPurpose => "Aggregates only",
            Self::FieldNotAllowed => "Field not allowed for this purpose",
            Self::DpiaRequired => "An approved DPIA is required",
        }
    }

    fn for_status(status: StatusCode) -> Option<Self> {
        Some(match status {
            StatusCode::BAD_REQUEST => Self::MalformedBody,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Self::Validation,
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => Self::ServiceUnavailable,
            StatusCode::INTERNAL_SERVER_ERROR => Self::Internal,
            _ => return None,
        })
    }
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:consentry:problem:validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "the request has 1 invalid field",
    "instance": "/api/v1/demo/tokens",
    "request_id": "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b11",
    "errors": [{ "field": "sub", "detail": "no demo user or client has the id `s9999`" }]
}))]
pub struct ProblemDetails {
    /// Stable identifier of the kind of problem, `urn:consentry:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// What went wrong in this occurrence, for a person to read.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The id under which the server logged this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The fields at fault, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the body (`roles[1]`) or the name of the parameter.
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
}

/// The error every handler returns.
#[derive(Debug)]
pub struct ApiError {
    kind: ProblemType,
    detail: String,
    errors: Vec<FieldError>,
    www_authenticate: Option<String>,
    retry_after: Option<u64>,
    /// The cause of a 5xx, for the log only.
    internal: Option<String>,
}

/// Carries the cause of a 5xx from [`ApiError`] to the logging middleware.
#[derive(Debug, Clone)]
struct InternalCause(String);

impl ApiError {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: None,
            retry_after: None,
            internal: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::NotFound, detail)
    }

    /// A 422 naming the fields at fault.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("`{}`: {}", only.field, only.detail),
            many => format!("the request has {} invalid fields", many.len()),
        };
        Self { errors, ..Self::new(ProblemType::Validation, detail) }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// What went wrong, with each field at fault, for a person to read.
    pub fn detail(&self) -> String {
        let fields: Vec<String> =
            self.errors.iter().map(|error| format!("{}: {}", error.field, error.detail)).collect();
        if fields.len() > 1 { format!("{} ({})", self.detail, fields.join("; ")) } else { self.detail.clone() }
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, detail)])
    }

    /// A 5xx whose cause is logged and never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(
                ProblemType::Internal,
                "the server could not complete the request; quote the request id when reporting it",
            )
        }
    }

    pub fn kind(&self) -> ProblemType {
        self.kind
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let problem = ProblemDetails {
            problem_type: self.kind.uri(),
            title: self.kind.title().to_owned(),
            status: status.as_u16(),
            detail: self.detail,
            instance: None,
            request_id: None,
            errors: self.errors,
        };
        let mut response = (status, problem_body(&problem)).into_response();
        set_problem_content_type(&mut response);
        if let Some(challenge) = self.www_authenticate.and_then(|value| HeaderValue::from_str(&value).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(cause) = self.internal {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

fn problem_body(problem: &ProblemDetails) -> Bytes {
    serde_json::to_vec(problem).map(Bytes::from).unwrap_or_default()
}

fn set_problem_content_type(response: &mut Response) {
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let (code, description) = match &error {
            AuthError::Missing => (None, error.to_string()),
            AuthError::SessionEnded => return Self::new(ProblemType::Unauthenticated, error.to_string()),
            AuthError::CsrfMismatch => return Self::new(ProblemType::Forbidden, error.to_string()),
            AuthError::Unavailable(cause) => {
                return Self {
                    internal: Some(cause.clone()),
                    ..Self::new(
                        ProblemType::ServiceUnavailable,
                        "the token issuer cannot be reached to check the token; try again shortly",
                    )
                };
            }
            _ => (Some("invalid_token"), error.to_string()),
        };
        // RFC 6750 §3: no error code when the request carried no credentials at all.
        let challenge = match code {
            Some(code) => format!(
                "Bearer realm=\"consentry\", error=\"{code}\", error_description=\"{}\"",
                description.replace('"', "'")
            ),
            None => "Bearer realm=\"consentry\"".to_owned(),
        };
        Self { www_authenticate: Some(challenge), ..Self::new(ProblemType::Unauthenticated, description) }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotMigrated { .. } | DbError::Connect { .. } => Self {
                internal: Some(error.to_string()),
                ..Self::new(ProblemType::ServiceUnavailable, "the database is not available")
            },
            other => Self::internal(other),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Denied { .. } => Self::new(ProblemType::Forbidden, error.to_string()),
            PolicyError::Evaluation(_) => Self::internal(error),
            PolicyError::Invalid(invalid) => Self::invalid(
                invalid
                    .0
                    .iter()
                    .map(|problem| {
                        FieldError::new(
                            problem.file.clone(),
                            match (problem.line, problem.column) {
                                (Some(line), Some(column)) => {
                                    format!("line {line}, column {column}: {}", problem.message)
                                }
                                _ => problem.message.clone(),
                            },
                        )
                    })
                    .collect(),
            ),
            PolicyError::UnknownVersion(_) => Self::not_found(error.to_string()),
            PolicyError::NotADraft { .. } => Self::new(ProblemType::Conflict, error.to_string()),
            PolicyError::TooLarge(_) => Self::new(ProblemType::PayloadTooLarge, error.to_string()),
            PolicyError::FileName(index) => {
                Self::invalid_field(format!("files[{index}].name"), "must be a file name ending in .cedar")
            }
            PolicyError::GuaranteesMissing(_) => Self::invalid_field("override_forbid_guarantees", error.to_string()),
            PolicyError::UnknownAction(_) => Self::invalid_field("action", error.to_string()),
            PolicyError::UnknownResource(_) => Self::invalid_field("resource", error.to_string()),
            PolicyError::Audit(error) => error.into(),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Db(error) => error.into(),
            other => Self::internal(other),
        }
    }
}

impl From<PurposeError> for ApiError {
    fn from(error: PurposeError) -> Self {
        match error {
            PurposeError::NotFound(_) => Self::not_found(error.to_string()),
            PurposeError::Exists(_) | PurposeError::Transition { .. } => {
                Self::new(ProblemType::Conflict, error.to_string())
            }
            PurposeError::Invalid(errors) => Self::invalid(errors),
            PurposeError::DpiaRequired { .. } => Self::new(ProblemType::DpiaRequired, error.to_string()),
            PurposeError::Dpia(error) => (*error).into(),
            PurposeError::Audit(error) => error.into(),
            PurposeError::Corrupt(_) => Self::internal(error),
        }
    }
}

impl From<ConsentError> for ApiError {
    fn from(error: ConsentError) -> Self {
        match error {
            ConsentError::NotAllowed(_) => Self::new(ProblemType::Conflict, error.to_string()),
            ConsentError::NotAStudent => Self::new(ProblemType::Forbidden, error.to_string()),
            ConsentError::UnknownSubject(_) | ConsentError::NoRecord => Self::not_found(error.to_string()),
            ConsentError::Invalid(errors) => Self::invalid(errors),
            ConsentError::Purpose(error) => error.into(),
            ConsentError::Corrupt(_) => Self::internal(error),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Unauthenticated => Self {
                www_authenticate: Some("Basic realm=\"consentry-xapi\"".to_owned()),
                ..Self::new(ProblemType::Unauthenticated, error.to_string())
            },
            IngestError::Suspended(_) | IngestError::KindNotAllowed(_) => {
                Self::new(ProblemType::Forbidden, error.to_string())
            }
            IngestError::Invalid { index, ref source } => Self {
                errors: vec![FieldError::new(format!("statements[{index}].{}", source.property), source.rule.clone())],
                ..Self::new(ProblemType::MalformedBody, error.to_string())
            },
            IngestError::Version
            | IngestError::NotStatements
            | IngestError::NotMergeable
            | IngestError::BadParameter(_) => Self::new(ProblemType::MalformedBody, error.to_string()),
            IngestError::InvalidFields(errors) => Self::invalid(errors),
            IngestError::Special { index, ref field } => Self {
                errors: vec![FieldError::new(
                    format!("statements[{index}].{field}"),
                    "special-category data no purpose may read",
                )],
                ..Self::new(ProblemType::Validation, error.to_string())
            },
            IngestError::Conflict { .. } => Self::new(ProblemType::Conflict, error.to_string()),
            IngestError::TooMany => Self::new(ProblemType::PayloadTooLarge, error.to_string()),
            IngestError::RateLimited { retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds),
                ..Self::new(ProblemType::TooManyRequests, error.to_string())
            },
            IngestError::UnknownSource(_) => Self::not_found(error.to_string()),
            IngestError::Lines(_) => Self::new(ProblemType::Validation, error.to_string()),
            IngestError::SourceExists(_) => Self::new(ProblemType::Conflict, error.to_string()),
            IngestError::Random(_) | IngestError::Retention(_) => Self::internal(error),
            IngestError::Purpose(error) => error.into(),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::NotFound(_) => Self::not_found(error.to_string()),
            ClientError::Exists(_) | ClientError::SubjectTaken(_) => {
                Self::new(ProblemType::Conflict, error.to_string())
            }
            ClientError::Invalid(errors) => Self::invalid(errors),
            ClientError::Unauthenticated => Self {
                www_authenticate: Some("Basic realm=\"consentry\"".to_owned()),
                ..Self::new(ProblemType::Unauthenticated, error.to_string())
            },
            ClientError::Suspended(_) => Self::new(ProblemType::ClientSuspended, error.to_string()),
            ClientError::Random(_) => Self::internal(error),
            ClientError::Purpose(error) => error.into(),
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        let denial = |problem| Self::new(problem, error.to_string());
        match &error {
            GatewayError::NotRegisteredForPurpose { .. } => denial(ProblemType::NotRegisteredForPurpose),
            GatewayError::ClientSuspended(_) => denial(ProblemType::ClientSuspended),
            GatewayError::PurposeNotActive { .. } => denial(ProblemType::PurposeNotActive),
            GatewayError::AggregateOnlyPurpose(_) => denial(ProblemType::AggregateOnlyPurpose),
            GatewayError::FieldNotAllowed { parameter, .. } => Self {
                errors: vec![FieldError::new(parameter.clone(), error.to_string())],
                ..denial(ProblemType::FieldNotAllowed)
            },
            GatewayError::Denied { .. } => denial(ProblemType::Forbidden),
            GatewayError::UnknownPseudonym(_) => Self::not_found(error.to_string()),
            GatewayError::Cursor(_) => Self {
                errors: vec![FieldError::new("cursor", "pass the next_cursor of the previous page, unchanged")],
                ..denial(ProblemType::MalformedBody)
            },
            GatewayError::Invalid(errors) => Self::invalid(errors.clone()),
            GatewayError::Client(_) | GatewayError::Policy(_) | GatewayError::Purpose(_) => match error {
                GatewayError::Client(error) => error.into(),
                GatewayError::Policy(error) => error.into(),
                GatewayError::Purpose(error) => error.into(),
                _ => Self::internal(error),
            },
        }
    }
}

impl From<ErasureError> for ApiError {
    fn from(error: ErasureError) -> Self {
        match error {
            ErasureError::UnknownSubject(_) | ErasureError::UnknownCertificate(_) => Self::not_found(error.to_string()),
            ErasureError::AlreadyErased(..) => Self::new(ProblemType::Conflict, error.to_string()),
            ErasureError::Retention(error) => error.into(),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::Stopped(_) | AnalyticsError::NotNow(_) => {
                Self::new(ProblemType::Conflict, error.to_string())
            }
            AnalyticsError::UnknownProposal(_) => Self::not_found(error.to_string()),
            AnalyticsError::Invalid(errors) => Self::invalid(errors),
            AnalyticsError::Gateway(error) => error.into(),
            AnalyticsError::Purpose(error) => error.into(),
        }
    }
}

impl From<RightsError> for ApiError {
    fn from(error: RightsError) -> Self {
        match error {
            RightsError::NotAStudent => Self::new(ProblemType::Forbidden, error.to_string()),
            RightsError::UnknownRequest(_) => Self::not_found(error.to_string()),
            RightsError::NotNow(_) => Self::new(ProblemType::Conflict, error.to_string()),
            RightsError::Invalid(errors) => Self::invalid(errors),
            RightsError::Export(_) => Self::internal(error),
            RightsError::Erasure(error) => error.into(),
            RightsError::Consent(error) => error.into(),
            RightsError::Gateway(error) => error.into(),
            RightsError::Purpose(error) => error.into(),
        }
    }
}

impl From<DpiaError> for ApiError {
    fn from(error: DpiaError) -> Self {
        match error {
            DpiaError::NotFound(_) | DpiaError::UnknownQuestion(_) => Self::not_found(error.to_string()),
            DpiaError::UnknownTemplate(_) | DpiaError::UnknownPurpose(_) => {
                Self::new(ProblemType::Conflict, error.to_string())
            }
            DpiaError::NotNow(_) => Self::new(ProblemType::Conflict, error.to_string()),
            DpiaError::Invalid(errors) => Self::invalid(errors),
            DpiaError::Corrupt(_) => Self::internal(error),
            DpiaError::Purpose(error) => error.into(),
        }
    }
}

impl From<RetentionError> for ApiError {
    fn from(error: RetentionError) -> Self {
        match error {
            RetentionError::Purpose(error) => error.into(),
            RetentionError::Consent(error) => error.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::from(DbError::from(error))
    }
}

/// A JSON request body whose faults are reported as problems: 415 without a JSON
/// content type, 413 over the body limit, 400 for broken JSON, and 422 naming the field
/// for well-formed JSON with wrong values.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&request) {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ProblemType::PayloadTooLarge, "the request body is larger than this server accepts")
            } else {
                ApiError::new(ProblemType::MalformedBody, rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Query parameters whose faults are 422 problems naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_html_form::Deserializer::from_bytes(query.as_bytes());
        serde_path_to_error::deserialize(deserializer).map(AppQuery).map_err(|error| {
            let field = match error.path().to_string() {
                path if path == "." => "query".to_owned(),
                path => path,
            };
            ApiError::invalid_field(field, error.into_inner().to_string())
        })
    }
}

fn has_json_content_type(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON, telling syntax errors (400) from values of the wrong shape (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if field == "." { "body".to_owned() } else { field };
                ApiError::invalid_field(field, strip_position(&inner.to_string()))
            }
            _ => ApiError::new(ProblemType::MalformedBody, format!("the body is not valid JSON: {inner}")),
        }
    })
}

/// serde_json appends "at line 1 column 17" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Gives every error response the problem envelope, the request path and request id,
/// and logs the cause of server errors once.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let request_id = request.headers().get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_page =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if is_page {
        // The web interface renders its own error pages, in the reader's language.
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let is_problem = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    // Error bodies are small: anything over this is not ours and is replaced.
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut problem = if is_problem { serde_json::from_slice::<ProblemDetails>(&bytes).ok() } else { None }
        .unwrap_or_else(|| bare_problem(status, &bytes));
    if status.is_server_error() {
        let cause =
            parts.extensions.get::<InternalCause>().map(|cause| cause.0.as_str()).unwrap_or(problem.detail.as_str());
        tracing::error!(request_id = request_id.as_deref().unwrap_or("-"), path = %instance, status = status.as_u16(), cause, "request failed");
    }
    problem.instance = Some(instance);
    problem.request_id = request_id;
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::from_parts(parts, Body::from(problem_body(&problem)));
    set_problem_content_type(&mut response);
    response
}

/// A problem for an error response that some layer produced without one.
fn bare_problem(status: StatusCode, body: &[u8]) -> ProblemDetails {
    let kind = ProblemType::for_status(status);
    let text = std::str::from_utf8(body).unwrap_or_default().trim();
    let detail = match (kind, status) {
        (_, status) if status.is_server_error() => ApiError::internal("").detail,
        (Some(ProblemType::NotFound), _) => "no resource at this path; see /api/docs for the API".to_owned(),
        (Some(ProblemType::MethodNotAllowed), _) => {
            "this path does not accept that method; the Allow header lists the ones it does".to_owned()
        }
        (Some(ProblemType::RequestTimeout), _) => "the request took longer than the server allows".to_owned(),
        (Some(ProblemType::PayloadTooLarge), _) => "the request body is larger than this server accepts".to_owned(),
        _ if !text.is_empty() => text.to_owned(),
        _ => status.canonical_reason().unwrap_or("request failed").to_owned(),
    };
    ProblemDetails {
        problem_type: kind.map(ProblemType::uri).unwrap_or_else(|| "about:blank".to_owned()),
        title: kind.map(ProblemType::title).or_else(|| status.canonical_reason()).unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        instance: None,
        request_id: None,
        errors: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be parsed")]
    struct Sample {
        name: String,
        tags: Vec<u8>,
    }

    #[test]
    fn broken_json_is_malformed() {
        let error = parse_json::<Sample>(b"{\"name\": ").unwrap_err();
        assert_eq!(error.kind(), ProblemType::MalformedBody);
    }

    #[test]
    fn a_wrong_value_names_its_field() {
        let error = parse_json::<Sample>(br#"{"name": "x", "tags": [1, "two"]}"#).unwrap_err();
        assert_eq!(error.kind(), ProblemType::Validation);
        assert_eq!(error.errors, vec![FieldError::new("tags[1]", error.errors[0].detail.clone())]);
        assert!(!error.errors[0].detail.contains("line"), "{}", error.errors[0].detail);
    }

    #[test]
    fn a_missing_field_is_a_validation_problem() {
        let error = parse_json::<Sample>(br#"{"tags": []}"#).unwrap_err();
        assert_eq!(error.kind(), ProblemType::Validation);
        assert!(error.detail.contains("name"), "{}", error.detail);
    }

    #[test]
    fn internal_errors_keep_their_cause_out_of_the_body() {
        let response = ApiError::internal("disk on fire at /var/lib").into_response();
        assert!(response.extensions().get::<InternalCause>().is_some());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
