//! The Cedar engine: a validated policy set and the decisions it makes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityUid, Policy, PolicyId,
    PolicySet, PrincipalConstraint, Request, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The schema and policies Consentry ships with, from `policies/`.
pub const SHIPPED_SCHEMA: &str = include_str!("../../policies/schema.cedarschema");
pub const SHIPPED_POLICIES: &[(&str, &str)] = &[
    ("audit.cedar", include_str!("../../policies/audit.cedar")),
    ("clients.cedar", include_str!("../../policies/clients.cedar")),
    ("governance.cedar", include_str!("../../policies/governance.cedar")),
    ("mentors.cedar", include_str!("../../policies/mentors.cedar")),
    ("purposes.cedar", include_str!("../../policies/purposes.cedar")),
    ("sources.cedar", include_str!("../../policies/sources.cedar")),
    ("students.cedar", include_str!("../../policies/students.cedar")),
    ("teachers.cedar", include_str!("../../policies/teachers.cedar")),
];

/// A problem with a policy set, placed in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyProblem {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the policy set is invalid:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct InvalidPolicies(pub Vec<PolicyProblem>);

/// The outcome of one Cedar evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub allowed: bool,
    /// The `@id`s of the policies that determined the decision.
    pub policy_ids: Vec<String>,
    /// Policies that failed to evaluate (they count as not applying).
    pub errors: Vec<String>,
}

/// One policy's reach, for people to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub policy: String,
    /// `permit` (true) or `forbid`.
    pub permits: bool,
    /// The principal type it names (`User`, `Client`), or `anyone`.
    pub principal: String,
    pub actions: Vec<String>,
    /// The roles its conditions look for.
    pub roles: Vec<String>,
}

/// A validated set of policies with its schema.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
    /// The file each policy came from, by id.
    files: BTreeMap<String, String>,
    /// The ids of `forbid` policies.
    forbids: BTreeSet<String>,
    schema_text: String,
    /// The files as written, by name.
    sources: Vec<(String, String)>,
    /// For each action, only the policies whose scope can name it: evaluation is linear in
    /// the number of policies, so a request never pays for other actions' rules. Exact
    /// because the schema declares no action groups.
    slices: HashMap<EntityUid, PolicySet>,
}

/// Line and column (1-based) of a byte offset in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

