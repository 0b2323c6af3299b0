//! Who is in "Hogeschool Demo": students, staff, groups, courses and analytics clients.
//!
//! Everything derives from a fixed seed, so every demo data directory holds the same
//! people under the same ids, and the documented ids (`s0001`, `mentor01`, `po1`, …) are
//! stable across machines.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::auth::{PrincipalKind, Role};
use crate::directory::{IdentifierScheme, NewCourse, NewGroup, NewSubject, NewUser};

/// The seed behind every generated name, profile and statement.
pub const SEED: u64 = 20_260_202;
/// Students in the documented institution; `demo_scale` multiplies it.
pub const STUDENTS_AT_SCALE_1: usize = 2_000;
pub const STUDENTS_PER_GROUP: usize = 50;
pub const MENTORS: usize = 20;
pub const COURSES_PER_STUDENT: usize = 5;
pub const ACTIVITIES_PER_COURSE: usize = 20;
pub const LMS_HOME: &str = "https://lms.hogeschool-demo.example";
pub const STUDENT_MAIL_DOMAIN: &str = "student.hogeschool-demo.example";
pub const STAFF_MAIL_DOMAIN: &str = "hogeschool-demo.example";
/// Monday 2 February 2026, 00:00 UTC: the start of the semester's first week.
pub const SEMESTER_START_UNIX: i64 = 1_769_990_400;
pub const SEMESTER_WEEKS: u32 = 20;

const COURSES: [&str; 10] = [
    "Programming Basics",
    "Databases",
    "Statistics",
    "Academic Skills",
    "Web Development",
    "Computer Networks",
    "Professional Ethics",
    "Project Management",
    "Data Analysis",
    "Research Methods",
];
const PROGRAMMES: [&str; 5] = ["ICT", "BIM", "CMD", "HBO-V", "PABO"];
const FIRST_NAMES: [&str; 40] = [
    "Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Levi", "Tess", "Finn", "Sophie", "Noah", "Zoë", "Milan", "Sara",
    "Jesse", "Anna", "Bram", "Evi", "Thijs", "Lotte", "Mohammed", "Yara", "Ayoub", "Noor", "Liam", "Fenna", "Ruben",
    "Lynn", "Hugo", "Isa", "Mees", "Saar", "Luuk", "Femke", "Stijn", "Amira", "Jayden", "Elif", "Kevin", "Priya",
];
const LAST_NAMES: [&str; 40] = [
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "Yilmaz",
    "El Amrani",
    "Kaya",
    "Pinas",
    "Tran",
    "Nguyen",
    "Öztürk",
    "Bouzid",
    "Wijaya",
    "Sewdien",
];

/// How a student engages over the semester; drives the generated activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Relative activity level, around 1.0.
    pub engagement: f64,
    /// Chance of passing an assessment, 0–1.
    pub ability: f64,
    /// The week from which a drifting student fades away.
    pub drift_week: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Student {
    pub login: String,
    pub subject_id: Uuid,
    pub name: String,
    pub email: String,
    pub student_number: String,
    /// `YYYY-MM-DD`: first-year to fourth-year students of a university of applied sciences.
    pub date_of_birth: String,
    pub group: usize,
    pub courses: Vec<usize>,
    pub profile: Profile,
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub login: String,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub mentor: String,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub id: String,
    pub title: String,
    pub teacher: String,
}

impl Course {
    pub fn activity_iri(&self) -> String {
        format!("{LMS_HOME}/course/{}", self.id)
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: &'static str,
    pub name: &'static str,
    pub organisation: &'static str,
    pub contact: &'static str,
    /// The purposes it is registered for.
    pub purposes: &'static [&'static str],
    /// Its documented HTTP Basic secret.
    pub secret: &'static str,
}

/// The demo analytics clients, each registered for the purposes it serves.
pub const CLIENTS: [Client; 3] = [
    Client {
        id: "demo-dashboard",
        name: "Study progress dashboard",
        organisation: "Hogeschool Demo, Education & IT",
        contact: "dashboard@hogeschool-demo.example",
        purposes: &["personal-dashboard", "course-improvement"],
        secret: "demo-dashboard-secret",
    },
    Client {
        id: "demo-research",
        name: "Learning analytics research",
        organisation: "Hogeschool Demo, Research group Learning Analytics",
        contact: "research@hogeschool-demo.example",
        purposes: &["learning-research"],
        secret: "demo-research-secret",
    },
    Client {
        id: "demo-signals",
        name: "Early study-success signals",
        organisation: "Hogeschool Demo, Student counselling",
        contact: "signals@hogeschool-demo.example",
        purposes: &["dropout-prevention"],
        secret: "demo-signals-secret",
    },
];

/// The demo LMS: an xAPI source with documented HTTP Basic credentials.
pub const DEMO_SOURCE: (&str, &str, &str) = ("demo-lms", "Hogeschool Demo LMS", "demo-lms-secret");
/// The demo student information system, for `consentry import oneroster`.
pub const DEMO_SIS_SOURCE: (&str, &str, &str) =
    ("demo-sis", "Hogeschool Demo student information system", "demo-sis-secret");
