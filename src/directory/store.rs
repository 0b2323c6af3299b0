//! Directory SQL.

use sqlx::AnyConnection;

use uuid::Uuid;

use super::{IdentifierScheme, NewCourse, NewGroup, NewSubject, NewUser};
use crate::auth::Role;
use crate::db::{DbError, SqlValue, insert_rows};
use crate::timestamp::Timestamp;

pub async fn insert_subjects(connection: &mut AnyConnection, subjects: &[NewSubject]) -> Result<(), DbError> {
    let now = SqlValue::from(Timestamp::now().to_storage());
    let rows: Vec<_> = subjects
        .iter()
        .map(|subject| {
            vec![
                subject.id.to_string().into(),
                subject.display_name.as_str().into(),
                subject.email.clone().into(),
                subject.date_of_birth.clone().into(),
                now.clone(),
            ]
        })
        .collect();
    insert_rows(connection, "subjects", &["id", "display_name", "email", "date_of_birth", "created_at"], &rows).await?;
    let identifiers: Vec<_> = subjects
        .iter()
        .flat_map(|subject| {
            subject.identifiers.iter().map(|(scheme, value)| {
                vec![scheme.as_str().into(), value.as_str().into(), subject.id.to_string().into()]
            })
        })
        .collect();
    insert_rows(connection, "subject_identifiers", &["scheme", "value", "subject_id"], &identifiers).await?;
    Ok(())
}

pub async fn insert_users(connection: &mut AnyConnection, users: &[NewUser]) -> Result<(), DbError> {
    let now = SqlValue::from(Timestamp::now().to_storage());
    let rows: Vec<_> = users
        .iter()
        .map(|user| {
            vec![
                user.id.as_str().into(),
                user.display_name.as_str().into(),
                user.email.clone().into(),
                user.subject_id.map(|id| id.to_string()).into(),
                now.clone(),
            ]
        })
        .collect();
    insert_rows(connection, "users", &["id", "display_name", "email", "subject_id", "created_at"], &rows).await?;
    let roles: Vec<_> = users
        .iter()
        .flat_map(|user| user.roles.iter().map(|role| vec![user.id.as_str().into(), role.as_str().into()]))
        .collect();
    insert_rows(connection, "user_roles", &["user_id", "role"], &roles).await?;
    Ok(())
}

pub async fn insert_groups(connection: &mut AnyConnection, groups: &[NewGroup]) -> Result<(), DbError> {
    let rows: Vec<_> = groups.iter().map(|group| vec![group.id.as_str().into(), group.name.as_str().into()]).collect();
    insert_rows(connection, "student_groups", &["id", "name"], &rows).await?;
    let members: Vec<_> = groups
        .iter()
        .flat_map(|group| group.members.iter().map(|member| vec![group.id.as_str().into(), member.to_string().into()]))
        .collect();
    insert_rows(connection, "group_members", &["group_id", "subject_id"], &members).await?;
    let mentors: Vec<_> = groups
        .iter()
        .flat_map(|group| group.mentors.iter().map(|mentor| vec![group.id.as_str().into(), mentor.as_str().into()]))
        .collect();
    insert_rows(connection, "group_mentors", &["group_id", "user_id"], &mentors).await?;
    Ok(())
}

pub async fn insert_courses(connection: &mut AnyConnection, courses: &[NewCourse]) -> Result<(), DbError> {
    let rows: Vec<_> = courses
        .iter()
        .map(|course| {
            vec![course.id.as_str().into(), course.title.as_str().into(), course.activity_iri.as_str().into()]
        })
        .collect();
    insert_rows(connection, "courses", &["id", "title", "activity_iri"], &rows).await?;
    let teachers: Vec<_> = courses
        .iter()
        .flat_map(|course| {
            course.teachers.iter().map(|teacher| vec![course.id.as_str().into(), teacher.as_str().into()])
        })
        .collect();
    insert_rows(connection, "course_teachers", &["course_id", "user_id"], &teachers).await?;
    Ok(())
}

/// The data subject a signed-in person is, if they are a student.
pub async fn subject_of_user(connection: &mut AnyConnection, user_id: &str) -> Result<Option<Uuid>, DbError> {
    let subject: Option<Option<String>> = sqlx::query_scalar("SELECT subject_id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(connection)
        .await?;
    Ok(subject.flatten().and_then(|id| Uuid::parse_str(&id).ok()))
}

/// A student's display name, for the people who work with them (mentors).
pub async fn subject_name(connection: &mut AnyConnection, subject: Uuid) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT display_name FROM subjects WHERE id = $1")
        .bind(subject.to_string())
        .fetch_optional(connection)
        .await?)
}

