//! The `tickermesh.v1` gRPC API, generated at build time from `proto/tickermesh/v1`.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("tickermesh.v1");
}

/// Encoded `FileDescriptorSet` of every tickermesh proto, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tickermesh_descriptor.bin"));

/// Full gRPC method paths, as an ingress routes them.
pub mod paths {
    pub const REGISTER_USER: &str = "/tickermesh.v1.UserCommands/RegisterUser";
    pub const UPDATE_USER: &str = "/tickermesh.v1.UserCommands/UpdateUser";
    pub const DELETE_USER: &str = "/tickermesh.v1.UserCommands/DeleteUser";
    pub const CONFIRM_EMAIL: &str = "/tickermesh.v1.UserCommands/ConfirmEmail";
    pub const REQUEST_ACCESS: &str = "/tickermesh.v1.UserCommands/RequestAccess";
    pub const ADD_WATCH: &str = "/tickermesh.v1.UserCommands/AddWatch";
    pub const REMOVE_WATCH: &str = "/tickermesh.v1.UserCommands/RemoveWatch";
    pub const GET_LATEST_VALUE: &str = "/tickermesh.v1.TickerQueries/GetLatestValue";
    pub const GET_AVERAGE_VALUE: &str = "/tickermesh.v1.TickerQueries/GetAverageValue";
    pub const GET_HISTORY: &str = "/tickermesh.v1.TickerQueries/GetHistory";
    pub const LIST_WATCHES: &str = "/tickermesh.v1.TickerQueries/ListWatches";
}
