//! The signing key of the local mesh (access codes, unsubscribe links): `TICKERMESH_SIGNING_KEY`
//! when set, else one made at the first start and kept in the data folder, readable by its
//! owner only, so that codes and links stay valid across restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use tickermesh_core::signing::SigningKey;

const FILE: &str = "signing.key";

pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The key in `data_dir`, made there first if there is none.
pub fn local_key(data_dir: &Path) -> Result<SigningKey, String> {
    let path = key_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => SigningKey::new(text.trim().as_bytes().to_vec())
            .map_err(|e| format!("{}: the key {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // From the OS through a new key's constructor, written as hex: the file holds what
            // `TICKERMESH_SIGNING_KEY` would.
            let random = SigningKey::generate()?;
            let hex: String = random
                .expose_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            write_private(&path, hex.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            SigningKey::new(hex.into_bytes())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path` with mode 0600 (never replacing a file) and writes `data`.
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
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = local_key(dir.path()).unwrap();
        let again = local_key(dir.path()).unwrap();
        assert_eq!(first.expose_bytes(), again.expose_bytes());
        assert_eq!(first.expose_bytes().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(key_file(dir.path()), "short").unwrap();
        assert!(local_key(dir.path()).is_err());
    }
}