/// The subject a student number belongs to.
pub async fn subject_by_identifier(
    connection: &mut AnyConnection,
    scheme: IdentifierScheme,
    value: &str,
) -> Result<Option<Uuid>, DbError> {
    let subject: Option<String> =
        sqlx::query_scalar("SELECT subject_id FROM subject_identifiers WHERE scheme = $1 AND value = $2")
            .bind(scheme.as_str())
            .bind(value)
            .fetch_optional(connection)
            .await?;
    Ok(subject.and_then(|id| Uuid::parse_str(&id).ok()))
}

/// Whether `subject` is registered, and their date of birth (`YYYY-MM-DD`) if known.
pub async fn subject_birth_date(
    connection: &mut AnyConnection,
    subject: Uuid,
) -> Result<Option<Option<String>>, DbError> {
    Ok(sqlx::query_scalar("SELECT date_of_birth FROM subjects WHERE id = $1")
        .bind(subject.to_string())
        .fetch_optional(connection)
        .await?)
}

/// Whether `user_id` is a registered guardian of `subject`.
pub async fn is_guardian(connection: &mut AnyConnection, user_id: &str, subject: Uuid) -> Result<bool, DbError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM guardians WHERE user_id = $1 AND subject_id = $2")
        .bind(user_id)
        .bind(subject.to_string())
        .fetch_optional(connection)
        .await?;
    Ok(found.is_some())
}

/// Registers `user_id` as a guardian of `subject`.
pub async fn add_guardian(connection: &mut AnyConnection, user_id: &str, subject: Uuid) -> Result<(), DbError> {
    sqlx::query("INSERT INTO guardians (user_id, subject_id) VALUES ($1, $2)")
        .bind(user_id)
        .bind(subject.to_string())
        .execute(connection)
        .await?;
    Ok(())
}

/// How many students are registered.
pub async fn count_subjects(connection: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM subjects").fetch_one(connection).await?)
}

/// Every subject's groups, by subject id.
pub async fn group_memberships(
    connection: &mut AnyConnection,
) -> Result<std::collections::HashMap<String, Vec<String>>, DbError> {
    let rows =
        sqlx::query("SELECT subject_id, group_id FROM group_members ORDER BY group_id").fetch_all(connection).await?;
    let mut groups: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for row in rows {
        use sqlx::Row;
        groups.entry(row.try_get("subject_id")?).or_default().push(row.try_get("group_id")?);
    }
    Ok(groups)
}

/// The ids of every subject.
pub async fn subject_ids(connection: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT id FROM subjects").fetch_all(connection).await?)
}

/// The roles granted locally to a person, or `None` when there is no such person.
pub async fn roles_of(connection: &mut AnyConnection, user: &str) -> Result<Option<Vec<Role>>, DbError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let roles: Vec<String> = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user.to_owned())
        .fetch_all(connection)
        .await?;
    Ok(Some(roles.iter().filter_map(|role| Role::parse(role)).collect()))
}

/// Replaces the roles granted locally to a person, in the caller's transaction.
pub async fn set_roles(connection: &mut AnyConnection, user: &str, roles: &[Role]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user.to_owned()).execute(&mut *connection).await?;
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(user.to_owned())
            .bind(role.as_str())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// The mentors of a group, or `None` when there is no such group.
pub async fn group_mentors(connection: &mut AnyConnection, group: &str) -> Result<Option<Vec<String>>, DbError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM student_groups WHERE id = $1")
        .bind(group.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let mentors = sqlx::query_scalar("SELECT user_id FROM group_mentors WHERE group_id = $1 ORDER BY user_id")
        .bind(group.to_owned())
        .fetch_all(connection)
        .await?;
    Ok(Some(mentors))
}

/// Replaces a group's mentors, in the caller's transaction.
pub async fn set_group_mentors(connection: &mut AnyConnection, group: &str, mentors: &[String]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM group_mentors WHERE group_id = $1")
        .bind(group.to_owned())
        .execute(&mut *connection)
        .await?;
    for mentor in mentors {
        sqlx::query("INSERT INTO group_mentors (group_id, user_id) VALUES ($1, $2)")
            .bind(group.to_owned())
            .bind(mentor.clone())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}
