//! The `consentry` command line, run as the built binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use consentry::datadir::{AUDIT_SIGNING_KEY_FILE, DataDir};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Store, TEST_DEMO_SCALE, TestApp, binary};

fn consentry(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args).env("CONSENTRY_DEMO_SCALE", TEST_DEMO_SCALE.to_string()).stdin(Stdio::null());
    command
}

fn run(args: &[&str]) -> Output {
    consentry(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `consentry serve` with JSON logs and waits until it listens; returns the child
/// and its address.
pub fn start_server(data_dir: &Path, extra: &[&str]) -> (Child, String) {
    let data_dir = data_dir.to_str().unwrap();
    let mut args = vec!["serve", "--data-dir", data_dir, "--addr", "127.0.0.1:0", "--log-format", "json"];
    args.extend_from_slice(extra);
    let mut child = consentry(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server logs that it listens").unwrap();
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_server(dir.path(), &["--demo"]);
    let body = r#"{"sub": "s0001"}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/demo/tokens HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    terminate(&child);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = stream.read_to_string(&mut response);
    let status = child.wait().unwrap();

    assert!(response.starts_with("HTTP/1.1 201"), "the slow request completed: {response}");
    assert!(response.contains("access_token"));
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(&addr).is_err(), "no longer listening");
}

#[test]
fn a_key_file_readable_by_others_stops_start_up_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    DataDir::open(dir.path()).unwrap().load_keys(false).unwrap();
    let key = dir.path().join(AUDIT_SIGNING_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let output = run(&["serve", "--data-dir", dir.path().to_str().unwrap(), "--addr", "127.0.0.1:0"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(key.to_str().unwrap()), "{}", stderr(&output));
    assert!(stderr(&output).contains("chmod 600"));
}

#[test]
fn bad_configuration_exits_2_naming_the_key_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("consentry.toml"), "[http]\nrequest_timeout_seconds = \"soon\"\n").unwrap();

    let in_file = run(&["migrate", "--data-dir", data_dir]);
    let in_environment = consentry(&["migrate", "--data-dir", data_dir])
        .env("CONSENTRY_DATABASE__MAX_CONNECTIONS", "many")
        .output()
        .unwrap();
    let bad_flag = run(&["serve", "--addr", "not-an-address"]);
    let unknown_flag = run(&["serve", "--colour", "blue"]);

    assert_eq!(in_file.status.code(), Some(2));
    assert!(stderr(&in_file).contains("http.request_timeout_seconds"), "{}", stderr(&in_file));
    assert_eq!(in_environment.status.code(), Some(2));
    assert!(stderr(&in_environment).contains("database.max_connections"), "{}", stderr(&in_environment));
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(stderr(&bad_flag).contains("--addr"), "{}", stderr(&bad_flag));
    assert_eq!(unknown_flag.status.code(), Some(2));
    assert!(stderr(&unknown_flag).contains("--colour"));
}

#[test]
fn an_unreachable_database_exits_1() {
    let dir = tempfile::tempdir().unwrap();

    let output = run(&[
        "migrate",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database-url",
        "postgres://consentry:secret-password@127.0.0.1:9/consentry",
    ]);

    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("127.0.0.1:9"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("secret-password"), "the password is never printed");
}

#[test]
fn migrate_prepares_an_empty_data_directory() {
    let dir = tempfile::tempdir().unwrap();

    let first = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    let second = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);

    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
    let mode = std::fs::metadata(dir.path().join("consentry.db")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the database holds personal data");
}

#[test]
fn openapi_prints_the_checked_in_description() {
    let output = run(&["openapi"]);

    assert_eq!(output.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let checked_in: Value = serde_json::from_str(include_str!("../../openapi/consentry.json")).unwrap();
    assert!(printed == checked_in, "regenerate with `cargo run -- openapi > openapi/consentry.json`");
}

#[test]
fn demo_users_lists_people_and_clients_with_roles() {
    let dir = tempfile::tempdir().unwrap();

    let all = run(&["demo", "users", "--data-dir", dir.path().to_str().unwrap()]);
    let officers = run(&["demo", "users", "--data-dir", dir.path().to_str().unwrap(), "--role", "privacy_officer"]);

    assert_eq!(all.status.code(), Some(0));
    let all = String::from_utf8(all.stdout).unwrap();
    for row in ["s0001\tuser\tstudent\t", "mentor01\tuser\tmentor\t", "dpo1\tuser\tdpo\t", "demo-dashboard\tclient\t\t"]
    {
        assert!(all.contains(row), "{row} in\n{all}");
    }
    let officers = String::from_utf8(officers.stdout).unwrap();
    assert_eq!(officers.lines().count(), 2, "{officers}");
    assert!(officers.contains("po1\tuser\tprivacy_officer"));
}

#[tokio::test]
async fn dev_token_mints_tokens_the_demo_server_accepts() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let data_dir = app.data_dir();
    let data_dir = data_dir.to_str().unwrap();

    let own_roles = run(&["dev-token", "--data-dir", data_dir, "--sub", "mentor01"]);
    let overridden =
        run(&["dev-token", "--data-dir", data_dir, "--sub", "mentor01", "--role", "dpo", "--role", "admin"]);
    let unknown = run(&["dev-token", "--data-dir", data_dir, "--sub", "nobody"]);

    assert_eq!(own_roles.status.code(), Some(0), "{}", stderr(&own_roles));
    let token = String::from_utf8(own_roles.stdout).unwrap();
    let me: Value = app.get_as("/api/v1/me", token.trim()).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["mentor"]));
    let token = String::from_utf8(overridden.stdout).unwrap();
    let me: Value = app.get_as("/api/v1/me", token.trim()).await.json().await.unwrap();
    // Claimed roles are joined by the roles granted here (mentor01 is a mentor).
    assert_eq!(me["roles"], serde_json::json!(["mentor", "dpo", "admin"]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--sub"), "{}", stderr(&unknown));
}

#[test]
fn dev_token_refuses_a_data_directory_that_is_not_a_demo() {
    let dir = tempfile::tempdir().unwrap();
    run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);

    let output = run(&["dev-token", "--data-dir", dir.path().to_str().unwrap(), "--sub", "s0001"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a demo data directory"), "{}", stderr(&output));
}

#[tokio::test]
async fn a_server_started_without_demo_issues_no_tokens() {
    let app = TestApp::builder(Store::Sqlite).configure(|config| config.demo = false).spawn().await;

    let response = app.post_json("/api/v1/demo/tokens", &serde_json::json!({ "sub": "s0001" })).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn policy_validate_and_test_check_the_shipped_policies() {
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

    let validated = run(&["policy", "validate", policies]);
    let tested = run(&["policy", "test", policies]);

    assert_eq!(validated.status.code(), Some(0), "{}", stderr(&validated));
    assert!(String::from_utf8_lossy(&validated.stdout).starts_with("valid: "));
    assert_eq!(tested.status.code(), Some(0), "{}", stderr(&tested));
    assert!(String::from_utf8_lossy(&tested.stdout).contains(" passed, 0 failed"));
}

#[test]
fn an_invalid_policy_set_is_named_by_file_and_line_and_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/policies/schema.cedarschema"),
        policies.join("schema.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        policies.join("mine.cedar"),
        "@id(\"shoes\")\npermit (principal is Consentry::User, action == Consentry::Action::\"ReadAudit\", resource)\nwhen { principal.shoe_size > 40 };\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(data_dir.join("consentry.toml"), format!("policies_dir = {:?}\n", policies.to_str().unwrap()))
        .unwrap();

    let validated = run(&["policy", "validate", policies.to_str().unwrap()]);
    let served = run(&["serve", "--data-dir", data_dir.to_str().unwrap(), "--addr", "127.0.0.1:0"]);

    assert_eq!(validated.status.code(), Some(1));
    assert!(stderr(&validated).contains("mine.cedar:3:"), "{}", stderr(&validated));
    assert_eq!(served.status.code(), Some(2), "the server refuses an invalid set");
    assert!(stderr(&served).contains("mine.cedar:3:"), "{}", stderr(&served));
}
