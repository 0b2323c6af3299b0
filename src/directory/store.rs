//! Directory SQL.

use sqlx::AnyConnection;

use super::{NewClient, NewCourse, NewGroup, NewSubject, NewUser};
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
                now.clone(),
            ]
        })
        .collect();
    insert_rows(connection, "subjects", &["id", "display_name", "email", "created_at"], &rows).await?;
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

pub async fn insert_clients(connection: &mut AnyConnection, clients: &[NewClient]) -> Result<(), DbError> {
    let now = SqlValue::from(Timestamp::now().to_storage());
    let rows: Vec<_> = clients
        .iter()
        .map(|client| {
            vec![
                client.id.as_str().into(),
                client.name.as_str().into(),
                client.organisation.as_str().into(),
                client.contact.as_str().into(),
                "active".into(),
                now.clone(),
            ]
        })
        .collect();
    insert_rows(connection, "clients", &["id", "name", "organisation", "contact", "status", "created_at"], &rows)
        .await?;
    Ok(())
}
