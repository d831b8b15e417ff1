//! A TCP proxy in front of the database that a test can cut, to see the functions answer
//! UNAVAILABLE while the database is away and recover when it returns.

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
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let down = Arc::new(AtomicBool::new(false));
        let (cut, cuts) = watch::channel(0u64);
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
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { addr, down, cut }
    }

    /// Drops every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
