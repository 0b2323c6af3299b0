//! The institution's directory: students as data subjects, the people who sign in,
//! student groups with their mentors, and courses with their teachers.
//!
//! Later modules read these relations to build policy entities (who mentors whom, who
//! teaches which course); today the demo institution is their only writer.

mod store;

use uuid::Uuid;

pub use store::{
    add_guardian, count_subjects, group_memberships, group_mentors, insert_courses, insert_groups, insert_subjects,
    insert_users, is_guardian, roles_of, set_group_mentors, set_roles, subject_birth_date, subject_by_identifier,
    subject_ids, subject_name, subject_of_user,
};

use crate::auth::Role;

/// How an outside system names a student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierScheme {
    /// The student information system's student number.
    StudentNumber,
    /// An xAPI actor's `mbox` (`mailto:` IRI).
    XapiMbox,
    /// An xAPI actor's `account`, as `homePage|name`.
    XapiAccount,
    /// An xAPI actor's `mbox_sha1sum`.
    XapiMboxSha1sum,
    /// An xAPI actor's `openid`.
    XapiOpenId,
}

impl IdentifierScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StudentNumber => "student_number",
            Self::XapiMbox => "xapi_mbox",
            Self::XapiAccount => "xapi_account",
            Self::XapiMboxSha1sum => "xapi_mbox_sha1sum",
            Self::XapiOpenId => "xapi_openid",
        }
    }
}

/// A student to register as a data subject.
#[derive(Debug, Clone)]
pub struct NewSubject {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub identifiers: Vec<(IdentifierScheme, String)>,
}

/// A person who signs in, with locally granted roles.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// The data subject this person is, for students.
    pub subject_id: Option<Uuid>,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub id: String,
    pub name: String,
    pub members: Vec<Uuid>,
    /// Login ids of the group's mentors.
    pub mentors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewCourse {
    pub id: String,
    pub title: String,
    pub activity_iri: String,
    /// Login ids of the course's teachers.
    pub teachers: Vec<String>,
}
