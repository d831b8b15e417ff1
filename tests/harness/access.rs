//! Ownership in tests: the signing key the test servers use, the code a user was e-mailed
//! (derived from the stored nonce with that key, as notify does), and sign-up → access token.

use std::sync::Arc;

use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{ConfirmEmailRequest, RegisterUserRequest, RegisterUserResponse};
use tickermesh_core::access::{AccessSettings, ClientLimits, CodeIssuer};
use tickermesh_core::events::{PublishError, Publisher};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::Store;
use tonic::transport::Channel;
use tonic::Request;

/// The signing key of every test server, as `TICKERMESH_SIGNING_KEY` gives it to a process.
pub const TEST_KEY: &str = "tickermesh test signing key, 32+ bytes long";

/// The signing key of every in-process test server.
pub fn test_key() -> SigningKey {
    SigningKey::new(TEST_KEY.as_bytes().to_vec()).expect("key")
}

/// A publisher that takes every event and keeps none: for servers whose codes' e-mails a test
/// does not read (it derives the codes instead).
pub struct Discard;

#[async_trait::async_trait]
impl Publisher for Discard {
    async fn publish(
        &self,
        _topic: &str,
        _key: &str,
        _event: cloudevents::Event,
    ) -> Result<(), PublishError> {
        Ok(())
    }
}

/// Access settings for tests: default code rules, no per-client limit to speak of (every test
/// client is 127.0.0.1).
pub fn test_settings() -> AccessSettings {
    AccessSettings {
        limits: ClientLimits {
            per_hour: 1_000_000,
            address_header: None,
        },
        ..AccessSettings::from_env().expect("access settings")
    }
}

/// A code issuer over `publisher` with [`test_settings`].
pub fn issuer(publisher: Arc<dyn Publisher>) -> Arc<CodeIssuer> {
    Arc::new(CodeIssuer::new(&test_settings(), publisher))
}

/// The live code e-mailed to `email` (as typed: trimmed and lower-cased here as the server
/// does), derived from its stored nonce with [`test_key`].
pub async fn code_of(store: &Store, email: &str) -> String {
    code_with(store, &test_key(), email).await
}

/// The key `tickermesh up` made and keeps in its data folder (`signing.key`).
pub fn data_dir_key(data_dir: &std::path::Path) -> SigningKey {
    let text = std::fs::read_to_string(data_dir.join("signing.key")).expect("the mesh's key");
    SigningKey::new(text.trim().as_bytes().to_vec()).expect("key")
}

/// The live code e-mailed to `email` by a `tickermesh up` running on its default SQLite file
/// in `data_dir`, derived with the key it keeps there.
pub async fn local_code(data_dir: &std::path::Path, email: &str) -> String {
    let url = tickermesh::config::sqlite_url(data_dir);
    let store = Store::connect(&url, &tickermesh_core::store::StoreOptions::default())
        .await
        .expect("open the mesh's database");
    let code = code_with(&store, &data_dir_key(data_dir), email).await;
    store.close().await;
    code
}

/// The live code e-mailed to `email`, derived from its stored nonce with `key`.
pub async fn code_with(store: &Store, key: &SigningKey, email: &str) -> String {
    let (user_id, nonce): (i64, String) = sqlx::query_as(
        "SELECT c.user_id, c.nonce FROM access_codes c JOIN users u ON u.id = c.user_id \
         WHERE u.email = ?",
    )
    .bind(email.trim().to_lowercase())
    .fetch_one(store.pool())
    .await
    .expect("a code was issued");
    key.access_code(user_id, &nonce)
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    with_token(Request::new(message), token)
}

/// `request` with `authorization: Bearer <token>`.
pub fn with_token<T>(mut request: Request<T>, token: &str) -> Request<T> {
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// Confirms `email` with its e-mailed code; returns the access token.
pub async fn confirm(
    client: &mut UserCommandsClient<Channel>,
    store: &Store,
    email: &str,
) -> String {
    let code = code_of(store, email).await;
    client
        .confirm_email(ConfirmEmailRequest {
            email: email.to_owned(),
            code,
        })
        .await
        .expect("ConfirmEmail")
        .into_inner()
        .access_token
}

/// RegisterUser then ConfirmEmail: the response of the registration and the access token.
pub async fn sign_up(
    client: &mut UserCommandsClient<Channel>,
    store: &Store,
    request: RegisterUserRequest,
) -> (RegisterUserResponse, String) {
    let email = request.email.clone();
    let registered = client
        .register_user(request)
        .await
        .expect("RegisterUser")
        .into_inner();
    let token = confirm(client, store, &email).await;
    (registered, token)
}

/// An issuer over `publisher` with these settings (short code TTLs, small client limits).
pub fn issuer_with(settings: &AccessSettings, publisher: Arc<dyn Publisher>) -> Arc<CodeIssuer> {
    Arc::new(CodeIssuer::new(settings, publisher))
}

/// `message` with `authorization: Bearer <token>` and an `idempotency-key`.
pub fn keyed_bearer<T>(message: T, key: &str, token: &str) -> Request<T> {
    with_token(crate::keyed(message, key), token)
}

/// A confirmed user watching `ticker` with these thresholds, through the API: its token.
pub async fn signed_up(
    client: &mut UserCommandsClient<Channel>,
    store: &Store,
    email: &str,
    ticker: &str,
    min_price: Option<f64>,
    max_price: Option<f64>,
) -> String {
    let request = RegisterUserRequest {
        email: email.to_owned(),
        ticker: ticker.to_owned(),
        min_price,
        max_price,
        ..Default::default()
    };
    sign_up(client, store, request).await.1
}
