//! A watch's move rule and cooldown, and a user's time zone and quiet hours, over the wire on
//! SQLite and MariaDB: RegisterUser, AddWatch and UpdateUser set them, the User responses and
//! ListWatches show them, an invalid value is refused naming its field and changes nothing.

use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{
    quiet_hours_change, threshold_change, AddWatchRequest, ListWatchesRequest, QuietHours,
    QuietHoursChange, RegisterUserRequest, ThresholdChange, UpdateUserRequest, User, Watch,
};
use tickermesh_core::store::Store;
use tickermesh_tests::access::{bearer, sign_up};
use tickermesh_tests::{on_both_backends, spawn_mesh, Backend, TestDb, TestServer};
use tonic::transport::Channel;
use tonic::Code;

const ADA: &str = "ada@example.com";

fn set(v: f64) -> Option<ThresholdChange> {
    Some(ThresholdChange {
        change: Some(threshold_change::Change::Set(v)),
    })
}

fn clear() -> Option<ThresholdChange> {
    Some(ThresholdChange {
        change: Some(threshold_change::Change::Clear(true)),
    })
}

fn quiet(start: &str, end: &str) -> Option<QuietHoursChange> {
    Some(QuietHoursChange {
        change: Some(quiet_hours_change::Change::Set(QuietHours {
            start: start.into(),
            end: end.into(),
        })),
    })
}

fn no_quiet() -> Option<QuietHoursChange> {
    Some(QuietHoursChange {
        change: Some(quiet_hours_change::Change::Clear(true)),
    })
}

fn update(fill: impl FnOnce(&mut UpdateUserRequest)) -> UpdateUserRequest {
    let mut request = UpdateUserRequest {
        email: ADA.into(),
        ..Default::default()
    };
    fill(&mut request);
    request
}

fn add(ticker: &str, move_percent: Option<f64>, cooldown: Option<u32>) -> AddWatchRequest {
    AddWatchRequest {
        email: ADA.into(),
        ticker: ticker.into(),
        move_percent,
        cooldown_seconds: cooldown,
        ..Default::default()
    }
}

/// Each watch as (ticker, move, cooldown, alert state), oldest first.
async fn listed(server: &TestServer, token: &str) -> Vec<(String, Option<f64>, u32, String)> {
    let mut q = server.queries().await;
    q.list_watches(bearer(ListWatchesRequest { email: ADA.into() }, token))
        .await
        .expect("ListWatches")
        .into_inner()
        .watches
        .into_iter()
        .map(|w| {
            let w: Watch = w.watch.expect("a watch");
            (w.ticker, w.move_percent, w.cooldown_seconds, w.alert_state)
        })
        .collect()
}

/// The user's row as stored: time zone and quiet hours (minutes of the day).
async fn stored_user(store: &Store, email: &str) -> (String, Option<i64>, Option<i64>) {
    sqlx::query_as("SELECT time_zone, quiet_start_min, quiet_end_min FROM users WHERE email = ?")
        .bind(email)
        .fetch_one(store.pool())
        .await
        .expect("the user's row")
}

async fn updated(
    c: &mut UserCommandsClient<Channel>,
    token: &str,
    request: UpdateUserRequest,
) -> User {
    c.update_user(bearer(request.clone(), token))
        .await
        .unwrap_or_else(|e| panic!("{request:?}: {e:?}"))
        .into_inner()
        .user
        .expect("the user")
}

fn delivery(user: &User) -> (&str, Option<(&str, &str)>) {
    (
        user.time_zone.as_str(),
        user.quiet_hours
            .as_ref()
            .map(|q| (q.start.as_str(), q.end.as_str())),
    )
}

