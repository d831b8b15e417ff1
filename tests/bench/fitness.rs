//! Serverless fitness of every function binary (run: `cargo bench --bench fitness`; needs
//! MariaDB and the Kafka broker of tests/tools.sh): time from exec to the first answered
//! request on its port, resident memory once idle, and the stripped release binary's size.
//! Targets: ready ≤ 20 ms with the database reachable, idle RSS ≤ 15 MB, binary ≤ 20 MB.
//!
//! Then the function images (minikube/Dockerfile's runtime stage, built by podman from these
//! release binaries; needs podman and runc): each image's size, and `podman run` → first
//! answer of each function next to the same for a trivial static server
//! (tests/containers/ready.c) in an image from the same stage and storage, so that the app's
//! own share of a container start shows; and, for each function, its own image started with
//! that trivial server as the entrypoint, so that the image's size weighs alike. Medians of 11.
//! Targets: image ≤ 40 MB, the app's share ≤ 50 ms.
//! `cargo bench --bench fitness -- containers` runs only this part.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tickermesh_tests::containers::{
    build_images, profile_dir, Container, Image, Podman, FUNCTIONS,
};
use tickermesh_tests::proc::free_port;
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::{kafka, Backend, TestDb};

fn release_bin(name: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .to_owned();
    dir.join(name)
}

/// One plain GET /metrics; true when it answered 200.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and starts benchmarks too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench fitness`");
        return;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--workspace", "--bins", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    let db = TestDb::new(Backend::MariaDb).await;
    db.store().await.close().await; // schema in place, as after the first deploy
    if !std::env::args().any(|a| a == "containers") {
        binaries(&db);
    }
    containers(&db);
}

fn binaries(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    println!("| function | exec → ready (median of 5) | idle RSS | binary |");
    println!("|---|---|---|---|");
    for f in FUNCTIONS {
        let bin = release_bin(&format!("tickermesh-{f}"));
        let size = std::fs::metadata(&bin).unwrap().len();
        let mut ready = Vec::new();
        let mut rss = 0;
        for round in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.env("PORT", port.to_string())
                .env("TICKERMESH_DATABASE_URL", &db.url)
                .env("TICKERMESH_LOG", "warn")
                .env("TICKERMESH_MAIL_OUTBOX", dir.path())
                .envs(kafka::env())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let started = Instant::now();
            let mut child = cmd.spawn().unwrap();
            while !answers(port) {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{f} never answered"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            ready.push(started.elapsed());
            if round == 0 {
                std::thread::sleep(Duration::from_secs(1));
                rss = rss_kb(child.id());
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        ready.sort();
        println!(
            "| {f} | {:.1} ms | {:.1} MB | {:.1} MB |",
            ready[2].as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            size as f64 / 1_048_576.0
        );
    }
}

/// `podman run` → first 200 answer to GET /metrics, once.
fn run_to_ready(podman: &Podman, image: &Image, env: &[(&str, String)]) -> Duration {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("PORT", port.to_string()));
    let (container, took) = Container::start_until_ready(podman, image, &env, port, "/metrics");
    drop(container);
    took
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

const ROUNDS: usize = 11;

fn containers(db: &TestDb) {
    let podman = Podman::new();
    let smtp = SmtpServer::start();
    let mut env = kafka::env();
    env.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_SMTP_URL", smtp.url()),
        ("TICKERMESH_LOG", "warn".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(dir.path().join("tickermesh-ready"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/containers/ready.c"))
        .status()
        .unwrap();
    assert!(status.success(), "building tests/containers/ready.c");
    let trivial = build_images(&podman, dir.path(), &["ready"]).remove(0);
    let images = build_images(&podman, &profile_dir(), &FUNCTIONS);
    // Each function's control: its very image with the trivial server as the entrypoint, so
    // that the copy of the image (vfs copies it whole for each container) weighs the same.
    let containerfile = dir.path().join("Containerfile");
    std::fs::write(
        &containerfile,
        "ARG BASE\nFROM ${BASE}\nCOPY tickermesh-ready /ready\nENTRYPOINT [\"/ready\"]\n",
    )
    .unwrap();
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let base = median(
        (0..ROUNDS)
            .map(|_| run_to_ready(&podman, &trivial, &[]))
            .collect(),
    );
    println!();
    println!("| image | size | podman run → ready | same image, trivial server | app's share |");
    println!("|---|---|---|---|---|");
    println!(
        "| trivial static server | {:.1} MB | {:.1} ms | — | — |",
        mb(trivial.size()),
        ms(base)
    );
    for (f, image) in FUNCTIONS.iter().zip(&images) {
        let base_arg = format!("BASE={}", image.name);
        let args: [&OsStr; 4] = [
            "-f".as_ref(),
            containerfile.as_ref(),
            "--build-arg".as_ref(),
            base_arg.as_ref(),
        ];
        let control = podman.build(&format!("{f}-control"), &args, dir.path());
        // Interleaved, so that drift in the machine's load touches both alike.
        let (mut app, mut same) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            app.push(run_to_ready(&podman, image, &env));
            same.push(run_to_ready(&podman, &control, &[]));
        }
        let (app, same) = (median(app), median(same));
        println!(
            "| {f} | {:.1} MB | {:.1} ms | {:.1} ms | {:.1} ms |",
            mb(image.size()),
            ms(app),
            ms(same),
            ms(app) - ms(same)
        );
    }
}
