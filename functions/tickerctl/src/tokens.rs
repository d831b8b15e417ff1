//! Access tokens kept between calls: `$XDG_CONFIG_HOME/tickermesh/tokens.json` (else
//! `~/.config/tickermesh/tokens.json`), one token per endpoint and e-mail. The folder is made
//! 0700 and the file 0600 from the start (written to a new private file, then renamed over the
//! old one), so a token is never readable by anyone else, not even for a moment.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::ClientError;

const FILE: &str = "tokens.json";
/// A token file larger than this is not a token file.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// endpoint → e-mail → token.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Tokens {
    #[serde(default)]
    endpoints: BTreeMap<String, BTreeMap<String, String>>,
}

/// The folder of the token file, from the environment.
pub fn config_dir() -> Option<PathBuf> {
    let non_empty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    std::env::var_os("XDG_CONFIG_HOME")
        .and_then(non_empty)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(non_empty)
                .map(|h| h.join(".config"))
        })
        .map(|d| d.join("tickermesh"))
}

/// The endpoint as a key: without trailing slashes.
fn endpoint_key(endpoint: &str) -> String {
    endpoint.trim().trim_end_matches('/').to_owned()
}

/// The e-mail as the server stores it: trimmed and lower-cased.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> ClientError {
    ClientError::Usage(format!("cannot {what} {}: {e}", path.display()))
}

impl Tokens {
    /// The tokens in `dir`; none when there is no file yet.
    pub fn load(dir: &Path) -> Result<Self, ClientError> {
        let path = dir.join(FILE);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_error(&path, "read", e)),
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE_BYTES), &mut text)
            .map_err(|e| io_error(&path, "read", e))?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Usage(format!(
                "{} is not a tickerctl token file ({e}); move it away to start afresh",
                path.display()
            ))
        })
    }

    pub fn get(&self, endpoint: &str, email: &str) -> Option<&str> {
        self.endpoints
            .get(&endpoint_key(endpoint))
            .and_then(|m| m.get(&email_key(email)))
            .map(String::as_str)
    }

    pub fn set(&mut self, endpoint: &str, email: &str, token: &str) {
        self.endpoints
            .entry(endpoint_key(endpoint))
            .or_default()
            .insert(email_key(email), token.to_owned());
    }

    /// Forgets the token; whether there was one.
    pub fn remove(&mut self, endpoint: &str, email: &str) -> bool {
        let key = endpoint_key(endpoint);
        let Some(emails) = self.endpoints.get_mut(&key) else {
            return false;
        };
        let removed = emails.remove(&email_key(email)).is_some();
        if emails.is_empty() {
            self.endpoints.remove(&key);
        }
        removed
    }

    /// Writes the file in `dir` (made 0700 if missing): a new 0600 file, then renamed over the
    /// old one. Returns the file's path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ClientError> {
        create_private_dir(dir).map_err(|e| io_error(dir, "create", e))?;
        let path = dir.join(FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| ClientError::Usage(format!("cannot write the token file: {e}")))?;
        let temp = dir.join(format!(".{FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written =
            write_private(&temp, text.as_bytes()).and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(io_error(&path, "write", e));
        }
        Ok(path)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` (it must not exist) readable and writable by its owner only, and writes
/// `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_kept_per_endpoint_and_email_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("tickermesh");
        assert_eq!(Tokens::load(&dir).unwrap(), Tokens::default());
        let mut tokens = Tokens::default();
        tokens.set("http://127.0.0.1:50051/", " Ada@Example.com", "tmk_a");
        tokens.set("http://other:1", "ada@example.com", "tmk_b");
        let path = tokens.save(&dir).unwrap();
        let loaded = Tokens::load(&dir).unwrap();
        assert_eq!(
            loaded.get("http://127.0.0.1:50051", "ada@example.com"),
            Some("tmk_a")
        );
        assert_eq!(
            loaded.get("http://other:1", "ADA@example.com"),
            Some("tmk_b")
        );
        assert_eq!(loaded.get("http://other:1", "bob@example.com"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        let mut loaded = loaded;
        assert!(loaded.remove("http://other:1", "ada@example.com"));
        assert!(!loaded.remove("http://other:1", "ada@example.com"));
        loaded.save(&dir).unwrap();
        assert_eq!(
            Tokens::load(&dir)
                .unwrap()
                .get("http://other:1", "ada@example.com"),
            None
        );
        // Only the token file is left: no temporary file behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE)]);
    }

    #[test]
    fn a_file_that_is_not_a_token_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not json").unwrap();
        assert!(Tokens::load(dir.path()).is_err());
    }
}
