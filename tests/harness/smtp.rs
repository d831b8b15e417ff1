//! A real SMTP server on loopback (mailin-embedded, plain SMTP over TCP) that keeps every
//! message it accepts, so a test can read back recipient, subject and body.

use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex};

use mailin_embedded::{response, Handler, Response, Server, SslConfig};

#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as received: headers and body.
    pub data: String,
}

#[derive(Clone, Default)]
struct Collector {
    current: Mail,
    inbox: Arc<Mutex<Vec<Mail>>>,
    /// Recipients answered `451` (try again later), as a greylisting server does.
    deferred: Arc<Vec<String>>,
    gate: Arc<Gate>,
}

/// Holds messages at their DATA command while closed: nothing held is accepted yet, so a
/// client killed meanwhile has delivered none of them.
#[derive(Default)]
struct Gate {
    /// (closed, sessions waiting at DATA)
    state: Mutex<(bool, usize)>,
    opened: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            state.1 += 1;
            state = self.opened.wait_while(state, |s| s.0).unwrap();
            state.1 -= 1;
        }
    }
}

impl Handler for Collector {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.deferred.iter().any(|d| to.contains(d.as_str())) {
            return Response::custom(451, "greylisted, try again later".to_owned());
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.gate.pass();
        self.current = Mail {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        response::OK
    }
}

/// Sessions served at once.
pub const SESSIONS: u32 = 100;

pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Mail>>>,
    gate: Arc<Gate>,
}

impl SmtpServer {
    /// A server that takes every message. Like many, it does not offer SMTPUTF8.
    pub fn start() -> Self {
        Self::deferring(&[])
    }

    /// A server that answers `451` to the recipients in `deferred` and takes the rest.
    pub fn deferring(deferred: &[&str]) -> Self {
        Self::serve(deferred, 0)
    }

    /// A server on a given port (that a test kept free while the mail server was away).
    pub fn start_on(port: u16) -> Self {
        Self::serve(&[], port)
    }

    fn serve(deferred: &[&str], port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind SMTP");
        let port = listener.local_addr().expect("SMTP addr").port();
        let handler = Collector {
            deferred: Arc::new(deferred.iter().map(|d| (*d).to_owned()).collect()),
            ..Collector::default()
        };
        let inbox = handler.inbox.clone();
        let gate = handler.gate.clone();
        let mut server = Server::new(handler);
        server
            .with_name("localhost")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            // A session per thread for as long as the client keeps its connection: as many as
            // a real server takes at once (Postfix: 100), not mailin's default of 4, so that
            // a client's pool of connections is served.
            .with_num_threads(SESSIONS)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(e) = server.serve() {
                eprintln!("test SMTP server stopped: {e}");
            }
        });
        Self { port, inbox, gate }
    }

    /// From now on, every message waits at its DATA command, not yet accepted.
    pub fn hold(&self) {
        self.gate.state.lock().unwrap().0 = true;
    }

    /// Lets the held messages (and all later ones) through.
    pub fn release(&self) {
        self.gate.state.lock().unwrap().0 = false;
        self.gate.opened.notify_all();
    }

    /// How many messages wait at their DATA command.
    pub fn held(&self) -> usize {
        self.gate.state.lock().unwrap().1
    }

    /// `smtp://127.0.0.1:<port>`: plain SMTP, as lettre's `TICKERMESH_SMTP_URL` takes it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.inbox.lock().unwrap().clone()
    }

    /// How many messages were accepted (without copying them).
    pub fn count(&self) -> usize {
        self.inbox.lock().unwrap().len()
    }

    /// Messages accepted, by recipient.
    pub fn per_recipient(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for mail in self.inbox.lock().unwrap().iter() {
            for to in &mail.to {
                *counts.entry(to.clone()).or_default() += 1;
            }
        }
        counts
    }
}
