//! The retention report: what the next sweep deletes as of a date, what remains, and from
//! when on each purpose still sees data. A preview only: the background job sweeps.

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::layout::page;
use super::super::texts::{date, period};
use super::super::{OrPage, PageError, Viewer};
use super::office_texts;
use crate::policy::{Action, Resource};
use crate::retention::{SweepPlan, SweepReport};
use crate::server::AppState;

fn report_page(viewer: &Viewer, as_of: &str, report: Option<&SweepReport>) -> Markup {
    let language = viewer.language;
    let texts = office_texts(language);
    page(
        viewer,
        "/office",
        texts.retention_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.retention_title) }
            p.lead { (texts.retention_intro) }
            form method="get" action="/office/retention" {
                label for="as-of" { (texts.as_of) }
                input type="text" id="as-of" name="as_of" value=(as_of) placeholder="2027-01-01";
                p { button type="submit" { (texts.preview_sweep) } }
            }
            @if let Some(report) = report {
                div role="status" {
                    h2 { (texts.would_delete) " " (report.total) }
                    table {
                        thead { tr { th scope="col" { (texts.category) } th scope="col" { (texts.deleted) } th scope="col" { (texts.remaining) } th scope="col" { (texts.oldest_remaining) } } }
                        tbody {
                            @for (category, remaining) in &report.remaining {
                                tr {
                                    th scope="row" { (category) }
                                    td.number { (report.deleted.get(category).copied().unwrap_or(0)) }
                                    td.number { (remaining.records) }
                                    td { (remaining.oldest.as_deref().map(|oldest| date(language, oldest)).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                    h2 { (texts.windows) }
                    table {
                        thead { tr { th scope="col" { (texts.purpose) } th scope="col" { (texts.category) } th scope="col" { (texts.retention) } th scope="col" { (texts.sees_from) } } }
                        tbody {
                            @for window in &report.windows {
                                tr { td { (window.purpose) } td { (window.category) } td { (period(language, &window.retention)) } td { (date(language, &window.sees_from)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn allowed(state: &AppState, viewer: &Viewer) -> Result<(), PageError> {
    state.gate.authorize(&viewer.principal, Action::ReadAudit, Resource::AuditLog).await.or_page(viewer.language)?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
pub struct Preview {
    as_of: Option<String>,
}

/// The form, and with `as_of` the preview: counting only, so it is a plain GET.
pub async fn report(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(preview): Query<Preview>,
) -> Result<Markup, PageError> {
    allowed(&state, &viewer).await?;
    let language = viewer.language;
    let Some(text) = preview.as_of.map(|text| text.trim().to_owned()) else {
        return Ok(report_page(&viewer, "", None));
    };
    let as_of = super::moment("as_of", &text).or_page(language)?.unwrap_or_else(|| state.clock.now());
    let plan = SweepPlan { as_of, dry_run: true, batch: 1000 };
    let report = crate::retention::sweep(&state.db, plan, &()).await.or_page(language)?;
    Ok(report_page(&viewer, &text, Some(&report)))
}
