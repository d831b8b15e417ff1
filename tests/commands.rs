//! RegisterUser, UpdateUser and DeleteUser over the wire, on SQLite and MariaDB. Updates and
//! deletes carry the user's access token (see `tests/access.rs` for what happens without it).

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{
    DeleteUserRequest, RegisterUserRequest, ThresholdChange, UpdateUserRequest,
};
use tickermesh_tests::access::{bearer, confirm, signed_up};
use tickermesh_tests::{on_both_backends, spawn_mesh, Backend, TestDb};
use tonic::Code;

fn register(email: &str, ticker: &str, min: Option<f64>, max: Option<f64>) -> RegisterUserRequest {
    RegisterUserRequest {
        email: email.into(),
        ticker: ticker.into(),
        min_price: min,
        max_price: max,
        ..Default::default()
    }
}

fn set(price: f64) -> Option<ThresholdChange> {
    Some(ThresholdChange {
        change: Some(Change::Set(price)),
    })
}

fn clear() -> Option<ThresholdChange> {
    Some(ThresholdChange {
        change: Some(Change::Clear(true)),
    })
}

async fn register_update_delete(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;

    let registered = c
        .register_user(register(" Ada@Example.com ", "brk-b", Some(100.0), None))
        .await
        .expect("register")
        .into_inner();
    let user = registered.user.expect("user");
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.ticker, "BRK-B");
    assert_eq!((user.min_price, user.max_price), (Some(100.0), None));
    assert!(user.created_at_unix_ms > 0);
    assert!(!user.confirmed, "a new address starts unconfirmed");
    assert!(registered.code_expires_at_unix_ms > user.created_at_unix_ms);
    let token = confirm(&mut c, &ctx.store, " Ada@Example.com ").await;

    // Emails compare case-insensitively.
    let dup = c
        .register_user(register("ADA@example.com", "AAPL", None, None))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup:?}");

    // Change the ticker and add a max; min stays.
    let u = c
        .update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ticker: Some("^gspc".into()),
                min_price: None,
                max_price: set(150.0),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("update")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(u.ticker, "^GSPC");
    assert_eq!((u.min_price, u.max_price), (Some(100.0), Some(150.0)));
    assert!(u.confirmed);

    // Clear min and change max in one call; the ticker stays.
    let u = c
        .update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ticker: None,
                min_price: clear(),
                max_price: set(90.0),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("update")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(u.ticker, "^GSPC");
    assert_eq!((u.min_price, u.max_price), (None, Some(90.0)));

    // A new min above the kept max is rejected, naming the field, and changes nothing.
    let err = c
        .update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ticker: Some("MSFT".into()),
                min_price: set(95.0),
                max_price: None,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("min_price"), "{}", err.message());
    let unchanged = c
        .update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("an empty update")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(
        unchanged.ticker, "^GSPC",
        "the rejected update changed nothing"
    );
    assert_eq!(
        (unchanged.min_price, unchanged.max_price),
        (None, Some(90.0))
    );

    let deleted = c
        .delete_user(bearer(
            DeleteUserRequest {
                email: "ADA@example.com".into(),
            },
            &token,
        ))
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.email, "ada@example.com");

    // The user is gone, and its token with it: nothing more can be done with either.
    for status in [
        c.delete_user(bearer(
            DeleteUserRequest {
                email: "ada@example.com".into(),
            },
            &token,
        ))
        .await
        .unwrap_err(),
        c.update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }

    // The e-mail is free again, and the new registration gets a new token.
    let again = signed_up(&mut c, &ctx.store, "ada@example.com", "AAPL", None, None).await;
    assert_ne!(again, token);
    let user = c
        .update_user(bearer(
            UpdateUserRequest {
                email: "ada@example.com".into(),
                ..Default::default()
            },
            &again,
        ))
        .await
        .expect("the new registration's token works")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.ticker, "AAPL");
}
on_both_backends!(register_update_delete_roundtrip, register_update_delete);

