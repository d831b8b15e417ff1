//! Floods against the real `tickermesh up` release binary (run: `cargo bench --bench
//! http_limits`; needs nothing but loopback): resident memory before, at the peak of and
//! after each flood, the server's open file descriptors, whether a probe (`GET /metrics`) is
//! answered, and how many log lines the flood caused. With the same defaults a user gets.
//!
//! 1. Oversized bodies: a 500 MB `POST /collect`, declared (`Content-Length`) and chunked.
//! 2. 1,200 connections held open, half silent, half slowloris (a request head never ended).
//! 3. The same under `ulimit -n 1024`, where the process runs out of file descriptors.
//!
//! `TICKERMESH_BENCH_BASELINE=<path of another tickermesh binary>` runs the same floods
//! against it too (e.g. a build from before the limits), for figures side by side.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickermesh_tests::proc::free_port;

const FLOOD_BYTES: usize = 500 * 1024 * 1024;
const CONNECTIONS: usize = 1200;
/// Past the default header timeout (10 s) with room to close.
const SETTLE: Duration = Duration::from_secs(13);

struct Mesh {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mesh {
    fn start(bin: &Path, open_files: Option<u32>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("stderr.log");
        let ulimit = open_files.map_or(String::new(), |n| format!("ulimit -n {n}; "));
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{ulimit}exec \"$0\" up"))
            .arg(bin)
            .env("TICKERMESH_DATA_DIR", dir.path())
            .env("TICKERMESH_PORT", port.to_string())
            .env("TICKERMESH_MARKET", "sim")
            .env("TICKERMESH_COLLECT_INTERVAL_SECS", "3600")
            .env("TICKERMESH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !answers(port) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(1));
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn status(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        let kb: u64 = status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        kb as f64 / 1024.0
    }

    /// Starts the peak (VmHWM) over from the current RSS.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn rss_mb(&self) -> f64 {
        self.status("VmRSS:")
    }

    fn peak_mb(&self) -> f64 {
        self.status("VmHWM:")
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |l| l.lines().count())
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection within 3 s (a lost SYN is sent again after 1 s): a server whose backlog is
/// full leaves a connect hanging for minutes.
fn connect(port: u16) -> std::io::Result<TcpStream> {
    TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_secs(3),
    )
}

/// One `GET /metrics`, answered 200 within 2 s.
fn answers(port: u16) -> bool {
    let Ok(mut s) = connect(port) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// POSTs a 500 MB body to `/collect`; the status it got, or how the server cut it.
fn post_oversized(port: u16, chunked: bool) -> String {
    let mut s = connect(port).unwrap();
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {FLOOD_BYTES}")
    };
    let head = format!(
        "POST /collect HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\n\
         ce-type: dev.knative.sources.ping\r\nce-source: /bench\r\n{framing}\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes());
    let block = vec![b'x'; 1024 * 1024];
    for _ in 0..FLOOD_BYTES / block.len() {
        let sent = if chunked {
            s.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                .and_then(|()| s.write_all(&block))
                .and_then(|()| s.write_all(b"\r\n"))
        } else {
            s.write_all(&block)
        };
        if sent.is_err() {
            break;
        }
    }
    if chunked {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) if n >= 12 => String::from_utf8_lossy(&buf[9..12]).into_owned(),
        Ok(_) => "closed".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

fn oversized(name: &str, bin: &Path) {
    let mesh = Mesh::start(bin, None);
    for chunked in [false, true] {
        mesh.reset_peak();
        let before = mesh.rss_mb();
        let started = Instant::now();
        let answer = post_oversized(mesh.port, chunked);
        let took = started.elapsed();
        let peak = mesh.peak_mb();
        std::thread::sleep(Duration::from_secs(2));
        let framing = if chunked { "chunked" } else { "Content-Length" };
        println!(
            "| {name} | 500 MB POST /collect, {framing} | {before:.1} MB | {peak:.1} MB | {:.1} MB | answer {answer} in {:.2} s; probe after: {} |",
            mesh.rss_mb(),
            took.as_secs_f64(),
            answers(mesh.port)
        );
    }
}

fn connections(name: &str, bin: &Path, open_files: Option<u32>) {
    let mesh = Mesh::start(bin, open_files);
    let (before, fds_before, lines_before) = (mesh.rss_mb(), mesh.fds(), mesh.log_lines());
    let mut held = Vec::with_capacity(CONNECTIONS);
    let mut failed = 0;
    for i in 0..CONNECTIONS {
        let Ok(mut s) = connect(mesh.port) else {
            // The server stopped taking connections: the rest would hang as well.
            failed += 1;
            if failed == 3 {
                break;
            }
            continue;
        };
        failed = 0;
        if i % 2 == 1 {
            // Slowloris: a head that never ends.
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n");
        }
        held.push(s);
    }
    let connected = held.len();
    std::thread::sleep(Duration::from_secs(1));
    let (during, fds_during, probe_during) = (mesh.rss_mb(), mesh.fds(), answers(mesh.port));
    let flooded = Instant::now();
    let answered_after = loop {
        if answers(mesh.port) {
            break format!("{:.1} s", flooded.elapsed().as_secs_f64());
        }
        if flooded.elapsed() > SETTLE {
            break "never".to_owned();
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    std::thread::sleep(SETTLE.saturating_sub(flooded.elapsed()));
    let limit = open_files.map_or(String::new(), |n| format!(", ulimit -n {n}"));
    println!(
        "| {name} | {CONNECTIONS} idle + slowloris connections{limit} | {before:.1} MB | {during:.1} MB | {:.1} MB | {connected} connected; server fds {fds_before} → {fds_during} → {} after {} s; probe during: {probe_during}, answered after {answered_after}; {} log lines |",
        mesh.rss_mb(),
        mesh.fds(),
        SETTLE.as_secs(),
        mesh.log_lines().saturating_sub(lines_before),
    );
    drop(held);
}

fn main() {
    // `cargo test --all-targets` builds and starts benchmarks too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench http_limits`");
        return;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "tickermesh", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    let release = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("tickermesh");
    let mut binaries = vec![("this build", release)];
    if let Some(baseline) = std::env::var_os("TICKERMESH_BENCH_BASELINE") {
        binaries.insert(0, ("baseline", PathBuf::from(baseline)));
    }
    println!("| binary | flood | RSS before | RSS peak / during | RSS after | what else |");
    println!("|---|---|---|---|---|---|");
    for (name, bin) in &binaries {
        oversized(name, bin);
        connections(name, bin, None);
        connections(name, bin, Some(1024));
    }
}
