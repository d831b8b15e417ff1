//! The function images, built by podman from minikube/Dockerfile's runtime stage, and
//! containers run from them the way Knative runs a function.
//!
//! Storage is this checkout's own: driver vfs under `target/containers/storage` (podman's
//! run-time state goes to a short folder under /tmp: podman refuses a run root longer than 50
//! characters), with tests/containers/containers.conf and registries.conf passed by
//! environment, so nothing in /etc changes and nothing is ever pulled. Every image and container
//! is removed by a Drop guard; ones left by a test process that was killed are removed by the
//! next run. A test that needs podman fails, loudly, when it is missing.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

/// Every function that has an image, as `tickermesh-<f>`: the ones minikube/up.sh builds and
/// deploys.
pub const FUNCTIONS: [&str; 12] = [
    "register",
    "access",
    "update",
    "delete",
    "watch",
    "query",
    "collect",
    "evaluate",
    "notify",
    "unsubscribe",
    "digest",
    "retention",
];

/// Names of everything the tests create start with this, then the creating process id.
const PREFIX: &str = "tickermesh-test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/` of the running test or benchmark executable.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_owned()
}

/// Runs blocking work (a podman command) without stalling the async runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// podman with this checkout's storage and configuration.
#[derive(Clone)]
pub struct Podman {
    root: PathBuf,
    runroot: PathBuf,
}

