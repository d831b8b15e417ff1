//! The one path of every gRPC call: a command's idempotency key from the metadata, every call
//! counted and timed by method and status code, and errors mapped to a status in one place.
//! A command function holds its `handle` and little else; the `UserCommands` service that
//! serves it, in its own container or in the local mesh, is written here once.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{
    AddWatchRequest, AddWatchResponse, ConfirmEmailRequest, ConfirmEmailResponse,
    DeleteUserRequest, DeleteUserResponse, RegisterUserRequest, RegisterUserResponse,
    RemoveWatchRequest, RemoveWatchResponse, RequestAccessRequest, RequestAccessResponse,
    UpdateUserRequest, UpdateUserResponse,
};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use sqlx::AnyConnection;

use crate::access::{bearer, missing, TokenHash};
use crate::domain::Email;
use crate::idempotency::{fingerprint, Effect, IdempotencyKey};
use crate::store::batch::Batch;
use crate::store::{users, Backend, Store};
use crate::{metrics, Context, Error, Result};

/// Who makes a call: the access token it carries (hashed), its metadata and its peer address.
pub struct Caller {
    /// `Err` when the `authorization` value is not a bearer token; an error only for calls
    /// that need one.
    token: Result<Option<TokenHash>>,
    pub metadata: MetadataMap,
    pub peer: Option<SocketAddr>,
}

impl Caller {
    pub fn new(metadata: MetadataMap, peer: Option<SocketAddr>) -> Self {
        Self {
            token: bearer(&metadata),
            metadata,
            peer,
        }
    }

    fn token_bytes(&self) -> Option<&[u8]> {
        match &self.token {
            Ok(Some(t)) => Some(t.as_bytes()),
            _ => None,
        }
    }

    /// The caller's token, or UNAUTHENTICATED.
    pub fn token(&self) -> Result<&TokenHash> {
        match &self.token {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(missing()),
            Err(e) => Err(Error::Unauthenticated(e.to_string())),
        }
    }
}

/// Whether `token` gives access to the user with `email`: a token nobody holds →
/// UNAUTHENTICATED, another user's → PERMISSION_DENIED. The lookup is by token, never by the
/// e-mail, so neither answer tells whether that e-mail is registered.
pub async fn authorize(store: &Store, token: &TokenHash, email: &Email) -> Result<()> {
    match users::email_of_token(store.pool(), token).await? {
        None => Err(Error::Unauthenticated(
            "the access token is not valid (ask for a new one with RequestAccess)".into(),
        )),
        Some(owner) if owner == email.as_str() => Ok(()),
        Some(_) => Err(Error::PermissionDenied(
            "the access token does not give access to this user".into(),
        )),
    }
}

/// What a command runs with: the context, the caller, and this call's at-most-once record.
pub struct Call<'a> {
    pub ctx: &'a Context,
    pub caller: &'a Caller,
    key: Option<&'a IdempotencyKey>,
    method: &'static str,
    request_hash: String,
}

impl Call<'_> {
    /// Fails unless the caller's token is that of the user with `email`. Checked before the
    /// command's record is looked at, so a caller without the token never sees a response.
    pub async fn authorize(&self, email: &Email) -> Result<()> {
        authorize(&self.ctx.store, self.caller.token()?, email).await
    }

    /// Where the store takes a batch in one round trip (MySQL) and the call has a key: runs
    /// `batch` with the key and `response` recorded, at most once
    /// ([`crate::idempotency::Idempotency::execute_batch`]). `Ok(None)`: not done, take the
    /// general path ([`Self::once`]), which also answers a repeat of the key.
    pub async fn in_one_trip<R: prost::Message>(
        &self,
        batch: Batch,
        response: &R,
        returning: &str,
    ) -> Result<Option<Vec<i64>>> {
        let Some(key) = self.key else {
            return Ok(None);
        };
        if self.ctx.store.backend() != Backend::MySql {
            return Ok(None);
        }
        self.ctx
            .idempotency
            .execute_batch(
                &self.ctx.store,
                (key, self.method, &self.request_hash),
                batch,
                response,
                returning,
            )
            .await
    }

    /// Runs `effect` at most once per idempotency key, inside the transaction that records the
    /// key and the response (see [`crate::idempotency`]).
    pub async fn once<R, F>(self, effect: F) -> Result<R>
    where
        R: prost::Message + Default,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> Effect<'c, R>,
    {
        let Self {
            ctx,
            key,
            method,
            request_hash,
            ..
        } = self;
        ctx.idempotency
            .execute(&ctx.store, key, method, request_hash, effect)
            .await
    }
}