async fn rules_and_delivery_settings_round_trip(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let (registered, token) = sign_up(
        &mut c,
        &ctx.store,
        RegisterUserRequest {
            email: ADA.into(),
            ticker: "AAPL".into(),
            max_price: Some(250.0),
            move_percent: Some(5.0),
            cooldown_seconds: Some(1800),
            ..Default::default()
        },
    )
    .await;
    let user = registered.user.expect("the user");
    assert_eq!(
        (user.move_percent, user.cooldown_seconds),
        (Some(5.0), 1800)
    );
    assert_eq!(delivery(&user), ("UTC", None), "the defaults");

    let msft = c
        .add_watch(bearer(add("MSFT", Some(2.5), Some(60)), &token))
        .await
        .expect("AddWatch")
        .into_inner()
        .watch
        .expect("the watch");
    assert_eq!((msft.move_percent, msft.cooldown_seconds), (Some(2.5), 60));
    c.add_watch(bearer(add("NVDA", None, None), &token))
        .await
        .expect("AddWatch without rules");
    let armed = || "armed".to_owned();
    assert_eq!(
        listed(&server, &token).await,
        vec![
            ("AAPL".into(), Some(5.0), 1800, armed()),
            ("MSFT".into(), Some(2.5), 60, armed()),
            ("NVDA".into(), None, 0, armed()),
        ]
    );

    // One watch's rules change; the others stay.
    let user = updated(
        &mut c,
        &token,
        update(|r| {
            r.watch = Some("MSFT".into());
            r.move_percent = clear();
            r.cooldown_seconds = Some(0);
        }),
    )
    .await;
    assert_eq!(
        (
            user.ticker.as_str(),
            user.move_percent,
            user.cooldown_seconds
        ),
        ("MSFT", None, 0)
    );
    assert_eq!(
        listed(&server, &token).await,
        vec![
            ("AAPL".into(), Some(5.0), 1800, armed()),
            ("MSFT".into(), None, 0, armed()),
            ("NVDA".into(), None, 0, armed()),
        ]
    );

    // A new move rule re-arms the watch (as a new threshold does); a new cooldown does not.
    sqlx::query("UPDATE subscriptions SET alert_state = 'above' WHERE ticker = 'NVDA'")
        .execute(ctx.store.pool())
        .await
        .unwrap();
    let nvda = |r: &mut UpdateUserRequest| r.watch = Some("NVDA".into());
    updated(
        &mut c,
        &token,
        update(|r| {
            nvda(r);
            r.cooldown_seconds = Some(3600);
        }),
    )
    .await;
    assert_eq!(
        listed(&server, &token).await[2],
        ("NVDA".into(), None, 3600, "above".into())
    );
    let user = updated(
        &mut c,
        &token,
        update(|r| {
            nvda(r);
            r.move_percent = set(10.0);
        }),
    )
    .await;
    assert_eq!(
        (user.move_percent, user.cooldown_seconds),
        (Some(10.0), 3600)
    );
    assert_eq!(
        listed(&server, &token).await[2],
        ("NVDA".into(), Some(10.0), 3600, armed())
    );

    // The time zone alone: about the user, so no watch needs naming though there are three,
    // and no watch changes. Its name is the database's spelling.
    let before = listed(&server, &token).await;
    let user = updated(
        &mut c,
        &token,
        update(|r| r.time_zone = Some("europe/paris".into())),
    )
    .await;
    assert_eq!(delivery(&user), ("Europe/Paris", None));
    assert_eq!(listed(&server, &token).await, before);
    assert_eq!(
        stored_user(&ctx.store, ADA).await,
        ("Europe/Paris".into(), None, None)
    );

    // Quiet hours, read in the stored zone; then a watch change shows them as stored.
    let user = updated(
        &mut c,
        &token,
        update(|r| r.quiet_hours = quiet("22:00", "07:00")),
    )
    .await;
    assert_eq!(delivery(&user), ("Europe/Paris", Some(("22:00", "07:00"))));
    assert_eq!(
        stored_user(&ctx.store, ADA).await,
        ("Europe/Paris".into(), Some(22 * 60), Some(7 * 60))
    );
    let user = updated(
        &mut c,
        &token,
        update(|r| {
            r.watch = Some("AAPL".into());
            r.min_price = set(100.0);
        }),
    )
    .await;
    assert_eq!(user.min_price, Some(100.0));
    assert_eq!(delivery(&user), ("Europe/Paris", Some(("22:00", "07:00"))));
    assert_eq!(
        (user.move_percent, user.cooldown_seconds),
        (Some(5.0), 1800)
    );

    // Both in one request, then the quiet hours cleared: the zone stays.
    let user = updated(
        &mut c,
        &token,
        update(|r| {
            r.time_zone = Some("America/New_York".into());
            r.quiet_hours = quiet("12:00", "13:30");
        }),
    )
    .await;
    assert_eq!(
        delivery(&user),
        ("America/New_York", Some(("12:00", "13:30")))
    );
    let user = updated(&mut c, &token, update(|r| r.quiet_hours = no_quiet())).await;
    assert_eq!(delivery(&user), ("America/New_York", None));
    assert_eq!(
        stored_user(&ctx.store, ADA).await,
        ("America/New_York".into(), None, None)
    );
}
on_both_backends!(round_trip, rules_and_delivery_settings_round_trip);

/// `(code, message)` of a refused call.
fn refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
) -> (Code, String) {
    let status = result.expect_err("refused");
    (status.code(), status.message().to_owned())
}

