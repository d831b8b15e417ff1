//! The deployment's signing key (`TICKERMESH_SIGNING_KEY`): HMAC-SHA256 over a purpose and the
//! values it binds, so that a value made for one purpose (an unsubscribe link) never passes for
//! another (an access code). The key is a secret shared by the functions that make or check
//! these values (register, access, notify, unsubscribe); it never leaves their memory.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use crate::config::{secret_opt, ConfigError};

/// The variable that holds the key.
pub const SIGNING_KEY_VAR: &str = "TICKERMESH_SIGNING_KEY";

/// At least this many bytes: 256 bits, the HMAC-SHA256 block of security.
pub const MIN_KEY_BYTES: usize = 32;

/// What a MAC is made for; part of every MAC, so the purposes never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    AccessCode,
    Unsubscribe,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::AccessCode => b"tickermesh/access-code/v1",
            Self::Unsubscribe => b"tickermesh/unsubscribe/v1",
        }
    }
}

#[derive(Clone)]
pub struct SigningKey {
    bytes: SecretSlice<u8>,
    /// Keyed once; cloned for each MAC.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "must be at least {MIN_KEY_BYTES} bytes (got {})",
                bytes.len()
            ));
        }
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&bytes)
            .map_err(|_| "is not a usable HMAC key".to_owned())?;
        Ok(Self {
            bytes: SecretSlice::from(bytes),
            keyed,
        })
    }

    /// `TICKERMESH_SIGNING_KEY`, required.
    pub fn from_env() -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError {
            var: SIGNING_KEY_VAR.to_owned(),
            reason,
        };
        let secret: SecretString = secret_opt(SIGNING_KEY_VAR)?.ok_or_else(|| {
            invalid("is required (at least 32 random bytes, e.g. `openssl rand -hex 32`)".into())
        })?;
        Self::new(secret.expose_secret().as_bytes().to_vec()).map_err(invalid)
    }

    /// A fresh random key (for `tickermesh up`, which keeps it in its data folder).
    pub fn generate() -> Result<Self, String> {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
        Self::new(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.bytes.expose_secret()
    }

    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(purpose.label());
        // Each part length-prefixed: ("ab", "c") and ("a", "bc") sign differently.
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The MAC of `parts` for `purpose`.
    pub fn sign(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; 32] {
        self.mac(purpose, parts).finalize().into_bytes().into()
    }

    /// True when `tag` is the MAC of `parts` for `purpose`, compared in constant time.
    pub fn verify(&self, purpose: Purpose, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(purpose, parts).verify_slice(tag).is_ok()
    }

    /// The access code for a user's nonce: eight digits. Derived, never stored: the access
    /// function derives it to check a code, notify to mail it.
    pub fn access_code(&self, user_id: i64, nonce: &str) -> String {
        let tag = self.sign(
            Purpose::AccessCode,
            &[&user_id.to_be_bytes(), nonce.as_bytes()],
        );
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag[..8]);
        // 2^64 is 1.8e11 times 10^8: the bias of the modulo is below 1e-11.
        format!("{:08}", u64::from_be_bytes(first) % 100_000_000)
    }

    /// The signed token of an unsubscribe link for a user (its id and address: a link never
    /// outlives the registration it was made for): base64url, no padding.
    pub fn unsubscribe_token(&self, user_id: i64, email: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(
            Purpose::Unsubscribe,
            &[&user_id.to_be_bytes(), email.as_bytes()],
        ))
    }

    /// Whether `token` is [`Self::unsubscribe_token`] of this user.
    pub fn verify_unsubscribe(&self, user_id: i64, email: &str, token: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(token.as_bytes()) {
            Ok(tag) => self.verify(
                Purpose::Unsubscribe,
                &[&user_id.to_be_bytes(), email.as_bytes()],
                &tag,
            ),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(SigningKey::new(vec![1; 31]).is_err());
        assert!(SigningKey::new(vec![1; 32]).is_ok());
    }

    #[test]
    fn unsubscribe_tokens_bind_the_user_and_the_key() {
        let k = key(7);
        let token = k.unsubscribe_token(42, "a@example.com");
        assert!(k.verify_unsubscribe(42, "a@example.com", &token));
        assert!(!k.verify_unsubscribe(43, "a@example.com", &token));
        assert!(!k.verify_unsubscribe(42, "b@example.com", &token));
        assert!(!key(8).verify_unsubscribe(42, "a@example.com", &token));
        let mut tampered = token.clone().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(!k.verify_unsubscribe(42, "a@example.com", &tampered));
        assert!(!k.verify_unsubscribe(42, "a@example.com", "not base64!"));
        assert!(!k.verify_unsubscribe(42, "a@example.com", ""));
    }

    #[test]
    fn purposes_and_part_boundaries_sign_differently() {
        let k = key(1);
        let a = k.sign(Purpose::AccessCode, &[b"ab", b"c"]);
        assert_ne!(a, k.sign(Purpose::AccessCode, &[b"a", b"bc"]));
        assert_ne!(a, k.sign(Purpose::Unsubscribe, &[b"ab", b"c"]));
        assert!(k.verify(Purpose::AccessCode, &[b"ab", b"c"], &a));
    }

    #[test]
    fn access_codes_are_eight_digits_bound_to_user_and_nonce() {
        let k = key(3);
        let code = k.access_code(1, "n1");
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(code, k.access_code(1, "n1"));
        assert_ne!(code, k.access_code(2, "n1"));
        assert_ne!(code, k.access_code(1, "n2"));
        assert_ne!(code, key(4).access_code(1, "n1"));
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", key(65)), "SigningKey([redacted])");
    }
}