/// One method of `UserCommands`: validate the request, then run its effect once.
#[async_trait::async_trait]
pub trait Command: Send + Sync + 'static {
    type Request: prost::Message + Send + 'static;
    type Response: Send + 'static;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response>;

    /// Sees every result before it is answered: a function's own outcome counters.
    fn observe(&self, _result: &Result<Self::Response>) {}
}

/// How long one call may take: the server's bound, shortened by the deadline the client sent
/// (`grpc-timeout`), so that a call never outlives the client's interest nor hangs on a
/// database that stopped answering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    pub limit: Duration,
    /// The client's deadline is the shorter one: running out is DEADLINE_EXCEEDED, not the
    /// server's fault.
    pub from_client: bool,
}

impl Deadline {
    pub fn of(metadata: &MetadataMap, server_limit: Duration) -> Self {
        match metadata
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout)
        {
            Some(client) if client < server_limit => Self {
                limit: client,
                from_client: true,
            },
            _ => Self {
                limit: server_limit,
                from_client: false,
            },
        }
    }
}

/// A `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n), as the gRPC over
/// HTTP/2 protocol writes it. `None` for anything else (then the server's bound applies).
fn grpc_timeout(value: &str) -> Option<Duration> {
    if !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Answers one call within `deadline`: counted and timed by method and status code; an error
/// becomes a status through the one mapping in [`crate::error`]. A call cut short drops its
/// work: an open transaction rolls back, so a retry is safe.
pub async fn answer<T>(
    method: &'static str,
    deadline: Deadline,
    call: impl Future<Output = Result<T>>,
) -> Result<Response<T>, Status> {
    metrics::observe_grpc(method, async {
        match tokio::time::timeout(deadline.limit, call).await {
            Ok(result) => result.map(Response::new).map_err(Status::from),
            Err(_) if deadline.from_client => {
                Err(Status::deadline_exceeded("the call's deadline passed"))
            }
            Err(_) => Err(Status::from(Error::TimedOut(deadline.limit))),
        }
    })
    .await
}

/// Runs `command` as the RPC `method`, with the idempotency key the request carries. The
/// fingerprint of the request is taken before anything else looks at it.
pub async fn rpc<C: Command + ?Sized>(
    command: &C,
    method: &'static str,
    ctx: &Context,
    request: Request<C::Request>,
) -> Result<Response<C::Response>, Status> {
    let deadline = Deadline::of(request.metadata(), ctx.request_timeout);
    answer(method, deadline, async {
        let result = match IdempotencyKey::from_metadata(request.metadata()) {
            Ok(key) => {
                let peer = request.remote_addr();
                let (metadata, _, request) = request.into_parts();
                let caller = Caller::new(metadata, peer);
                let call = Call {
                    ctx,
                    key: key.as_ref(),
                    method,
                    request_hash: fingerprint(method, caller.token_bytes(), &request),
                    caller: &caller,
                };
                command.handle(call, request).await
            }
            Err(e) => Err(e),
        };
        command.observe(&result);
        result
    })
    .await
}

/// A command a [`UserCommandsService`] serves, or `None` for a method it leaves to another
/// function.
pub type Slot<Req, Resp> = Option<Arc<dyn Command<Request = Req, Response = Resp>>>;

/// The slot of a served command.
pub fn serves<C: Command>(command: C) -> Slot<C::Request, C::Response> {
    Some(Arc::new(command))
}

/// `tickermesh.v1.UserCommands` serving the commands in its slots. In the cluster each command
/// function fills one slot and the ingress routes the other methods elsewhere, so those answer
/// UNIMPLEMENTED; the local mesh fills them all:
/// `UserCommandsService { delete: serves(Delete), ..UserCommandsService::new(ctx) }`.
#[derive(Clone)]
pub struct UserCommandsService {
    pub ctx: Arc<Context>,
    pub register: Slot<RegisterUserRequest, RegisterUserResponse>,
    pub confirm_email: Slot<ConfirmEmailRequest, ConfirmEmailResponse>,
    pub request_access: Slot<RequestAccessRequest, RequestAccessResponse>,
    pub update: Slot<UpdateUserRequest, UpdateUserResponse>,
    pub delete: Slot<DeleteUserRequest, DeleteUserResponse>,
    pub add_watch: Slot<AddWatchRequest, AddWatchResponse>,
    pub remove_watch: Slot<RemoveWatchRequest, RemoveWatchResponse>,
}

impl UserCommandsService {
    /// Serving nothing yet.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            register: None,
            confirm_email: None,
            request_access: None,
            update: None,
            delete: None,
            add_watch: None,
            remove_watch: None,
        }
    }

    pub fn server(self) -> UserCommandsServer<Self> {
        UserCommandsServer::new(self)
    }

    async fn dispatch<Req: prost::Message + Send + 'static, Resp: Send + 'static>(
        &self,
        method: &'static str,
        slot: &Slot<Req, Resp>,
        request: Request<Req>,
    ) -> Result<Response<Resp>, Status> {
        match slot {
            Some(command) => rpc(command.as_ref(), method, &self.ctx, request).await,
            None => Err(Status::unimplemented(
                "this method is served by another function",
            )),
        }
    }
}

