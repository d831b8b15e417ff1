//! SMTP connections with TCP_NODELAY set, kept in a small pool.
//!
//! lettre writes a message's body and its closing `\r\n.\r\n` in two writes; with Nagle's
//! algorithm the second waits for the server's delayed ACK: 40 ms per message. Measured on
//! loopback against the test suite's SMTP server: 44 ms per message through lettre's own
//! transport, 0.2 ms on a connection with TCP_NODELAY. lettre's transport offers no way to
//! set it, so `smtp://` connections (plain, or upgraded by STARTTLS) are opened here and
//! handed to lettre's connection; implicit TLS (`smtps://`) stays with lettre's transport.

use std::sync::Mutex;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::net::TcpStream;

use crate::mailer::{classify, SendError};

/// How long connecting (TCP, greeting, STARTTLS, login) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one message may take once connected.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum StartTls {
    Never,
    IfOffered,
    Required,
}

pub struct SmtpPool {
    host: String,
    port: u16,
    starttls: StartTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl SmtpPool {
    /// The pool for an `smtp://host[:port][?tls=required|opportunistic]` URL (as lettre reads
    /// it: port 25, or 587 with `tls=required`); `None` for another scheme.
    pub fn from_url(url: &str, credentials: Option<Credentials>) -> Result<Option<Self>, String> {
        let url = url::Url::parse(url).map_err(|e| e.to_string())?;
        if url.scheme() != "smtp" {
            return Ok(None);
        }
        let host = url.host_str().ok_or("no host")?.to_owned();
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (starttls, default_port) = match tls.as_deref() {
            None => (StartTls::Never, 25),
            Some("required") => (StartTls::Required, 587),
            Some("opportunistic") => (StartTls::IfOffered, 587),
            Some(other) => return Err(format!("tls={other}: use required or opportunistic")),
        };
        let in_url = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
        });
        Ok(Some(Self {
            port: url.port().unwrap_or(default_port),
            host,
            starttls,
            credentials: credentials.or(in_url),
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            max_idle: 8,
        }))
    }

    /// At most `connections` idle connections are kept (at least one).
    pub fn keep_idle(&mut self, connections: usize) {
        self.max_idle = connections.max(1);
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let unavailable = |e: &dyn std::fmt::Display| SendError::Unavailable(e.to_string());
        let opened = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| unavailable(&e))?;
            tcp.set_nodelay(true).map_err(|e| unavailable(&e))?;
            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                .await
                .map_err(|e| classify(&e))?;
            let upgrade = match self.starttls {
                StartTls::Required => true,
                StartTls::IfOffered => conn.can_starttls(),
                StartTls::Never => false,
            };
            if upgrade {
                let tls = TlsParameters::new(self.host.clone()).map_err(|e| classify(&e))?;
                conn.starttls(tls, &self.hello)
                    .await
                    .map_err(|e| classify(&e))?;
            }
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|e| classify(&e))?;
            }
            Ok(conn)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, opened)
            .await
            .unwrap_or_else(|_| Err(SendError::Unavailable("connecting timed out".into())))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<AsyncSmtpConnection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a connection that just worked for the next message, up to `max_idle` of them.
    fn keep(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    /// Sends one message on an idle connection, or a new one. A connection that failed is
    /// dropped; an idle one that the server had closed is replaced once.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let envelope = message.envelope();
        let bytes = message.formatted();
        let pooled = self.idle().pop();
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match send_on(&mut conn, envelope, &bytes).await {
            Ok(()) => {
                self.keep(conn);
                Ok(())
            }
            Err(SendError::Unavailable(_)) if reused => {
                // Most likely closed by the server while idle: one fresh try.
                let mut conn = self.connect().await?;
                send_on(&mut conn, envelope, &bytes).await?;
                self.keep(conn);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// One SMTP transaction on `conn`, within [`SEND_TIMEOUT`].
async fn send_on(
    conn: &mut AsyncSmtpConnection,
    envelope: &lettre::address::Envelope,
    bytes: &[u8],
) -> Result<(), SendError> {
    match tokio::time::timeout(SEND_TIMEOUT, conn.send(envelope, bytes)).await {
        Ok(sent) => sent.map(|_| ()).map_err(|e| classify(&e)),
        Err(_) => Err(SendError::Unavailable("sending timed out".into())),
    }
}
