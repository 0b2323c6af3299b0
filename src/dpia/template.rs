//! DPIA templates: sections of questions, written in Dutch and English, some of which are
//! answered from the processing register. Shipped templates are compiled in; an
//! institution adds its own in a folder (`dpia_templates_dir`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;
use utoipa::ToSchema;

use super::facts::Fact;
use crate::purposes::Localized;

/// The templates Consentry ships, from `dpia-templates/`.
pub const SHIPPED_TEMPLATES: &[(&str, &str)] = &[
    ("learning-analytics.toml", include_str!("../../dpia-templates/learning-analytics.toml")),
    ("model-dpia-rijksdienst.toml", include_str!("../../dpia-templates/model-dpia-rijksdienst.toml")),
    ("cnil-pia.toml", include_str!("../../dpia-templates/cnil-pia.toml")),
];

/// A template as written in its file; positions are kept to point at mistakes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    id: Spanned<String>,
    version: u32,
    title: Localized,
    description: Localized,
    sections: Vec<SectionFile>,
    #[serde(default)]
    risks: Vec<SuggestedRisk>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFile {
    id: Spanned<String>,
    title: Localized,
    #[serde(default)]
    help: Option<Localized>,
    #[serde(default)]
    risks: bool,
    #[serde(default)]
    questions: Vec<QuestionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionFile {
    id: Spanned<String>,
    text: Localized,
    #[serde(default)]
    help: Option<Localized>,
    #[serde(default)]
    prefill: Option<Spanned<String>>,
}

/// A risk every assessment from the template starts with, still to be scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestedRisk {
    pub title: Localized,
}

/// A validated template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Template {
    pub id: String,
    pub version: u32,
    pub title: Localized,
    pub description: Localized,
    pub sections: Vec<Section>,
    pub risks: Vec<SuggestedRisk>,
    /// The file it was read from.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Section {
    pub id: String,
    pub title: Localized,
    pub help: Option<Localized>,
    /// Whether the risk register and its matrix belong in this section.
    pub risks: bool,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Question {
    pub id: String,
    pub text: Localized,
    pub help: Option<Localized>,
    /// The register fact that answers it, kept current from the register.
    pub prefill: Option<Fact>,
}

impl Template {
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.sections.iter().flat_map(|section| &section.questions)
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions().find(|question| question.id == id)
    }
}

