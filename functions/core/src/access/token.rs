//! Access tokens and the `authorization` metadata that carries them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};

/// Every token starts so: a leaked one is recognisable in a scan of logs or repositories.
const PREFIX: &str = "tmk_";
/// The longest `authorization` value looked at; real tokens are 47 characters.
const MAX_TOKEN_LEN: usize = 256;

/// A new access token, in the clear: given to the client once, then only its hash exists.
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Internal(format!("no randomness from the OS: {e}")))?;
        Ok(Self(SecretString::from(format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose_secret())
    }

    /// The token itself, for the one response that shows it.
    pub fn reveal(&self) -> String {
        self.0.expose_secret().to_owned()
    }
}

/// SHA-256 of a token: what the database keeps and looks tokens up by. Tokens are 256 random
/// bits, so an unkeyed hash is enough (nothing to guess), and equal tokens hash equal for the
/// index.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// UNAUTHENTICATED for a call about a user that carries no token.
pub fn missing() -> Error {
    Error::Unauthenticated(
        "this call needs `authorization: Bearer <token>`: the access token ConfirmEmail gave"
            .into(),
    )
}

/// The token of `authorization: Bearer <token>`, hashed: `None` when the call carries none, an
/// UNAUTHENTICATED error when the value is not a bearer token.
pub fn bearer(metadata: &MetadataMap) -> Result<Option<TokenHash>> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let malformed = || Error::Unauthenticated("authorization: expected `Bearer <token>`".into());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    // The scheme is case-insensitive (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(malformed());
    }
    Ok(Some(TokenHash::of(token)))
}

/// A random nonce for an access code: 128 bits, base64url.
pub fn random_nonce() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = AccessToken::generate().unwrap();
        let b = AccessToken::generate().unwrap();
        assert!(a.reveal().starts_with(PREFIX));
        assert_eq!(a.reveal().len(), PREFIX.len() + 43);
        assert_ne!(a.reveal(), b.reveal());
        assert_eq!(a.hash(), TokenHash::of(&a.reveal()));
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn bearer_values_parse_or_are_refused() {
        assert_eq!(bearer(&MetadataMap::new()).unwrap(), None);
        assert_eq!(
            bearer(&with("Bearer tmk_abc")).unwrap(),
            Some(TokenHash::of("tmk_abc"))
        );
        assert_eq!(
            bearer(&with("bearer  tmk_abc ")).unwrap(),
            Some(TokenHash::of("tmk_abc"))
        );
        for bad in ["tmk_abc", "Basic dXNlcg==", "Bearer ", "Bearer"] {
            let err = bearer(&with(bad)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert!(bearer(&with(&long)).is_err());
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(random_nonce().unwrap(), random_nonce().unwrap());
    }
}