/// The demo wellbeing questionnaire tool, for `consentry import survey`.
pub const DEMO_SURVEY_SOURCE: (&str, &str, &str) =
    ("demo-survey", "Hogeschool Demo wellbeing questionnaire", "demo-survey-secret");

/// One person or client of the demo institution, as `consentry demo users` lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoPrincipal {
    pub id: String,
    pub kind: PrincipalKind,
    pub roles: Vec<Role>,
    pub name: String,
    /// The student's group, the mentor's groups, or the teacher's course.
    pub affiliation: String,
}

/// The whole demo institution at one scale.
#[derive(Debug, Clone)]
pub struct Institution {
    pub scale: f64,
    pub students: Vec<Student>,
    pub staff: Vec<Staff>,
    pub groups: Vec<Group>,
    pub courses: Vec<Course>,
}

impl Institution {
    pub fn generate(scale: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        // Rounding keeps tiny test institutions at one student at least.
        let student_count = ((STUDENTS_AT_SCALE_1 as f64 * scale).round() as usize).max(1);
        let group_count = student_count.div_ceil(STUDENTS_PER_GROUP);
        let login_width = student_count.to_string().len().max(4);

        let mut staff: Vec<Staff> = (1..=MENTORS)
            .map(|n| Staff { login: format!("mentor{n:02}"), name: person_name(&mut rng), roles: vec![Role::Mentor] })
            .collect();
        staff.extend((1..=COURSES.len()).map(|n| Staff {
            login: format!("teacher{n:02}"),
            name: person_name(&mut rng),
            roles: vec![Role::Teacher],
        }));
        for (login, role) in [("po1", Role::PrivacyOfficer), ("dpo1", Role::Dpo), ("admin1", Role::Admin)] {
            staff.push(Staff { login: login.to_owned(), name: person_name(&mut rng), roles: vec![role] });
        }

        let courses: Vec<Course> = COURSES
            .iter()
            .enumerate()
            .map(|(index, title)| Course {
                id: format!("c{:02}", index + 1),
                title: (*title).to_owned(),
                teacher: format!("teacher{:02}", index + 1),
            })
            .collect();
        let groups: Vec<Group> = (0..group_count)
            .map(|index| Group {
                id: format!("g{:02}", index + 1),
                name: format!(
                    "{}-{}{}",
                    PROGRAMMES[index % PROGRAMMES.len()],
                    1 + (index / PROGRAMMES.len()) % 4,
                    char::from(b'A' + u8::try_from(index / (PROGRAMMES.len() * 4) % 26).unwrap_or(0))
                ),
                mentor: format!("mentor{:02}", index % MENTORS + 1),
            })
            .collect();

        let students = (0..student_count)
            .map(|index| {
                let number = index + 1;
                let login = format!("s{number:0login_width$}");
                let group = index / STUDENTS_PER_GROUP;
                let drifts = rng.random_bool(0.12);
                Student {
                    subject_id: deterministic_uuid(&mut rng, number),
                    name: person_name(&mut rng),
                    email: format!("{login}@{STUDENT_MAIL_DOMAIN}"),
                    student_number: format!("{}", 4_100_000 + number),
                    date_of_birth: format!(
                        "{}-{:02}-{:02}",
                        rng.random_range(2001..=2008),
                        rng.random_range(1..=12),
                        rng.random_range(1..=28)
                    ),
                    courses: (0..COURSES_PER_STUDENT).map(|k| (group * 3 + k) % COURSES.len()).collect(),
                    profile: Profile {
                        engagement: rng.random_range(0.6..1.4),
                        ability: rng.random_range(0.55..0.97),
                        drift_week: drifts.then(|| rng.random_range(5..12)),
                    },
                    group,
                    login,
                }
            })
            .collect();
        Self { scale, students, staff, groups, courses }
    }

    /// Every person and client, students first.
    pub fn principals(&self) -> Vec<DemoPrincipal> {
        let students = self.students.iter().map(|student| DemoPrincipal {
            id: student.login.clone(),
            kind: PrincipalKind::User,
            roles: vec![Role::Student],
            name: student.name.clone(),
            affiliation: self.groups[student.group].name.clone(),
        });
        let staff = self.staff.iter().map(|person| DemoPrincipal {
            id: person.login.clone(),
            kind: PrincipalKind::User,
            roles: person.roles.clone(),
            name: person.name.clone(),
            affiliation: self.affiliation_of(&person.login),
        });
        let clients = CLIENTS.iter().map(|client| DemoPrincipal {
            id: client.id.to_owned(),
            kind: PrincipalKind::Client,
            roles: Vec::new(),
            name: client.name.to_owned(),
            affiliation: format!(
                "client for {}: a bearer token, or HTTP Basic {}:{}",
                client.purposes.join(", "),
                client.id,
                client.secret
            ),
        });
        let sources =
            [DEMO_SOURCE, DEMO_SIS_SOURCE, DEMO_SURVEY_SOURCE].into_iter().map(|(id, name, secret)| DemoPrincipal {
                id: id.to_owned(),
                kind: PrincipalKind::Client,
                roles: Vec::new(),
                name: name.to_owned(),
                affiliation: format!("source: HTTP Basic {id}:{secret}, or a bearer token"),
            });
        students.chain(staff).chain(clients).chain(sources).collect()
    }

