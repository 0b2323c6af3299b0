//! What the end-to-end benchmarks share: demo stores built by `consentry serve --demo`
//! itself, and a release `consentry serve` process to measure over HTTP.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The data directory `target/bench-<name>/` holding the demo institution at `scale`, seeded
/// by `consentry serve --demo` the first time and reused afterwards (seeding is resumable, so
/// an interrupted build continues).
pub fn demo_store(name: &str, scale: f64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    eprintln!("{name}: the demo institution at scale {scale} in {} (seeded once, then reused)", dir.display());
    drop(Server::demo(&dir, scale));
    dir
}

/// A running `consentry serve` on loopback, stopped when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts the server in demo mode on the data directory and waits until it is ready;
    /// seeding a large demo institution takes minutes.
    pub fn demo(data_dir: &Path, scale: f64) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(["serve", "--demo", "--data-dir", data_dir.to_str().unwrap(), "--addr", &addr])
            .env("CONSENTRY_LOG", "warn")
            .env("CONSENTRY_DEMO_SCALE", scale.to_string())
            // An analytics run of a large institution answers within its request.
            .env("CONSENTRY_HTTP__REQUEST_TIMEOUT_SECONDS", "3600")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let url = format!("http://{addr}");
        let started = Instant::now();
        while reqwest::blocking::get(format!("{url}/readyz"))
            .map(|response| !response.status().is_success())
            .unwrap_or(true)
        {
            assert!(child.try_wait().unwrap().is_none(), "the server exited; its error is above");
            assert!(started.elapsed() < Duration::from_secs(3 * 3600), "the server did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        Self { child, url }
    }

    /// Streams `demo-dashboard`'s whole `personal-dashboard` read of xAPI statements as
    /// NDJSON: the lines received and the seconds it took.
    pub fn stream_dashboard_read(&self) -> (usize, f64) {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(3600)).build().unwrap();
        let started = Instant::now();
        let mut response = client
            .get(format!("{}/api/v1/purposes/personal-dashboard/records?kind=xapi", self.url))
            .basic_auth("demo-dashboard", Some("demo-dashboard-secret"))
            .header("Accept", "application/x-ndjson")
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let (mut lines, mut buffer) = (0, vec![0u8; 256 * 1024]);
        loop {
            let read = std::io::Read::read(&mut response, &mut buffer).unwrap();
            if read == 0 {
                break;
            }
            lines += buffer[..read].iter().filter(|byte| **byte == b'\n').count();
        }
        (lines, started.elapsed().as_secs_f64())
    }

    /// The server's peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
