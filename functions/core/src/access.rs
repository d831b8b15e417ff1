//! Who may act on a user, and how often anyone may ask: consent codes, access tokens, and the
//! limits against mail bombing and mass registration.
//!
//! - A new address is unconfirmed; its first access code goes out by e-mail. A code is an HMAC
//!   of a random nonce under the signing key ([`crate::signing`]): stored nowhere, derived to
//!   check it and to mail it. Single use, short-lived, locked after a few wrong tries.
//! - Confirming returns an access token: 256 random bits, shown once, kept only as SHA-256.
//!   Every call about an existing user carries it as `authorization: Bearer <token>`.

mod clients;
mod issuer;
mod outbox;
mod policy;
mod token;

pub use clients::{retry_secs, ClientLimiter, ClientLimits};
pub use issuer::{AccessSettings, CodeIssuer, Handover, CODES_PER_ADDRESS, UPKEEP_INTERVAL};
pub use outbox::{hand_over, publish_codes};
pub use policy::{
    judge, next_send, normalize_code, same_code, AccessPolicy, SendWindow, StoredCode, Verdict,
};
pub use token::{bearer, missing, random_nonce, AccessToken, TokenHash};
