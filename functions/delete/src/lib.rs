//! The delete function: `UserCommands/DeleteUser`. Removes the user, what it watches and the
//! alerts made for it (with notify's records of them); its access token stops working with it.

use std::sync::Arc;

use tickermesh_api::v1::{DeleteUserRequest, DeleteUserResponse};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::Email;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::{history, users};
use tickermesh_core::{Context, Result};

/// The DeleteUser command.
pub struct Delete;

#[async_trait::async_trait]
impl Command for Delete {
    type Request = DeleteUserRequest;
    type Response = DeleteUserResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        call.authorize(&email).await?;
        call.once(move |conn| {
            Box::pin(async move {
                users::delete(conn, &email).await?;
                // Alerts are keyed by address, not by user: removed here, in the same
                // transaction, so no alert outlives its user (one still on its way to notify
                // is then unknown to it and sent to no one).
                history::delete_user_alerts(conn, email.as_str()).await?;
                Ok(DeleteUserResponse {
                    email: email.as_str().to_owned(),
                })
            })
        })
        .await
    }
}

pub async fn router(ctx: Arc<Context>) -> Router {
    let commands = UserCommandsService {
        delete: serves(Delete),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
