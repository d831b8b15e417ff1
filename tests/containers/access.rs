//! The access image run as Knative runs it: gRPC health and reflection of the one service it
//! serves (its other methods answer UNIMPLEMENTED), non-root with no capabilities, a clean stop
//! on SIGTERM; without the signing key it refuses to start, with exit code 2 naming it.

use std::time::Duration;

use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::RegisterUserRequest;
use tickermesh_tests::containers::{build_images, profile_dir, Container, Podman};
use tickermesh_tests::proc::{free_port, workspace_bin};
use tickermesh_tests::{eventually, kafka, Backend, TestDb};
use tonic::Code;

use super::{channel, reflected_services, serving, stops_cleanly, READY_WITHIN};

const SERVICE: &str = "tickermesh.v1.UserCommands";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_image_serves_its_grpc_service() {
    workspace_bin("tickermesh-access");
    let podman = Podman::new();
    let image = build_images(&podman, &profile_dir(), &["access"]).remove(0);
    assert_eq!(image.inspect("{{.Config.User}}"), "65532:65532");
    assert_eq!(image.inspect("{{.Config.Entrypoint}}"), "[/function]");

    let db = TestDb::new(Backend::MariaDb).await;
    let port = free_port();
    let mut env = kafka::env();
    env.extend([
        ("PORT", port.to_string()),
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_ALERTS_TOPIC", kafka::topic("alerts", 1).await),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2".to_owned()),
    ]);

    // Without the key: exit code 2, the variable named.
    let keyless = Container::start(&podman, &image, &env);
    eventually(READY_WITHIN, "the keyless container to stop", || async {
        (!keyless.running()).then_some(())
    })
    .await;
    let logs = keyless.logs();
    assert_eq!(keyless.stop(Duration::from_secs(1)).0, 2, "{logs}");
    assert!(logs.contains("TICKERMESH_SIGNING_KEY"), "{logs}");

    env.push((
        "TICKERMESH_SIGNING_KEY",
        "a container test signing key, 32 bytes or more".to_owned(),
    ));
    let container = Container::start(&podman, &image, &env);
    container.wait_http_ok(port, "/metrics", READY_WITHIN);
    let status = container.process_status();
    assert!(
        status.contains("\nUid:\t65532\t65532\t65532\t65532\n"),
        "{status}"
    );
    assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");

    let ch = channel(port);
    eventually(READY_WITHIN, "access to be SERVING", || {
        let ch = ch.clone();
        async move { (serving(ch.clone(), SERVICE).await && serving(ch, "").await).then_some(()) }
    })
    .await;
    let services = reflected_services(ch.clone()).await;
    for s in [SERVICE, "grpc.health.v1.Health"] {
        assert!(services.iter().any(|x| x == s), "{services:?}");
    }
    // Registering is the register function's: the router never sends it here.
    let err = UserCommandsClient::new(ch)
        .register_user(RegisterUserRequest {
            email: "box@example.com".into(),
            ticker: "AAPL".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    stops_cleanly("access", &container);
}
