//! A DPIA as a document: Markdown for version control and e-mail, printable HTML for
//! signatures and archives. Both carry every section of the template and the risk matrix.

use std::fmt::Write;

use maud::{DOCTYPE, Markup, html};

use super::{DpiaView, QuestionView, Risk, Score, SectionView};
use crate::purposes::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Md,
    Html,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

pub fn render(view: &DpiaView, format: Format) -> String {
    match format {
        Format::Md => markdown(view),
        Format::Html => page(view).into_string(),
    }
}

/// The words around the answers, in the DPIA's language.
struct Labels {
    template: &'static str,
    purposes: &'static str,
    status: &'static str,
    revision: &'static str,
    review_date: &'static str,
    decided: &'static str,
    needs_review: &'static str,
    from_register: &'static str,
    stale: &'static str,
    unanswered: &'static str,
    risks: &'static str,
    risk: &'static str,
    impacts: &'static str,
    threats: &'static str,
    sources: &'static str,
    inherent: &'static str,
    residual: &'static str,
    measures: &'static str,
    measure: &'static str,
    owner: &'static str,
    matrix: &'static str,
    matrix_legend: &'static str,
    likelihood: &'static str,
    severity: &'static str,
    comments: &'static str,
    version: &'static str,
    none: &'static str,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::Nl => Labels {
            template: "Sjabloon",
            purposes: "Doelen",
            status: "Status",
            revision: "Revisie",
            review_date: "Herbeoordeling uiterlijk",
            decided: "Besluit",
            needs_review: "Herbeoordeling nodig",
            from_register: "Uit het verwerkingsregister",
            stale: "Verouderd: het register zegt nu",
            unanswered: "Nog niet beantwoord.",
            risks: "Risico's",
            risk: "Risico",
            impacts: "Gevolgen",
            threats: "Dreigingen",
            sources: "Bronnen",
            inherent: "Bruto (K×E)",
            residual: "Netto (K×E)",
            measures: "Maatregelen",
            measure: "Maatregel",
            owner: "Eigenaar",
            matrix: "Risicomatrix",
            matrix_legend: "Rijen: ernst 4 (maximaal) tot 1 (verwaarloosbaar); kolommen: kans 1 tot 4. Een id staat op zijn bruto plaats; met ′ op zijn netto plaats na maatregelen.",
            likelihood: "Kans",
            severity: "Ernst",
            comments: "Opmerkingen",
            version: "versie",
            none: "geen",
        },
        Language::En => Labels {
            template: "Template",
            purposes: "Purposes",
            status: "Status",
            revision: "Revision",
            review_date: "Review by",
            decided: "Decision",
            needs_review: "Review needed",
            from_register: "From the processing register",
            stale: "Out of date: the register now says",
            unanswered: "Not answered yet.",
            risks: "Risks",
            risk: "Risk",
            impacts: "Impacts",
            threats: "Threats",
            sources: "Sources",
            inherent: "Inherent (L×S)",
            residual: "Residual (L×S)",
            measures: "Measures",
            measure: "Measure",
            owner: "Owner",
            matrix: "Risk matrix",
            matrix_legend: "Rows: severity 4 (maximum) to 1 (negligible); columns: likelihood 1 to 4. An id stands where the risk is inherently; with ′ where it remains after its measures.",
            likelihood: "Likelihood",
            severity: "Severity",
            comments: "Comments",
            version: "version",
            none: "none",
        },
    }
}

fn score(score: Option<Score>) -> String {
    score.map_or_else(|| "–".to_owned(), |score| format!("{}×{} = {}", score.likelihood, score.severity, score.level()))
}

/// The ids in one cell of the matrix: inherent positions plain, residual ones primed.
fn cell(risks: &[Risk], likelihood: u8, severity: u8) -> String {
    let at =
        |score: Option<Score>| score.is_some_and(|score| score.likelihood == likelihood && score.severity == severity);
    let mut ids: Vec<String> = risks.iter().filter(|risk| at(risk.inherent)).map(|risk| risk.id.clone()).collect();
    ids.extend(risks.iter().filter(|risk| at(risk.residual)).map(|risk| format!("{}′", risk.id)));
    ids.join(" ")
}