/// A mistake in a template file, placed at its line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct TemplateError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Line and column (1-based) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads and validates one template.
pub fn parse(file: &str, text: &str) -> Result<Template, TemplateError> {
    let error_at = |offset: usize, message: String| {
        let (line, column) = position(text, offset);
        TemplateError { file: file.to_owned(), line, column, message }
    };
    let parsed: TemplateFile = toml::from_str(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        error_at(offset, error.message().to_owned())
    })?;
    let empty = |localized: &Localized| localized.nl.trim().is_empty() || localized.en.trim().is_empty();
    let id_offset = parsed.id.span().start;
    if !is_slug(parsed.id.get_ref()) {
        return Err(error_at(id_offset, "the id must be a slug: lowercase letters, digits and dashes".to_owned()));
    }
    if empty(&parsed.title) || empty(&parsed.description) {
        return Err(error_at(id_offset, "the title and description need Dutch and English text".to_owned()));
    }
    if parsed.sections.is_empty() {
        return Err(error_at(id_offset, "a template has at least one section".to_owned()));
    }
    let mut seen = BTreeSet::new();
    let mut sections = Vec::new();
    for section in parsed.sections {
        let at = section.id.span().start;
        let id = section.id.into_inner();
        if !is_slug(&id) || !seen.insert(format!("section:{id}")) {
            return Err(error_at(at, format!("section id `{id}` must be a slug, unique in the template")));
        }
        if empty(&section.title) || section.help.as_ref().is_some_and(empty) {
            return Err(error_at(at, format!("section `{id}` needs its title and help in Dutch and English")));
        }
        if section.questions.is_empty() && !section.risks {
            return Err(error_at(at, format!("section `{id}` has no questions")));
        }
        let mut questions = Vec::new();
        for question in section.questions {
            let at = question.id.span().start;
            let id = question.id.into_inner();
            if !is_slug(&id) || !seen.insert(format!("question:{id}")) {
                return Err(error_at(at, format!("question id `{id}` must be a slug, unique in the template")));
            }
            if empty(&question.text) || question.help.as_ref().is_some_and(empty) {
                return Err(error_at(at, format!("question `{id}` needs its text and help in Dutch and English")));
            }
            let prefill = match question.prefill {
                None => None,
                Some(name) => Some(Fact::parse(name.get_ref()).ok_or_else(|| {
                    error_at(
                        name.span().start,
                        format!(
                            "`{}` is not a register fact; use one of {}",
                            name.get_ref(),
                            Fact::ALL.iter().map(|fact| fact.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?),
            };
            questions.push(Question { id, text: question.text, help: question.help, prefill });
        }
        sections.push(Section { id, title: section.title, help: section.help, risks: section.risks, questions });
    }
    if sections.iter().filter(|section| section.risks).count() != 1 {
        return Err(error_at(id_offset, "exactly one section holds the risk register (`risks = true`)".to_owned()));
    }
    if parsed.risks.iter().any(|risk| empty(&risk.title)) {
        return Err(error_at(id_offset, "every suggested risk needs a title in Dutch and English".to_owned()));
    }
    Ok(Template {
        id: parsed.id.into_inner(),
        version: parsed.version,
        title: parsed.title,
        description: parsed.description,
        sections,
        risks: parsed.risks,
        file: file.to_owned(),
    })
}

/// Every template an institution can start a DPIA from, by id.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    by_id: BTreeMap<String, Template>,
}

impl Templates {
    /// The shipped templates, and those in `dir` if given; a template in `dir` with the id
    /// of a shipped one replaces it.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut files: Vec<(String, String)> =
            SHIPPED_TEMPLATES.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
        if let Some(dir) = dir {
            let unreadable = |path: &Path, error: std::io::Error| TemplateError {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                message: error.to_string(),
            };
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(|error| unreadable(dir, error))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|extension| extension == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).map_err(|error| unreadable(&path, error))?;
                files.push((path.display().to_string(), text));
            }
        }
        let mut by_id = BTreeMap::new();
        for (file, text) in files {
            let template = parse(&file, &text)?;
            by_id.insert(template.id.clone(), template);
        }
        Ok(Self { by_id })
    }

    pub fn get(&self, id: &str) -> Option<&Template> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Template> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_loads_with_a_risk_section_and_prefills() {
        let templates = Templates::load(None).unwrap();
        let ids: Vec<_> = templates.all().map(|template| template.id.as_str()).collect();
        assert_eq!(ids, ["cnil-pia", "learning-analytics", "model-dpia-rijksdienst"]);
        for template in templates.all() {
            assert!(template.questions().any(|question| question.prefill.is_some()), "{}", template.id);
            assert_eq!(template.sections.iter().filter(|section| section.risks).count(), 1);
        }
        let cnil = templates.get("cnil-pia").unwrap();
        let risks: Vec<_> = cnil.risks.iter().map(|risk| risk.title.en.as_str()).collect();
        assert_eq!(risks, ["Illegitimate access to data", "Unwanted modification of data", "Disappearance of data"]);
        let rijksdienst = templates.get("model-dpia-rijksdienst").unwrap();
        let parts: Vec<_> = rijksdienst.sections.iter().map(|section| &section.title.nl[..6]).collect();
        assert_eq!(parts, ["Deel A", "Deel B", "Deel C", "Deel D"]);
    }

    #[test]
    fn an_invalid_template_is_refused_with_file_line_and_column() {
        let text = "id = \"mine\"\nversion = 1\ntitle = { nl = \"a\", en = \"b\" }\ndescription = { nl = \"a\", en = \"b\" }\n\n[[sections]]\nid = \"s\"\ntitle = { nl = \"a\", en = \"b\" }\nrisks = true\n\n[[sections.questions]]\nid = \"q\"\ntext = { nl = \"a\", en = \"b\" }\nprefill = \"shoe_size\"\n";
        let error = parse("mine.toml", text).unwrap_err();
        assert_eq!((error.file.as_str(), error.line, error.column), ("mine.toml", 14, 11));
        assert!(error.message.contains("`shoe_size` is not a register fact"), "{}", error.message);

        let missing_english = text.replace("text = { nl = \"a\", en = \"b\" }", "text = { nl = \"a\" }");
        let error = parse("mine.toml", &missing_english).unwrap_err();
        assert_eq!(error.line, 13);
        assert!(error.message.contains("en"), "{}", error.message);

        let duplicate = text.replace(
            "prefill = \"shoe_size\"\n",
            "\n[[sections.questions]]\nid = \"q\"\ntext = { nl = \"c\", en = \"d\" }\n",
        );
        let error = parse("mine.toml", &duplicate).unwrap_err();
        assert_eq!(error.line, 16);
        assert!(error.message.contains("unique"), "{}", error.message);

        let no_risks = text.replace("risks = true\n", "").replace("prefill = \"shoe_size\"\n", "");
        assert!(parse("mine.toml", &no_risks).unwrap_err().message.contains("risk register"));
        assert!(parse("mine.toml", &text.replace("prefill = \"shoe_size\"\n", "")).is_ok());
    }

    #[test]
    fn an_institution_folder_adds_templates_and_reports_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.toml"), "id = \"broken\"\nversion = \"one\"\n").unwrap();
        let error = Templates::load(Some(dir.path())).unwrap_err();
        assert!(error.file.ends_with("broken.toml"));
        assert_eq!(error.line, 2);
        std::fs::remove_file(dir.path().join("broken.toml")).unwrap();
        let own = SHIPPED_TEMPLATES[0].1.replace("id = \"learning-analytics\"", "id = \"sivon-model\"");
        std::fs::write(dir.path().join("sivon.toml"), own).unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        assert!(templates.get("sivon-model").is_some() && templates.get("cnil-pia").is_some());
    }
}