async fn invalid_arguments_name_the_field(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, _ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let cases: Vec<(RegisterUserRequest, &str)> = vec![
        (register("not-an-email", "AAPL", None, None), "email"),
        (register("", "AAPL", None, None), "email"),
        (register(&long_email, "AAPL", None, None), "email"),
        (register("a@example.com", "", None, None), "ticker"),
        (register("a@example.com", "AA PL", None, None), "ticker"),
        (
            register("a@example.com", "ABCDEFGHIJKLMNOPQ", None, None),
            "ticker",
        ),
        (
            register("a@example.com", "AAPL", Some(f64::NAN), None),
            "min_price",
        ),
        (
            register("a@example.com", "AAPL", Some(0.0), None),
            "min_price",
        ),
        (
            register("a@example.com", "AAPL", None, Some(-1.0)),
            "max_price",
        ),
        (
            register("a@example.com", "AAPL", None, Some(f64::INFINITY)),
            "max_price",
        ),
        (
            register("a@example.com", "AAPL", Some(10.0), Some(10.0)),
            "min_price",
        ),
        (
            register("a@example.com", "AAPL", Some(20.0), Some(10.0)),
            "min_price",
        ),
    ];
    for (request, field) in cases {
        let err = c.register_user(request.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}");
        assert!(
            err.message().starts_with(field),
            "{request:?}: {:?} should name {field}",
            err.message()
        );
    }
    let err = c
        .update_user(UpdateUserRequest {
            email: "a@example.com".into(),
            min_price: Some(ThresholdChange {
                change: Some(Change::Clear(false)),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("min_price"));

    // Nothing was stored by any of the rejected calls.
    let ok = c
        .register_user(register("a@example.com", "AAPL", None, None))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}
on_both_backends!(invalid_arguments, invalid_arguments_name_the_field);

/// The limits hold for the stored form, not only the typed one: an address that outgrows
/// 254 bytes once lower-cased (`İ` becomes `i̇`) and prices at the ends of f64 are
/// INVALID_ARGUMENT naming the field, never INTERNAL from the database.
async fn limits_after_normalising(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    // 254 characters as typed, 286 once lower-cased.
    let grows = format!("{}@{}.example.com", "İ".repeat(32), "d".repeat(209));
    assert_eq!(grows.chars().count(), 254);
    let cases = [
        (register(&grows, "AAPL", None, None), "email"),
        (
            register("a@example.com", "AAPL", None, Some(1e308)),
            "max_price",
        ),
        (
            register("a@example.com", "AAPL", Some(5e-324), None),
            "min_price",
        ),
        (
            register("a@example.com", "AAPL", Some(1e-7), None),
            "min_price",
        ),
        (
            register("a@example.com", "AAPL", None, Some(2e9)),
            "max_price",
        ),
    ];
    for (request, field) in cases {
        let err = c.register_user(request.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}: {err:?}");
        assert!(err.message().starts_with(field), "{request:?}: {err:?}");
    }

    // The longest address that fits is stored whole: 254 bytes, upper-case as typed.
    let longest = format!(
        "{}@{}.{}.{}.com",
        "A".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(57)
    );
    assert_eq!(longest.len(), 254);
    let user = c
        .register_user(register(&longest, "AAPL", Some(1e-6), Some(1e9)))
        .await
        .expect("the longest address and the widest thresholds")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.email, longest.to_lowercase());
    assert_eq!((user.min_price, user.max_price), (Some(1e-6), Some(1e9)));
    let token = confirm(&mut c, &ctx.store, &longest).await;

    for (min, max, field) in [
        (set(5e-324), None, "min_price"),
        (None, set(1e308), "max_price"),
    ] {
        let err = c
            .update_user(bearer(
                UpdateUserRequest {
                    email: longest.clone(),
                    ticker: None,
                    min_price: min,
                    max_price: max,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().starts_with(field), "{err:?}");
    }
}
on_both_backends!(limits_hold_after_normalising, limits_after_normalising);