fn status_line(view: &DpiaView, words: &Labels) -> String {
    let mut line = view.status.as_str().replace('_', " ");
    if let (Some(by), Some(at)) = (&view.decided_by, view.decided_at) {
        let _ = write!(line, " — {}: {by}, {}", words.decided, &at.to_storage()[..10]);
    }
    line
}

fn purposes_line(view: &DpiaView, words: &Labels) -> String {
    view.purposes
        .iter()
        .map(|purpose| format!("{} ({} {})", purpose.id, words.version, purpose.assessed_version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Markdown table cells hold one line and no pipes.
fn flat(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

fn markdown(view: &DpiaView) -> String {
    let language = view.language;
    let words = labels(language);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", view.title);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} (`{}`, {} {}) |",
        words.template,
        view.template_title.get(language),
        view.template,
        words.version,
        view.template_version
    );
    let _ = writeln!(out, "| {} | {} |", words.purposes, purposes_line(view, &words));
    let _ = writeln!(out, "| {} | {} |", words.status, status_line(view, &words));
    let _ = writeln!(out, "| {} | {} |", words.revision, view.revision);
    if let Some(date) = &view.review_date {
        let _ = writeln!(out, "| {} | {date} |", words.review_date);
    }
    out.push('\n');
    if !view.needs_review.is_empty() {
        let _ = writeln!(out, "> **{}**: {}\n", words.needs_review, view.needs_review.join("; "));
    }
    for section in &view.sections {
        let _ = writeln!(out, "## {}\n", section.title.get(language));
        if let Some(help) = &section.help {
            let _ = writeln!(out, "_{}_\n", help.get(language));
        }
        for question in &section.questions {
            markdown_question(&mut out, question, language, &words);
        }
        if section.risks {
            markdown_risks(&mut out, view, &words);
        }
    }
    if !view.comments.is_empty() {
        let _ = writeln!(out, "## {}\n", words.comments);
        for comment in &view.comments {
            let on = comment.question.as_ref().map(|question| format!(" ({question})")).unwrap_or_default();
            let _ =
                writeln!(out, "- {} {}{on}: {}", &comment.created_at.to_storage()[..10], comment.author, comment.body);
        }
        out.push('\n');
    }
    if let Some(rationale) = &view.decision_rationale {
        let _ = writeln!(out, "## {}\n\n{rationale}\n", words.decided);
    }
    out
}

fn markdown_question(out: &mut String, question: &QuestionView, language: Language, words: &Labels) {
    let _ = writeln!(out, "### {}\n", question.text.get(language));
    if let Some(prefill) = &question.answer.prefill {
        let _ = writeln!(out, "**{}** (`{}`):\n", words.from_register, prefill.fact.as_str());
        for line in prefill.text.get(language).lines() {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    if let Some(current) = &question.current {
        let _ = writeln!(out, "> **{}:**", words.stale);
        for line in current.text.get(language).lines() {
            let _ = writeln!(out, "> - {line}");
        }
        out.push('\n');
    }
    match question.answer.text.as_deref() {
        Some(text) => {
            let _ = writeln!(out, "{text}\n");
        }
        None if question.answer.prefill.is_none() => {
            let _ = writeln!(out, "_{}_\n", words.unanswered);
        }
        None => {}
    }
}

fn markdown_risks(out: &mut String, view: &DpiaView, words: &Labels) {
    let _ = writeln!(out, "### {}\n", words.risks);
    let _ = writeln!(
        out,
        "| Id | {} | {} | {} | {} | {} | {} |\n|---|---|---|---|---|---|---|",
        words.risk, words.impacts, words.threats, words.sources, words.inherent, words.residual
    );
    for risk in &view.risks {
        let title = if risk.description.is_empty() {
            risk.title.clone()
        } else {
            format!("{}: {}", risk.title, risk.description)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            risk.id,
            flat(&title),
            flat(&risk.impacts),
            flat(&risk.threats),
            flat(&risk.sources),
            score(risk.inherent),
            score(risk.residual)
        );
    }
    let _ = writeln!(out, "\n### {}\n\n{}\n", words.matrix, words.matrix_legend);
    let _ = writeln!(out, "| {} \\ {} | 1 | 2 | 3 | 4 |\n|---|---|---|---|---|", words.severity, words.likelihood);
    for severity in (1..=4).rev() {
        let cells: Vec<String> = (1..=4).map(|likelihood| cell(&view.risks, likelihood, severity)).collect();
        let _ = writeln!(out, "| **{severity}** | {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n### {}\n", words.measures);
    let _ = writeln!(
        out,
        "| Id | {} | {} | {} | {} |\n|---|---|---|---|---|",
        words.measure, words.risks, words.status, words.owner
    );
    for measure in &view.measures {
        let title = if measure.description.is_empty() {
            measure.title.clone()
        } else {
            format!("{}: {}", measure.title, measure.description)
        };
        let status = measure.status.as_str();
        let owner = if measure.owner.is_empty() { words.none } else { &measure.owner };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {status} | {} |",
            measure.id,
            flat(&title),
            measure.risks.join(", "),
            flat(owner)
        );
    }
    out.push('\n');
}

const PRINT_STYLE: &str = "body{font:11pt/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}\
h1{font-size:1.8rem}h2{border-bottom:2px solid #1d4f73;margin-top:2rem}h3{font-size:1rem;margin-bottom:.25rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #888;padding:.25rem .5rem;text-align:left;vertical-align:top}\
.register{background:#eef4f8;border-left:4px solid #1d4f73;padding:.25rem .75rem}.stale{background:#fff4d6;border-left:4px solid #8a5a00;padding:.25rem .75rem}\
.matrix td{width:20%;height:3rem;text-align:center;font-weight:600}.l1{background:#e3f1e3}.l2{background:#fdf3c4}.l3{background:#fbd9b0}.l4{background:#f6b9b9}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table{break-inside:avoid}}";

/// The band a level falls in, 1 (low) to 4 (very high), for shading the matrix.
fn band(level: u8) -> u8 {
    match level {
        0..=2 => 1,
        3..=4 => 2,
        5..=8 => 3,
        _ => 4,
    }
}

/// The 4×4 risk matrix with its heading and legend, shaded by band and labelled by id.
pub fn matrix(risks: &[Risk], language: Language) -> Markup {
    let words = labels(language);
    html! {
        h3 { (words.matrix) }
        p { (words.matrix_legend) }
        table.matrix {
            tr { th scope="col" { (words.severity) " \\ " (words.likelihood) } @for likelihood in 1..=4u8 { th scope="col" { (likelihood) } } }
            @for severity in (1..=4u8).rev() {
                tr {
                    th scope="row" { (severity) }
                    @for likelihood in 1..=4u8 { td class=(format!("l{}", band(likelihood * severity))) { (cell(risks, likelihood, severity)) } }
                }
            }
        }
    }
}

fn page(view: &DpiaView) -> Markup {
    let language = view.language;
    let words = labels(language);
    html! {
        (DOCTYPE)
        html lang=(language.as_str()) {
            head {
                meta charset="utf-8";
                title { (view.title) }
                style { (PRINT_STYLE) }
            }
            body {
                h1 { (view.title) }
                table {
                    tr { th scope="row" { (words.template) } td { (view.template_title.get(language)) " (" code { (view.template) } ", " (words.version) " " (view.template_version) ")" } }
                    tr { th scope="row" { (words.purposes) } td { (purposes_line(view, &words)) } }
                    tr { th scope="row" { (words.status) } td { (status_line(view, &words)) } }
                    tr { th scope="row" { (words.revision) } td { (view.revision) } }
                    @if let Some(date) = &view.review_date { tr { th scope="row" { (words.review_date) } td { (date) } } }
                }
                @if !view.needs_review.is_empty() {
                    p.stale { strong { (words.needs_review) ": " } (view.needs_review.join("; ")) }
                }
                @for section in &view.sections { (html_section(view, section, &words, language)) }
                @if !view.comments.is_empty() {
                    h2 { (words.comments) }
                    ul { @for comment in &view.comments { li { (comment.created_at.to_storage()[..10]) " " (comment.author) @if let Some(question) = &comment.question { " (" (question) ")" } ": " (comment.body) } } }
                }
                @if let Some(rationale) = &view.decision_rationale { h2 { (words.decided) } p { (rationale) } }
            }
        }
    }
}

fn html_section(view: &DpiaView, section: &SectionView, words: &Labels, language: Language) -> Markup {
    html! {
        h2 { (section.title.get(language)) }
        @if let Some(help) = &section.help { p { em { (help.get(language)) } } }
        @for question in &section.questions {
            h3 { (question.text.get(language)) }
            @if let Some(prefill) = &question.answer.prefill {
                div.register {
                    p { strong { (words.from_register) } " (" code { (prefill.fact.as_str()) } ")" }
                    ul { @for line in prefill.text.get(language).lines() { li { (line) } } }
                }
            }
            @if let Some(current) = &question.current {
                div.stale {
                    p { strong { (words.stale) ":" } }
                    ul { @for line in current.text.get(language).lines() { li { (line) } } }
                }
            }
            @if let Some(text) = &question.answer.text { @for paragraph in text.split("\n\n") { p { (paragraph) } } }
            @else if question.answer.prefill.is_none() { p { em { (words.unanswered) } } }
        }
        @if section.risks {
            h3 { (words.risks) }
            table {
                tr { th { "Id" } th { (words.risk) } th { (words.impacts) } th { (words.threats) } th { (words.sources) } th { (words.inherent) } th { (words.residual) } }
                @for risk in &view.risks {
                    tr { td { (risk.id) } td { (risk.title) @if !risk.description.is_empty() { ": " (risk.description) } } td { (risk.impacts) } td { (risk.threats) } td { (risk.sources) } td { (score(risk.inherent)) } td { (score(risk.residual)) } }
                }
            }
            (matrix(&view.risks, language))
            h3 { (words.measures) }
            table {
                tr { th { "Id" } th { (words.measure) } th { (words.risks) } th { (words.status) } th { (words.owner) } }
                @for measure in &view.measures {
                    tr { td { (measure.id) } td { (measure.title) @if !measure.description.is_empty() { ": " (measure.description) } } td { (measure.risks.join(", ")) } td { (measure.status.as_str()) } td { (measure.owner) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(id: &str, inherent: (u8, u8), residual: (u8, u8)) -> Risk {
        Risk {
            id: id.to_owned(),
            title: id.to_owned(),
            description: String::new(),
            impacts: String::new(),
            threats: String::new(),
            sources: String::new(),
            inherent: Some(Score { likelihood: inherent.0, severity: inherent.1 }),
            residual: Some(Score { likelihood: residual.0, severity: residual.1 }),
        }
    }

    #[test]
    fn the_matrix_places_inherent_and_residual_positions() {
        let risks = [risk("r1", (3, 4), (1, 4)), risk("r2", (3, 4), (2, 2))];
        assert_eq!(cell(&risks, 3, 4), "r1 r2");
        assert_eq!(cell(&risks, 1, 4), "r1′");
        assert_eq!(cell(&risks, 2, 2), "r2′");
        assert_eq!(cell(&risks, 4, 4), "");
        assert_eq!((band(1), band(4), band(6), band(16)), (1, 2, 3, 4));
    }
}