    /// The person or client with this id.
    pub fn principal(&self, id: &str) -> Option<DemoPrincipal> {
        self.principals().into_iter().find(|principal| principal.id == id)
    }

    fn affiliation_of(&self, login: &str) -> String {
        let mentored: Vec<&str> =
            self.groups.iter().filter(|group| group.mentor == login).map(|group| group.name.as_str()).collect();
        if !mentored.is_empty() {
            return format!("mentor of {}", mentored.join(", "));
        }
        match self.courses.iter().find(|course| course.teacher == login) {
            Some(course) => format!("teaches {}", course.title),
            None => "Hogeschool Demo".to_owned(),
        }
    }

    pub fn new_subjects(&self) -> Vec<NewSubject> {
        self.students
            .iter()
            .map(|student| NewSubject {
                id: student.subject_id,
                display_name: student.name.clone(),
                email: Some(student.email.clone()),
                date_of_birth: Some(student.date_of_birth.clone()),
                identifiers: vec![
                    (IdentifierScheme::StudentNumber, student.student_number.clone()),
                    (IdentifierScheme::XapiMbox, format!("mailto:{}", student.email)),
                    (IdentifierScheme::XapiAccount, format!("{LMS_HOME}|{}", student.login)),
                ],
            })
            .collect()
    }

    pub fn new_users(&self) -> Vec<NewUser> {
        let students = self.students.iter().map(|student| NewUser {
            id: student.login.clone(),
            display_name: student.name.clone(),
            email: Some(student.email.clone()),
            subject_id: Some(student.subject_id),
            roles: vec![Role::Student],
        });
        let staff = self.staff.iter().map(|person| NewUser {
            id: person.login.clone(),
            display_name: person.name.clone(),
            email: Some(format!("{}@{STAFF_MAIL_DOMAIN}", person.login)),
            subject_id: None,
            roles: person.roles.clone(),
        });
        students.chain(staff).collect()
    }

    pub fn new_groups(&self) -> Vec<NewGroup> {
        self.groups
            .iter()
            .enumerate()
            .map(|(index, group)| NewGroup {
                id: group.id.clone(),
                name: group.name.clone(),
                members: self
                    .students
                    .iter()
                    .filter(|student| student.group == index)
                    .map(|student| student.subject_id)
                    .collect(),
                mentors: vec![group.mentor.clone()],
            })
            .collect()
    }

    pub fn new_courses(&self) -> Vec<NewCourse> {
        self.courses
            .iter()
            .map(|course| NewCourse {
                id: course.id.clone(),
                title: course.title.clone(),
                activity_iri: course.activity_iri(),
                teachers: vec![course.teacher.clone()],
            })
            .collect()
    }
}

fn person_name(rng: &mut ChaCha8Rng) -> String {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Alex");
    let last = LAST_NAMES.choose(rng).copied().unwrap_or("Jansen");
    format!("{first} {last}")
}

/// A UUIDv7 whose time part is the semester start plus `offset_ms` and whose random part
/// comes from the seeded generator, so that ids are stable and still sort by creation.
pub fn deterministic_uuid(rng: &mut ChaCha8Rng, offset_ms: usize) -> Uuid {
    let millis = u64::try_from(SEMESTER_START_UNIX).unwrap_or(0) * 1000 + offset_ms as u64;
    let random: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_institution_has_the_documented_shape() {
        let institution = Institution::generate(1.0);
        assert_eq!(institution.students.len(), 2_000);
        assert_eq!(institution.groups.len(), 40);
        assert_eq!(institution.students[0].login, "s0001");
        assert_eq!(institution.students[1_999].login, "s2000");
        let principals = institution.principals();
        for id in ["mentor01", "mentor20", "teacher10", "po1", "dpo1", "admin1", "demo-dashboard", "demo-research"] {
            assert!(principals.iter().any(|principal| principal.id == id), "{id}");
        }
        let drifting = institution.students.iter().filter(|student| student.profile.drift_week.is_some()).count();
        assert!((150..350).contains(&drifting), "{drifting} drifting students");
    }

    #[test]
    fn generation_is_deterministic() {
        let first = Institution::generate(0.05);
        let second = Institution::generate(0.05);
        assert_eq!(first.students[7].subject_id, second.students[7].subject_id);
        assert_eq!(first.students[7].name, second.students[7].name);
        assert_eq!(first.principals(), second.principals());
    }

    #[test]
    fn every_mentor_mentors_and_every_teacher_teaches() {
        let institution = Institution::generate(1.0);
        let mentor = institution.principal("mentor01").unwrap();
        assert!(mentor.affiliation.starts_with("mentor of"), "{}", mentor.affiliation);
        let teacher = institution.principal("teacher01").unwrap();
        assert_eq!(teacher.affiliation, "teaches Programming Basics");
        assert_eq!(institution.principal("demo-dashboard").unwrap().kind, PrincipalKind::Client);
        assert!(institution.principal("s9999").is_none());
    }
}