impl Podman {
    pub fn new() -> Self {
        let root = profile_dir()
            .parent()
            .expect("target dir")
            .join("containers/storage");
        // podman records the run root in its database and refuses another one later, so it
        // must stay the same for this storage: FNV-1a of the path, stable across Rust versions.
        let hash = root
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
            });
        let runroot = PathBuf::from(format!("/tmp/{PREFIX}-{hash:08x}"));
        let podman = Self { root, runroot };
        let version = podman.command().arg("--version").output();
        match version {
            Ok(out) if out.status.success() => {}
            other => panic!(
                "podman is required for the container tests (tests/tools.sh installs podman \
                 and runc): {other:?}"
            ),
        }
        podman.remove_stale();
        podman
    }

    pub fn command(&self) -> Command {
        let conf = repo().join("tests/containers");
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", conf.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", conf.join("registries.conf"))
            .arg("--storage-driver=vfs")
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(self.runroot.join("run"))
            .arg("--tmpdir")
            .arg(self.runroot.join("tmp"));
        cmd
    }

    /// Runs `podman args…`; panics with its output when it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = self.command();
        cmd.args(args);
        checked(&mut cmd, args)
    }

    /// `podman build ARGS… CONTEXT` into a new image named after `what`. `--layers=false`: no
    /// intermediate images (vfs copies each one whole).
    pub fn build(&self, what: &str, args: &[&OsStr], context: &Path) -> Image {
        let name = format!(
            "localhost/{PREFIX}-{}/{what}:{}",
            std::process::id(),
            next()
        );
        let mut cmd = self.command();
        cmd.args([
            "build",
            "--quiet",
            "--layers=false",
            "--pull=never",
            "-t",
            &name,
        ])
        .args(args)
        .arg(context);
        // The guard first, so that the image is removed whatever happens next.
        let image = Image {
            podman: self.clone(),
            name: name.clone(),
        };
        let _building = STORAGE.read().unwrap_or_else(|e| e.into_inner());
        checked(&mut cmd, &["build", &name]);
        image
    }

    /// Images and containers named by a test process that no longer runs (killed mid-test).
    fn remove_stale(&self) {
        let dead = |name: &&str| {
            pid_of(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        let containers = self.run(&["ps", "-a", "--format", "{{.Names}}"]);
        for name in containers.lines().filter(dead) {
            let _ = self.command().args(["rm", "-f", "-t", "0", name]).output();
        }
        let images = self.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        for name in images.lines().filter(dead) {
            let _ = self.command().args(["rmi", "-f", name]).output();
        }
    }
}

/// The id of the process that made a container (`tickermesh-test-<pid>-…`) or an image
/// (`localhost/tickermesh-test-<pid>/…`).
fn pid_of(name: &str) -> Option<u32> {
    name.trim_start_matches("localhost/")
        .strip_prefix(PREFIX)?
        .trim_start_matches('-')
        .split(['-', '/', ':'])
        .next()?
        .parse()
        .ok()
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

fn checked(cmd: &mut Command, what: &[&str]) -> String {
    let out: Output = blocking(|| cmd.output()).expect("run podman");
    assert!(
        out.status.success(),
        "podman {what:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A number no other name of this process has.
fn next() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// One function image; removed when dropped.
pub struct Image {
    podman: Podman,
    pub name: String,
}

impl Image {
    /// `podman image inspect --format TEMPLATE`.
    pub fn inspect(&self, template: &str) -> String {
        self.podman
            .run(&["image", "inspect", "--format", template, &self.name])
    }

    /// The image's size in bytes, as podman counts it (its one layer, uncompressed).
    pub fn size(&self) -> u64 {
        self.inspect("{{.Size}}").parse().expect("image size")
    }
}

/// Builds share the storage; a removal waits for them. Two images of one function built by two
/// tests have the same layers, which the storage keeps once: removing one image while the other
/// is being committed took the layer from under it ("layer not known").
static STORAGE: RwLock<()> = RwLock::new(());

impl Drop for Image {
    fn drop(&mut self) {
        let _removing = STORAGE.write().unwrap_or_else(|e| e.into_inner());
        let mut cmd = self.podman.command();
        cmd.args(["rmi", "-f", &self.name]);
        let _ = blocking(|| cmd.output());
    }
}

/// Builds the image of each `tickermesh-<f>` found in `bin_dir`: tests/containers/rootfs.sh
/// lays out each function's root filesystem as the Dockerfile's build stage does, and that
/// folder stands in for the build stage (`--build-context build=…`) of minikube/Dockerfile,
/// whose runtime stage is built as is.
pub fn build_images(podman: &Podman, bin_dir: &Path, functions: &[&str]) -> Vec<Image> {
    let context = tempfile::tempdir().expect("temp dir");
    let out = context.path().join("out");
    let mut rootfs = Command::new("sh");
    rootfs
        .arg(repo().join("tests/containers/rootfs.sh"))
        .arg(bin_dir)
        .arg(&out)
        .args(functions);
    let status = blocking(|| rootfs.status()).expect("run rootfs.sh");
    assert!(status.success(), "tests/containers/rootfs.sh failed");
    let build_context = format!("build={}", context.path().display());
    let dockerfile = repo().join("minikube/Dockerfile");
    functions
        .iter()
        .map(|f| {
            let function = format!("FUNCTION={f}");
            let args: [&OsStr; 6] = [
                "-f".as_ref(),
                dockerfile.as_ref(),
                "--build-arg".as_ref(),
                function.as_ref(),
                "--build-context".as_ref(),
                build_context.as_ref(),
            ];
            podman.build(f, &args, &repo())
        })
        .collect()
}

/// Every function's image, built from the debug binaries `cargo test` builds; shared by the
/// tests running at the same time and removed when the last of them lets go.
pub struct Images {
    pub podman: Podman,
    by_function: HashMap<String, Image>,
}

impl Images {
    pub fn get(&self, function: &str) -> &Image {
        &self.by_function[function]
    }
}

pub fn debug_images() -> Arc<Images> {
    static SHARED: Mutex<Weak<Images>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(images) = shared.upgrade() {
        return images;
    }
    for f in FUNCTIONS {
        crate::proc::workspace_bin(&format!("tickermesh-{f}"));
    }
    let podman = Podman::new();
    let built = build_images(&podman, &profile_dir(), &FUNCTIONS);
    let images = Arc::new(Images {
        podman,
        by_function: FUNCTIONS.iter().map(|f| f.to_string()).zip(built).collect(),
    });
    *shared = Arc::downgrade(&images);
    images
}

/// A running container; removed (killed if need be) when dropped.
pub struct Container {
    podman: Podman,
    pub name: String,
}

impl Container {
    /// Runs `image` detached as Knative runs a function: on the host network (the test's
    /// MariaDB, broker and SMTP server are on loopback), the image's own user, a read-only root
    /// filesystem with no tmpfs added, every capability dropped, no privilege escalation, a
    /// memory limit as in knative/. The environment reaches podman as its own environment
    /// (`-e NAME`), so no value appears on a command line.
    pub fn start(podman: &Podman, image: &Image, env: &[(&str, String)]) -> Self {
        let (container, mut cmd) = Self::command(podman, image, env);
        checked(&mut cmd, &["run", &container.name]);
        container
    }

    /// Starts like [`Container::start`] and measures from launching `podman run` to the first
    /// 200 answer to `GET path` on `port`, polled while podman is still starting the container.
    pub fn start_until_ready(
        podman: &Podman,
        image: &Image,
        env: &[(&str, String)],
        port: u16,
        path: &str,
    ) -> (Self, Duration) {
        let (container, mut cmd) = Self::command(podman, image, env);
        let started = Instant::now();
        let mut child = cmd.stdout(Stdio::null()).spawn().expect("run podman");
        while !http_ok(port, path) {
            let exited = child
                .try_wait()
                .expect("podman run")
                .is_some_and(|s| !s.success());
            assert!(
                !exited && started.elapsed() < Duration::from_secs(30),
                "{} never answered GET {path} on port {port}: {}",
                image.name,
                container.logs()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let ready = started.elapsed();
        let status = child.wait().expect("podman run");
        assert!(status.success(), "podman run {}", image.name);
        (container, ready)
    }

    /// The `podman run` of `image` and the guard that removes its container.
    fn command(podman: &Podman, image: &Image, env: &[(&str, String)]) -> (Self, Command) {
        let name = format!("{PREFIX}-{}-{}", std::process::id(), next());
        let mut cmd = podman.command();
        cmd.args(["run", "--detach", "--pull=never", "--name", &name])
            .args(["--network=host", "--read-only", "--read-only-tmpfs=false"])
            .args(["--cap-drop=all", "--security-opt=no-new-privileges"])
            .args(["--memory=128m"]);
        for (key, value) in env {
            cmd.env(key, value).args(["-e", key]);
        }
        cmd.arg(&image.name);
        let container = Self {
            podman: podman.clone(),
            name,
        };
        (container, cmd)
    }

    fn inspect(&self, template: &str) -> String {
        self.podman
            .run(&["container", "inspect", "--format", template, &self.name])
    }

    /// The container's output so far, for failure messages.
    pub fn logs(&self) -> String {
        let mut cmd = self.podman.command();
        cmd.args(["logs", &self.name]);
        blocking(|| cmd.output())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_default()
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// The process's real, effective, saved and filesystem user ids and its capability sets,
    /// read from the host's /proc.
    pub fn process_status(&self) -> String {
        let pid = self.inspect("{{.State.Pid}}");
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the container's process")
    }

    /// Waits until `GET path` answers 200 on `port`; panics with the container's output when it
    /// does not within `within` or the container stops.
    pub fn wait_http_ok(&self, port: u16, path: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut tries = 0u32;
        while !http_ok(port, path) {
            tries += 1;
            let stopped = tries.is_multiple_of(50) && !self.running();
            assert!(
                !stopped && Instant::now() < deadline,
                "{} did not answer GET {path} on port {port}: {}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `podman stop --time grace`: SIGTERM, then SIGKILL once `grace` has passed (as the
    /// kubelet does). Returns the exit code (137 when it had to be killed) and the time taken.
    pub fn stop(&self, grace: Duration) -> (i32, Duration) {
        let begun = Instant::now();
        let secs = grace.as_secs().to_string();
        self.podman.run(&["stop", "--time", &secs, &self.name]);
        let took = begun.elapsed();
        let code = self.inspect("{{.State.ExitCode}}");
        (code.parse().expect("exit code"), took)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut cmd = self.podman.command();
        cmd.args(["rm", "--force", "--time", "0", &self.name]);
        let _ = blocking(|| cmd.output());
    }
}

/// One plain HTTP/1.1 `GET path` on loopback; true when it answered 200.
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}
