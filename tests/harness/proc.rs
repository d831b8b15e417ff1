//! The workspace's binaries, run as separate processes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of a workspace binary, built once per test run (`cargo test` builds only the test
/// package's own binaries, not those of the function crates).
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--workspace", "--bins", "--quiet"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the workspace binaries failed");
    });
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A free loopback port (bound then released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(workspace_bin(name));
        cmd.envs(env.iter().copied())
            .env("TICKERMESH_LOG", "warn")
            .stdin(Stdio::null());
        Self {
            child: cmd.spawn().expect("spawn function binary"),
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `tickerctl` binary against `endpoint`, with a config folder of its own (so no
/// token is read from or written to the user's): nothing is kept between two calls.
pub async fn tickerctl(endpoint: &str, args: &[&str]) -> std::process::Output {
    Tickerctl::new(endpoint).run(args).await
}

/// `tickerctl` as one user at one endpoint: its config folder (where `confirm` keeps tokens)
/// is a temporary folder that lives as long as this.
pub struct Tickerctl {
    pub endpoint: String,
    pub config: tempfile::TempDir,
}

impl Tickerctl {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            config: tempfile::tempdir().expect("temp config dir"),
        }
    }

    /// The token file `tickerctl confirm` writes.
    pub fn token_file(&self) -> PathBuf {
        self.config.path().join("tickermesh").join("tokens.json")
    }

    pub async fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_with(args, &[]).await
    }

    /// With extra environment variables (e.g. `TICKERMESH_TOKEN`).
    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(workspace_bin("tickerctl"));
        cmd.env_remove("TICKERMESH_TOKEN")
            .env_remove("TICKERMESH_ENDPOINT")
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("HOME", self.config.path())
            .envs(env.iter().copied())
            .arg("--endpoint")
            .arg(&self.endpoint)
            .args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run tickerctl"))
            .await
            .expect("join")
    }
}

/// The standard output of a command that must have succeeded.
pub fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "the command failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
