//! The OpenAPI description's frame: title, tags and the bearer security scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Consentry",
        description = "Privacy-governance and consent broker for learning analytics. Errors are RFC 9457 \
                       problem details (`application/problem+json`); times are RFC 3339 UTC.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "analytics", description = "Indicators, proposals and the mentors who decide them"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "auth", description = "Who is calling"),
        (name = "clients", description = "The analytics tools registered to read, and their purposes"),
        (name = "consent", description = "Students' choices per purpose"),
        (name = "demo", description = "The demo institution (demo servers only)"),
        (name = "gateway", description = "Governed reads: purpose-bound, consented, minimised, pseudonymised"),
        (name = "ingest", description = "Data from the institution's systems (xAPI)"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "policies", description = "The Cedar access policies"),
        (name = "purposes", description = "The purpose register and the field catalogue"),
        (name = "retention", description = "Erasure on request, with certificates"),
        (name = "rights", description = "Students' rights: my data, who used it, download, requests"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build());
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", scheme);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

pub(super) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The complete OpenAPI description of the HTTP API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::api().1
}