async fn invalid_values_name_their_field_and_change_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;

    // RegisterUser: no user is made.
    for (move_percent, cooldown, field) in [
        (Some(0.0), None, "move_percent"),
        (Some(-3.0), None, "move_percent"),
        (Some(100.5), None, "move_percent"),
        (Some(f64::NAN), None, "move_percent"),
        (Some(f64::INFINITY), None, "move_percent"),
        (None, Some(604_801), "cooldown_seconds"),
        (None, Some(u32::MAX), "cooldown_seconds"),
    ] {
        let request = RegisterUserRequest {
            email: "eve@example.com".into(),
            ticker: "AAPL".into(),
            move_percent,
            cooldown_seconds: cooldown,
            ..Default::default()
        };
        let (code, message) = refused(c.register_user(request).await);
        assert_eq!(code, Code::InvalidArgument, "{message}");
        assert!(message.starts_with(field), "{field}: {message}");
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    assert_eq!(users, 0);

    let (_, token) = sign_up(
        &mut c,
        &ctx.store,
        RegisterUserRequest {
            email: ADA.into(),
            ticker: "AAPL".into(),
            move_percent: Some(5.0),
            cooldown_seconds: Some(600),
            ..Default::default()
        },
    )
    .await;
    updated(
        &mut c,
        &token,
        update(|r| {
            r.time_zone = Some("Asia/Tokyo".into());
            r.quiet_hours = quiet("23:00", "06:00");
        }),
    )
    .await;

    // AddWatch: no watch is added.
    for (request, field) in [
        (add("MSFT", Some(0.0), None), "move_percent"),
        (add("MSFT", Some(101.0), None), "move_percent"),
        (add("MSFT", None, Some(700_000)), "cooldown_seconds"),
    ] {
        let (code, message) = refused(c.add_watch(bearer(request, &token)).await);
        assert_eq!(code, Code::InvalidArgument, "{message}");
        assert!(message.starts_with(field), "{field}: {message}");
    }

    // UpdateUser: neither the watch nor the user changes.
    let watches = listed(&server, &token).await;
    assert_eq!(
        watches,
        vec![("AAPL".into(), Some(5.0), 600, "armed".into())]
    );
    let user_row = stored_user(&ctx.store, ADA).await;
    assert_eq!(user_row, ("Asia/Tokyo".into(), Some(23 * 60), Some(6 * 60)));
    let bad_clear = || {
        Some(QuietHoursChange {
            change: Some(quiet_hours_change::Change::Clear(false)),
        })
    };
    let cases: Vec<(UpdateUserRequest, &str)> = vec![
        (update(|r| r.move_percent = set(0.0)), "move_percent"),
        (update(|r| r.move_percent = set(-1.0)), "move_percent"),
        (update(|r| r.move_percent = set(f64::NAN)), "move_percent"),
        (
            update(|r| {
                r.move_percent = Some(ThresholdChange {
                    change: Some(threshold_change::Change::Clear(false)),
                })
            }),
            "move_percent",
        ),
        (
            update(|r| r.cooldown_seconds = Some(604_801)),
            "cooldown_seconds",
        ),
        (
            update(|r| r.time_zone = Some("Mars/Olympus".into())),
            "time_zone",
        ),
        (update(|r| r.time_zone = Some(String::new())), "time_zone"),
        (
            update(|r| r.quiet_hours = quiet("25:00", "07:00")),
            "quiet_hours",
        ),
        (
            update(|r| r.quiet_hours = quiet("22:00", "22:00")),
            "quiet_hours",
        ),
        (
            update(|r| r.quiet_hours = quiet("10pm", "7am")),
            "quiet_hours",
        ),
        (update(|r| r.quiet_hours = bad_clear()), "quiet_hours"),
        // One bad field spoils the whole request: the good ones beside it are not stored.
        (
            update(|r| {
                r.max_price = set(300.0);
                r.time_zone = Some("Europe/Paris".into());
                r.quiet_hours = quiet("22:00", "24:00");
            }),
            "quiet_hours",
        ),
        (
            update(|r| {
                r.move_percent = set(7.0);
                r.time_zone = Some("Nowhere/Land".into());
            }),
            "time_zone",
        ),
    ];
    for (request, field) in cases {
        let (code, message) = refused(c.update_user(bearer(request.clone(), &token)).await);
        assert_eq!(code, Code::InvalidArgument, "{request:?}: {message}");
        assert!(message.starts_with(field), "{field}: {message}");
    }
    assert_eq!(listed(&server, &token).await, watches);
    assert_eq!(stored_user(&ctx.store, ADA).await, user_row);
}
on_both_backends!(
    invalid_values,
    invalid_values_name_their_field_and_change_nothing
);
