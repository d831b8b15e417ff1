//! The one path of every gRPC call: a command's idempotency key from the metadata, every call
//! counted and timed by method and status code, and errors mapped to a status in one place.
//! A command function holds its `handle` and little else; the `UserCommands` service that
//! serves it, in its own container or in the local mesh, is written here once.

use std::future::Future;
use std::sync::Arc;

use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{
    DeleteUserRequest, DeleteUserResponse, RegisterUserRequest, RegisterUserResponse,
    UpdateUserRequest, UpdateUserResponse,
};
use tonic::{Request, Response, Status};

use sqlx::AnyConnection;

use crate::idempotency::{fingerprint, Effect, IdempotencyKey};
use crate::{metrics, Context, Result};

/// What a command runs with: the context, and this call's at-most-once record.
pub struct Call<'a> {
    pub ctx: &'a Context,
    key: Option<&'a IdempotencyKey>,
    method: &'static str,
    request_hash: String,
}

impl Call<'_> {
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

/// Answers one call: counted and timed by method and status code; an error becomes a status
/// through the one mapping in [`crate::error`].
pub async fn answer<T>(
    method: &'static str,
    call: impl Future<Output = Result<T>>,
) -> Result<Response<T>, Status> {
    metrics::observe_grpc(method, async {
        call.await.map(Response::new).map_err(Status::from)
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
    answer(method, async {
        let result = match IdempotencyKey::from_metadata(request.metadata()) {
            Ok(key) => {
                let request = request.into_inner();
                let call = Call {
                    ctx,
                    key: key.as_ref(),
                    method,
                    request_hash: fingerprint(method, &request),
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
    pub update: Slot<UpdateUserRequest, UpdateUserResponse>,
    pub delete: Slot<DeleteUserRequest, DeleteUserResponse>,
}

impl UserCommandsService {
    /// Serving nothing yet.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            register: None,
            update: None,
            delete: None,
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
}
