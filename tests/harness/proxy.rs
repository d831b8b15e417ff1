//! A TCP proxy in front of the database that a test can cut, to see the functions answer
//! UNAVAILABLE while the database is away and recover when it returns, or black-hole: every
//! connection stays open and nothing gets through, as when a network drops packets. And one
//! whose answers all arrive late, so that a test can drop a call while it surely waits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::time::Duration;

use tokio::io::{copy, copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CuttableProxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    hole: watch::Sender<bool>,
}

/// Resolves once the black hole is `open` (or the proxy is gone).
async fn hole_is(holes: &mut watch::Receiver<bool>, open: bool) {
    let _ = holes.wait_for(|h| *h == open).await.is_ok();
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let down = Arc::new(AtomicBool::new(false));
        let (cut, cuts) = watch::channel(0u64);
        let (hole, holes) = watch::channel(false);
        let flag = down.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cuts = cuts.clone();
                // Only cuts after this connection opened close it.
                cuts.borrow_and_update();
                let mut holes = holes.clone();
                tokio::spawn(async move {
                    let held = *holes.borrow();
                    if held {
                        // Held open, never answered, closed when the hole is gone.
                        hole_is(&mut holes, false).await;
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cuts.changed() => {}
                        () = hole_is(&mut holes, true) => hole_is(&mut holes, false).await,
                    }
                });
            }
        });
        Self {
            addr,
            down,
            cut,
            hole,
        }
    }

    /// Drops every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.hole.send_replace(false);
    }

    /// Keeps every connection, old and new, open and silent until [`restore`](Self::restore),
    /// which closes them.
    pub fn black_hole(&self) {
        self.hole.send_replace(true);
    }
}

/// Starts a proxy to `target` that holds each piece of every answer for `delay` before passing
/// it on (what the client sends goes straight through); its address.
pub async fn slow_answers(target: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(target).await else {
                continue;
            };
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = upstream.into_split();
            tokio::spawn(async move { copy(&mut from_client, &mut to_server).await });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The MariaDB server of a `mysql://user@host:port/db` URL.
pub fn target_of(url: &str) -> SocketAddr {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().expect("host:port");
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:3306")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .expect("resolve MariaDB host")
        .next()
        .expect("an address")
}

/// `url` with its server replaced by `proxy`.
pub fn proxied_url(url: &str, proxy: SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').expect("user@host in the MariaDB url");
    let db = rest.split_once('/').map_or("", |(_, db)| db);
    format!("{scheme_user}@{proxy}/{db}")
}