fn problem(file: &str, text: &str, diagnostic: &dyn Diagnostic, message: String) -> PolicyProblem {
    let offset = diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| label.offset());
    let (line, column) = match offset {
        Some(offset) => {
            let (line, column) = position(text, offset);
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    PolicyProblem { file: file.to_owned(), line, column, message }
}

impl PolicyEngine {
    /// The shipped schema and policies.
    pub fn shipped() -> Result<Self, InvalidPolicies> {
        let files: Vec<(String, String)> =
            SHIPPED_POLICIES.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
        Self::new(SHIPPED_SCHEMA, &files)
    }

    /// The schema `schema.cedarschema` and every `*.cedar` file in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, InvalidPolicies> {
        let unreadable = |file: &Path, error: std::io::Error| {
            InvalidPolicies(vec![PolicyProblem {
                file: file.display().to_string(),
                line: None,
                column: None,
                message: error.to_string(),
            }])
        };
        let schema_path = dir.join("schema.cedarschema");
        let schema = std::fs::read_to_string(&schema_path).map_err(|error| unreadable(&schema_path, error))?;
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|error| unreadable(dir, error))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|extension| extension == "cedar") {
                let text = std::fs::read_to_string(&path).map_err(|error| unreadable(&path, error))?;
                let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
                files.push((name, text));
            }
        }
        files.sort();
        Self::new(&schema, &files)
    }

    /// Parses every file, names each policy by its `@id`, and validates the whole set
    /// against the schema in strict mode. Every problem is reported, each in its file.
    pub fn new(schema_text: &str, files_in: &[(String, String)]) -> Result<Self, InvalidPolicies> {
        let files = files_in;
        let schema = Schema::from_cedarschema_str(schema_text).map(|(schema, _warnings)| schema).map_err(|error| {
            InvalidPolicies(vec![problem("schema.cedarschema", schema_text, &error, error.to_string())])
        })?;
        let mut problems = Vec::new();
        let mut policies = PolicySet::new();
        let mut origin: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (file, text) in files {
            let parsed = match PolicySet::from_str(text) {
                Ok(parsed) => parsed,
                Err(errors) => {
                    for error in errors.iter() {
                        problems.push(problem(file, text, error, error.to_string()));
                    }
                    continue;
                }
            };
            for policy in parsed.policies() {
                let Some(id) = policy.annotation("id") else {
                    problems.push(problem(
                        file,
                        text,
                        &NoDiagnostic,
                        format!("a policy has no @id: {}", first_line(policy)),
                    ));
                    continue;
                };
                if origin.insert(id.to_owned(), (file.clone(), text.clone())).is_some() {
                    problems.push(problem(file, text, &NoDiagnostic, format!("@id(\"{id}\") is used twice")));
                    continue;
                }
                if let Err(error) = policies.add(policy.new_id(PolicyId::new(id))) {
                    problems.push(problem(file, text, &NoDiagnostic, error.to_string()));
                }
            }
        }
        if problems.is_empty() && policies.policies().next().is_none() {
            problems.push(PolicyProblem {
                file: "(all files)".to_owned(),
                line: None,
                column: None,
                message: "the set has no policies: it would deny everything".to_owned(),
            });
        }
        if problems.is_empty() {
            let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
            for error in result.validation_errors() {
                let (file, text) = origin.get(error.policy_id().to_string().as_str()).cloned().unwrap_or_default();
                problems.push(problem(&file, &text, error, format!("{error} (policy {})", error.policy_id())));
            }
        }
        if !problems.is_empty() {
            return Err(InvalidPolicies(problems));
        }
        let files = origin.into_iter().map(|(id, (file, _))| (id, file)).collect();
        let forbids = policies
            .policies()
            .filter(|policy| policy.effect() == Effect::Forbid)
            .map(|policy| policy.id().to_string())
            .collect();
        let slices = slice_by_action(&schema, &policies);
        Ok(Self {
            slices,
            schema,
            policies,
            authorizer: Authorizer::new(),
            files,
            forbids,
            schema_text: schema_text.to_owned(),
            sources: files_in.to_vec(),
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The `@id`s of every policy, with the file each comes from.
    pub fn policy_files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    pub fn schema_text(&self) -> &str {
        &self.schema_text
    }

    /// The policy files as written.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// The text of each policy, by `@id`, for comparing two sets.
    pub fn policy_texts(&self) -> BTreeMap<String, String> {
        self.policies.policies().map(|policy| (policy.id().to_string(), policy.to_string())).collect()
    }

    /// What each policy grants or forbids, to whom and through which roles: the access
    /// rules as a DPIA describes them.
    pub fn grants(&self) -> Vec<Grant> {
        self.policies
            .policies()
            .map(|policy| {
                let actions = match policy.action_constraint() {
                    ActionConstraint::Any => vec!["any action".to_owned()],
                    ActionConstraint::Eq(only) => vec![only.id().unescaped().to_owned()],
                    ActionConstraint::In(list) => {
                        list.iter().map(|action| action.id().unescaped().to_owned()).collect()
                    }
                };
                let principal = match policy.principal_constraint() {
                    PrincipalConstraint::Is(kind) | PrincipalConstraint::IsIn(kind, _) => kind.basename().to_owned(),
                    _ => "anyone".to_owned(),
                };
                let text = policy.to_string();
                let roles = text
                    .split("roles.contains(\"")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next())
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                Grant {
                    policy: policy.id().to_string(),
                    permits: policy.effect() == Effect::Permit,
                    principal,
                    actions,
                    roles,
                }
            })
            .collect()
    }

    pub fn is_forbid(&self, id: &str) -> bool {
        self.forbids.contains(id)
    }

    /// Evaluates one request with the given entities and context.
    pub fn evaluate(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Context,
        entities: &Entities,
    ) -> Result<Evaluation, String> {
        let policies = self.slices.get(&action).unwrap_or(&self.policies);
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|error| error.to_string())?;
        let response = self.authorizer.is_authorized(&request, policies, entities);
        Ok(Evaluation {
            allowed: response.decision() == CedarDecision::Allow,
            policy_ids: response.diagnostics().reason().map(ToString::to_string).collect(),
            errors: response.diagnostics().errors().map(ToString::to_string).collect(),
        })
    }
}