#[tonic::async_trait]
impl UserCommands for UserCommandsService {
    async fn register_user(
        &self,
        request: Request<RegisterUserRequest>,
    ) -> Result<Response<RegisterUserResponse>, Status> {
        self.dispatch("RegisterUser", &self.register, request).await
    }

    async fn confirm_email(
        &self,
        request: Request<ConfirmEmailRequest>,
    ) -> Result<Response<ConfirmEmailResponse>, Status> {
        self.dispatch("ConfirmEmail", &self.confirm_email, request)
            .await
    }

    async fn request_access(
        &self,
        request: Request<RequestAccessRequest>,
    ) -> Result<Response<RequestAccessResponse>, Status> {
        self.dispatch("RequestAccess", &self.request_access, request)
            .await
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UpdateUserResponse>, Status> {
        self.dispatch("UpdateUser", &self.update, request).await
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        self.dispatch("DeleteUser", &self.delete, request).await
    }

    async fn add_watch(
        &self,
        request: Request<AddWatchRequest>,
    ) -> Result<Response<AddWatchResponse>, Status> {
        self.dispatch("AddWatch", &self.add_watch, request).await
    }

    async fn remove_watch(
        &self,
        request: Request<RemoveWatchRequest>,
    ) -> Result<Response<RemoveWatchResponse>, Status> {
        self.dispatch("RemoveWatch", &self.remove_watch, request)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        let cases = [
            ("1S", Some(Duration::from_secs(1))),
            ("250m", Some(Duration::from_millis(250))),
            ("2M", Some(Duration::from_secs(120))),
            ("1H", Some(Duration::from_secs(3600))),
            ("99999999u", Some(Duration::from_micros(99_999_999))),
            ("5n", Some(Duration::from_nanos(5))),
            ("123456789S", None),
            ("S", None),
            ("", None),
            ("1s", None),
            ("-1S", None),
            ("1.5S", None),
            ("é", None),
        ];
        for (raw, want) in cases {
            assert_eq!(grpc_timeout(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn the_shorter_deadline_wins() {
        let mut metadata = MetadataMap::new();
        let server = Duration::from_secs(5);
        assert_eq!(Deadline::of(&metadata, server).limit, server);
        metadata.insert("grpc-timeout", "200m".parse().unwrap());
        let d = Deadline::of(&metadata, server);
        assert_eq!((d.limit, d.from_client), (Duration::from_millis(200), true));
        metadata.insert("grpc-timeout", "1H".parse().unwrap());
        assert!(!Deadline::of(&metadata, server).from_client);
    }

    #[tokio::test]
    async fn a_call_that_hangs_ends_at_its_deadline() {
        let hangs = || std::future::pending::<Result<()>>();
        let client = Deadline {
            limit: Duration::from_millis(30),
            from_client: true,
        };
        let status = answer("GetHistory", client, hangs()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        let server = Deadline {
            from_client: false,
            ..client
        };
        let status = answer("GetHistory", server, hangs()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let fine = answer("GetHistory", server, async { Ok(7) }).await.unwrap();
        assert_eq!(fine.into_inner(), 7);
    }
}
