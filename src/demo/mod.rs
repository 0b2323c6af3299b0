//! "Hogeschool Demo": a synthetic institution for trying Consentry out, seeded with
//! `consentry serve --demo`, with a local token issuer for its people and clients.
//!
//! Nothing here runs outside demo mode: the token endpoint answers 404 on a real server.

mod activity;
mod dpia;
mod institution;
mod purposes;
mod routes;
mod seed;

pub use institution::{CLIENTS, DEMO_SIS_SOURCE, DEMO_SOURCE, DEMO_SURVEY_SOURCE, DemoPrincipal, Institution};
pub use routes::router;
pub use seed::{SeedError, SeedOutcome, seed};

use crate::auth::DemoIssuer;

/// What a demo server holds beyond a normal one.
pub struct DemoMode {
    pub issuer: DemoIssuer,
    pub institution: Institution,
}

/// Hogeschool Demo as the controller on receipts.
pub fn institution_contact() -> crate::config::InstitutionConfig {
    crate::config::InstitutionConfig {
        name: "Hogeschool Demo".to_owned(),
        contact: "privacy@hogeschool-demo.example".to_owned(),
        dpo_contact: "fg@hogeschool-demo.example".to_owned(),
        processors: vec![crate::config::Processor {
            name: "Demo Hosting B.V.".to_owned(),
            service: "hosting and backups of the Consentry server".to_owned(),
            location: "Amsterdam, the Netherlands".to_owned(),
            agreement: "processing agreement of 2026-01-15 (SIVON model)".to_owned(),
        }],
    }
}