fn slice_by_action(schema: &Schema, policies: &PolicySet) -> HashMap<EntityUid, PolicySet> {
    schema
        .actions()
        .map(|action| {
            let mut slice = PolicySet::new();
            for policy in policies.policies() {
                let applies = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(only) => only == *action,
                    ActionConstraint::In(list) => list.contains(action),
                };
                // Ids are unique in `policies`, so adding cannot clash.
                if applies && slice.add(policy.clone()).is_err() {
                    tracing::warn!(policy = %policy.id(), "a policy could not join its action's slice");
                }
            }
            (action.clone(), slice)
        })
        .collect()
}

fn first_line(policy: &Policy) -> String {
    policy.to_string().lines().next().unwrap_or_default().to_owned()
}

/// A problem that has no place in the source.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("")]
struct NoDiagnostic;

#[cfg(test)]
mod tests {
    use super::*;

    fn files(text: &str) -> Vec<(String, String)> {
        vec![("extra.cedar".to_owned(), text.to_owned())]
    }

    #[test]
    fn the_shipped_set_is_valid() {
        let engine = PolicyEngine::shipped().unwrap();
        assert!(engine.policy_files().contains_key("forbid-audit-edits"));
    }

    #[test]
    fn a_syntax_error_is_placed_by_file_line_and_column() {
        let error =
            PolicyEngine::new(SHIPPED_SCHEMA, &files("@id(\"x\")\npermit (principal, action, resource)\nwhen { true "))
                .unwrap_err();
        let problem = &error.0[0];
        assert_eq!(problem.file, "extra.cedar");
        assert!(problem.line.is_some_and(|line| line >= 2), "{problem}");
    }

    #[test]
    fn an_unknown_attribute_fails_strict_validation_in_its_file() {
        let text = "@id(\"shoe-size\")\npermit (principal is Consentry::User, action == Consentry::Action::\"ReadAudit\", resource)\nwhen { principal.shoe_size > 40 };";
        let error = PolicyEngine::new(SHIPPED_SCHEMA, &files(text)).unwrap_err();
        assert_eq!(error.0[0].file, "extra.cedar");
        assert_eq!(error.0[0].line, Some(3), "{}", error.0[0]);
    }

    #[test]
    fn policies_need_ids_and_a_set_needs_policies() {
        let error = PolicyEngine::new(SHIPPED_SCHEMA, &files("permit (principal, action, resource);")).unwrap_err();
        assert!(error.0[0].message.contains("@id"));
        let error = PolicyEngine::new(SHIPPED_SCHEMA, &files("// nothing")).unwrap_err();
        assert!(error.0[0].message.contains("no policies"));
    }

    #[test]
    fn each_action_is_decided_by_its_own_slice_of_the_set() {
        let engine = PolicyEngine::shipped().unwrap();
        let read_audit = EntityUid::from_str("Consentry::Action::\"ReadAudit\"").unwrap();
        let slice: Vec<String> = engine.slices[&read_audit].policies().map(|policy| policy.id().to_string()).collect();
        assert_eq!(slice, ["audit-read-privacy-officers-and-dpo"]);
        assert_eq!(engine.slices.len(), engine.schema.actions().count());
    }

    #[test]
    fn grants_name_the_roles_and_actions_of_each_policy() {
        let grants = PolicyEngine::shipped().unwrap().grants();
        let mentors = grants.iter().find(|grant| grant.policy == "mentors-own-mentees-proposals").unwrap();
        assert!(mentors.permits);
        assert_eq!(mentors.principal, "User");
        assert_eq!(mentors.roles, ["mentor"]);
        assert_eq!(mentors.actions, ["ViewProposal", "DecideProposal"]);
        let forbid = grants.iter().find(|grant| grant.policy == "forbid-clients-deciding-proposals").unwrap();
        assert!(!forbid.permits);
        assert_eq!(forbid.principal, "Client");
    }

    #[test]
    fn positions_count_from_one() {
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("ab", 0), (1, 1));
    }
}
