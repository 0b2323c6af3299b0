//! `GET /api/v1/catalogue`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Field;
use crate::auth::Principal;
use crate::problem::ProblemDetails;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_catalogue_fields))
}

/// The field catalogue.
///
/// Every field Consentry can store, with its data category and source.
#[utoipa::path(
    get,
    path = "/api/v1/catalogue",
    tag = "purposes",
    operation_id = "list_catalogue_fields",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All fields, by name", body = [Field]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn list_catalogue_fields(State(state): State<AppState>, _caller: Principal) -> Json<Vec<Field>> {
    Json(state.catalogue.fields().cloned().collect())
}
