//! The background work a process cannot run without (its consumers, the local mesh's ticker):
//! held in one set, stopped together at shutdown, and watched while the process serves, so
//! that a consumer that dies takes the process down with it instead of leaving a server that
//! answers as if healthy.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::Router;

pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// Why serving ended early: a task ended while the process was still serving.
#[derive(Debug, thiserror::Error)]
#[error("{task} stopped while serving: {reason}")]
pub struct TaskFailed {
    pub task: &'static str,
    pub reason: String,
}

/// A set of named tasks that run until they are asked to stop.
pub struct Tasks {
    set: JoinSet<(&'static str, Result<(), TaskError>)>,
    stop: watch::Sender<bool>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    pub fn new() -> Self {
        Self {
            set: JoinSet::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Resolves once the tasks are asked to stop: hand it to a task that stops cleanly.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    }

    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        self.set.spawn(async move { (name, task.await) });
    }

    /// Runs `work` until it ends or the tasks are asked to stop: for work that can simply be
    /// dropped at any point (a periodic purge, a ticker).
    pub fn spawn_until_stopped<F>(&mut self, name: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stopping = self.stopping();
        self.spawn(name, async move {
            tokio::select! {
                () = work => {}
                () = stopping => {}
            }
            Ok(())
        });
    }

    /// Asks every task to stop.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The first task to end, and why; pending for ever while none does (or there is none).
    pub async fn first_end(&mut self) -> TaskFailed {
        let Some(joined) = self.set.join_next().await else {
            return std::future::pending().await;
        };
        match joined {
            Ok((task, Ok(()))) => TaskFailed {
                task,
                reason: "it ended".into(),
            },
            Ok((task, Err(e))) => TaskFailed {
                task,
                reason: e.to_string(),
            },
            Err(e) => TaskFailed {
                task: "a task",
                reason: if e.is_panic() {
                    "it panicked".into()
                } else {
                    e.to_string()
                },
            },
        }
    }

    /// Stops every task: each gets `grace` to finish what it is doing, then the rest are
    /// aborted.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop();
        let all_done = async { while self.set.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(
                ?grace,
                "background tasks still running after the grace period; aborting"
            );
        }
        self.set.shutdown().await;
    }
}

/// Serves `app` until `shutdown` resolves or one of `tasks` ends; then the server finishes
/// open requests (within `grace`) and the tasks are stopped. A task that ended first is the
/// error returned.
pub async fn serve_with_tasks(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: impl Into<super::ServeOptions>,
    mut tasks: Tasks,
) -> Result<(), ServeError> {
    let options = options.into();
    let grace = options.grace;
    let task_ended = std::sync::Arc::new(Notify::new());
    let stop_tasks = tasks.stop.clone();
    let signal = {
        let task_ended = task_ended.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = task_ended.notified() => {}
            }
            // Consumers stop taking new events while the server drains.
            let _ = stop_tasks.send(true);
        }
    };
    let server = super::serve(listener, app, signal, options);
    tokio::pin!(server);
    let mut failed = None;
    let mut stopping = false;
    let served = loop {
        tokio::select! {
            served = &mut server => break served,
            end = tasks.first_end(), if failed.is_none() && !stopping => {
                if *tasks.stop.borrow() {
                    // Asked to stop (shutdown): ending now is what it should do.
                    stopping = true;
                    continue;
                }
                tracing::error!(task = end.task, reason = %end.reason, "a background task stopped; shutting down");
                failed = Some(end);
                task_ended.notify_one();
            }
        }
    };
    tasks.shutdown(grace).await;
    match failed {
        Some(end) => Err(ServeError::Task(end)),
        None => served.map_err(ServeError::Io),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("server failed: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Task(TaskFailed),
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    async fn listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    const GRACE: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn a_task_that_fails_stops_the_server_with_its_error() {
        let (l, addr) = listener().await;
        let mut tasks = Tasks::new();
        tasks.spawn("the consumer", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err("broker gone".into())
        });
        let result = serve_with_tasks(l, Router::new(), std::future::pending(), GRACE, tasks);
        match tokio::time::timeout(Duration::from_secs(5), result).await {
            Ok(Err(ServeError::Task(end))) => {
                assert_eq!(end.task, "the consumer");
                assert!(end.reason.contains("broker gone"), "{}", end.reason);
            }
            other => panic!("expected the task's error, got {other:?}"),
        }
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening"
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_or_ends_stops_the_server() {
        for ends in [true, false] {
            let (l, _) = listener().await;
            let mut tasks = Tasks::new();
            tasks.spawn("the ticker", async move {
                if ends {
                    return Ok(());
                }
                panic!("a bug");
            });
            let result = serve_with_tasks(l, Router::new(), std::future::pending(), GRACE, tasks);
            let result = tokio::time::timeout(Duration::from_secs(5), result).await;
            assert!(matches!(result, Ok(Err(ServeError::Task(_)))), "{result:?}");
        }
    }

    #[tokio::test]
    async fn shutdown_stops_every_task_and_is_not_an_error() {
        let (l, _) = listener().await;
        let mut tasks = Tasks::new();
        let stopped_cleanly = Arc::new(AtomicBool::new(false));
        let flag = stopped_cleanly.clone();
        let stopping = tasks.stopping();
        tasks.spawn("the consumer", async move {
            stopping.await;
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        tasks.spawn_until_stopped("the purge", std::future::pending());
        let shutdown = tokio::time::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let result = serve_with_tasks(l, Router::new(), shutdown, GRACE, tasks).await;
        assert!(result.is_ok(), "{result:?}");
        assert!(stopped_cleanly.load(Ordering::SeqCst));
        // Tasks that honour the stop do not hold shutdown for the grace period.
        assert!(started.elapsed() < GRACE, "{:?}", started.elapsed());
    }
}
