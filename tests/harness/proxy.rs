//! A TCP proxy in front of the database that a test can cut, to see the functions answer
//! UNAVAILABLE while the database is away and recover when it returns, or black-hole: every
//! connection stays open and nothing gets through, as when a network drops packets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::copy_bidirectional;
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
