//! Watchlists over the wire, on SQLite and MariaDB: AddWatch, RemoveWatch and ListWatches; the
//! one-ticker API keeps working and picks a watch by `ticker` (UpdateUser: `watch`) when the
//! user has several; every call is the owner's only; at most once per idempotency key.

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{
    AddWatchRequest, GetAverageValueRequest, GetHistoryRequest, GetLatestValueRequest,
    ListWatchesRequest, RemoveWatchRequest, ThresholdChange, UpdateUserRequest,
};
use tickermesh_core::events::QuoteCollected;
use tickermesh_tests::access::{bearer, keyed_bearer, signed_up};
use tickermesh_tests::db::store_quote;
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{new_key, on_both_backends, spawn_mesh, Backend, TestDb};
use tonic::Code;

fn add(email: &str, ticker: &str, max: Option<f64>) -> AddWatchRequest {
    AddWatchRequest {
        email: email.into(),
        ticker: ticker.into(),
        max_price: max,
        ..Default::default()
    }
}

fn quote(ticker: &str, price: f64, at_s: i64) -> QuoteCollected {
    QuoteCollected {
        ticker: ticker.into(),
        price,
        currency: "USD".into(),
        market_time_ms: at_s * 1000,
        collected_at_ms: at_s * 1000,
        simulated: false,
        previous_close: None,
    }
}

async fn a_user_watches_several_tickers(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let mut q = server.queries().await;
    let email = "ada@example.com";
    let token = signed_up(&mut c, &ctx.store, email, "AAPL", None, Some(250.0)).await;
    let t0 = recent_s();
    store_quote(&ctx.store, &quote("AAPL", 200.0, t0)).await;
    store_quote(&ctx.store, &quote("MSFT", 400.0, t0)).await;
    store_quote(&ctx.store, &quote("MSFT", 410.0, t0 + 60)).await;

    // One watch: the seed's API answers without a ticker.
    let latest = q
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: email.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("latest of the only watch")
        .into_inner();
    assert_eq!(latest.quote.unwrap().ticker, "AAPL");

    let added = c
        .add_watch(keyed_bearer(
            add(email, "msft", Some(500.0)),
            &new_key(),
            &token,
        ))
        .await
        .expect("AddWatch")
        .into_inner()
        .watch
        .unwrap();
    assert_eq!(
        (added.ticker.as_str(), added.max_price),
        ("MSFT", Some(500.0))
    );
    let again = c
        .add_watch(bearer(add(email, "MSFT", None), &token))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    // Two watches: a read must name one, and is told which exist (once the answer cached for
    // the one-watch read has expired: the query cache keeps answers for its TTL).
    tokio::time::sleep(tickermesh_query::QueryConfig::default().cache_ttl).await;
    let ambiguous = q
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: email.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(ambiguous.code(), Code::FailedPrecondition, "{ambiguous:?}");
    assert!(ambiguous.message().contains("AAPL, MSFT"), "{ambiguous:?}");
    let msft = q
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: email.into(),
                ticker: Some("MSFT".into()),
            },
            &token,
        ))
        .await
        .expect("latest of MSFT")
        .into_inner();
    assert_eq!(msft.quote.unwrap().price, 410.0);
    let avg = q
        .get_average_value(bearer(
            GetAverageValueRequest {
                email: email.into(),
                count: 5,
                ticker: Some("MSFT".into()),
            },
            &token,
        ))
        .await
        .expect("average of MSFT")
        .into_inner();
    assert_eq!((avg.count_used, avg.average), (2, 405.0));
    let history = q
        .get_history(bearer(
            GetHistoryRequest {
                email: email.into(),
                limit: 5,
                ticker: Some("AAPL".into()),
            },
            &token,
        ))
        .await
        .expect("history of AAPL")
        .into_inner();
    assert_eq!(history.quotes.len(), 1);
    let unwatched = q
        .get_history(bearer(
            GetHistoryRequest {
                email: email.into(),
                limit: 5,
                ticker: Some("TSLA".into()),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(unwatched.code(), Code::NotFound, "{unwatched:?}");

    // UpdateUser picks the watch by `watch`.
    let set = |p| {
        Some(ThresholdChange {
            change: Some(Change::Set(p)),
        })
    };
    let no_choice = c
        .update_user(bearer(
            UpdateUserRequest {
                email: email.into(),
                max_price: set(300.0),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_choice.code(), Code::FailedPrecondition, "{no_choice:?}");
    let updated = c
        .update_user(bearer(
            UpdateUserRequest {
                email: email.into(),
                watch: Some("MSFT".into()),
                max_price: set(450.0),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("update MSFT")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(
        (updated.ticker.as_str(), updated.max_price),
        ("MSFT", Some(450.0))
    );

    // The list: each watch with its rules, state and latest quote, oldest first.
    let listed = q
        .list_watches(bearer(
            ListWatchesRequest {
                email: email.into(),
            },
            &token,
        ))
        .await
        .expect("ListWatches")
        .into_inner()
        .watches;
    let seen: Vec<(String, Option<f64>, f64)> = listed
        .iter()
        .map(|w| {
            let watch = w.watch.clone().unwrap();
            (
                watch.ticker,
                watch.max_price,
                w.latest.clone().unwrap().price,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("AAPL".into(), Some(250.0), 200.0),
            ("MSFT".into(), Some(450.0), 410.0)
        ]
    );
    assert!(listed
        .iter()
        .all(|w| w.watch.as_ref().unwrap().alert_state == "armed"));

    // After a quote above MSFT's maximum is evaluated, its watch stands above.
    let evaluator = tickermesh_evaluate::Evaluator::new(
        ctx.store.clone(),
        std::sync::Arc::new(tickermesh_tests::access::Discard),
        "threshold-alerts",
    );
    let crossing = quote("MSFT", 460.0, t0 + 120);
    store_quote(&ctx.store, &crossing).await;
    assert_eq!(evaluator.store_alerts(&crossing).await.unwrap(), 1);
    let calm = quote("MSFT", 470.0, t0 + 180);
    store_quote(&ctx.store, &calm).await;
    assert_eq!(evaluator.store_alerts(&calm).await.unwrap(), 0);
    let states: Vec<(String, String)> = q
        .list_watches(bearer(
            ListWatchesRequest {
                email: email.into(),
            },
            &token,
        ))
        .await
        .expect("ListWatches")
        .into_inner()
        .watches
        .into_iter()
        .map(|w| {
            let watch = w.watch.unwrap();
            (watch.ticker, watch.alert_state)
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("AAPL".into(), "armed".into()),
            ("MSFT".into(), "above".into())
        ]
    );

    // Remove one; the last one stays.
    c.remove_watch(bearer(
        RemoveWatchRequest {
            email: email.into(),
            ticker: "AAPL".into(),
        },
        &token,
    ))
    .await
    .expect("RemoveWatch");
    let last = c
        .remove_watch(bearer(
            RemoveWatchRequest {
                email: email.into(),
                ticker: "MSFT".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(last.code(), Code::FailedPrecondition, "{last:?}");
    let gone = c
        .remove_watch(bearer(
            RemoveWatchRequest {
                email: email.into(),
                ticker: "AAPL".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    let latest = q
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: email.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("one watch again: no ticker needed")
        .into_inner();
    assert_eq!(latest.quote.unwrap().ticker, "MSFT");
}
on_both_backends!(several_tickers, a_user_watches_several_tickers);

async fn the_watchlist_is_the_owners_only_and_capped(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let mut q = server.queries().await;
    let ada = signed_up(&mut c, &ctx.store, "ada@example.com", "AAPL", None, None).await;
    let bob = signed_up(&mut c, &ctx.store, "bob@example.com", "AAPL", None, None).await;

    let denied = c
        .add_watch(bearer(add("ada@example.com", "MSFT", None), &bob))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let anonymous = c
        .add_watch(add("ada@example.com", "MSFT", None))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let removed = c
        .remove_watch(bearer(
            RemoveWatchRequest {
                email: "ada@example.com".into(),
                ticker: "AAPL".into(),
            },
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(removed.code(), Code::PermissionDenied, "{removed:?}");
    let listed = q
        .list_watches(bearer(
            ListWatchesRequest {
                email: "ada@example.com".into(),
            },
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::PermissionDenied, "{listed:?}");

    // At most once per key: a repeat answers the first response and adds nothing.
    let key = new_key();
    let first = c
        .add_watch(keyed_bearer(
            add("ada@example.com", "MSFT", Some(1.0)),
            &key,
            &ada,
        ))
        .await
        .expect("first")
        .into_inner();
    let repeat = c
        .add_watch(keyed_bearer(
            add("ada@example.com", "MSFT", Some(1.0)),
            &key,
            &ada,
        ))
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(first, repeat);
    // The same key from another caller shows nothing of it.
    let stolen = c
        .add_watch(keyed_bearer(
            add("bob@example.com", "MSFT", Some(1.0)),
            &key,
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::FailedPrecondition, "{stolen:?}");

    // The cap (100 by default): 98 more fill it, the next is refused.
    for i in 0..98 {
        c.add_watch(bearer(add("ada@example.com", &format!("T{i}"), None), &ada))
            .await
            .unwrap_or_else(|e| panic!("watch {i}: {e:?}"));
    }
    let full = c
        .add_watch(bearer(add("ada@example.com", "ONEMORE", None), &ada))
        .await
        .unwrap_err();
    assert_eq!(full.code(), Code::FailedPrecondition, "{full:?}");
    assert!(full.message().contains("100"), "{full:?}");
    let listed = q
        .list_watches(bearer(
            ListWatchesRequest {
                email: "ada@example.com".into(),
            },
            &ada,
        ))
        .await
        .expect("list")
        .into_inner()
        .watches;
    assert_eq!(listed.len(), 100);
    assert!(listed.iter().all(|w| w.latest.is_none()), "no quotes yet");
}
on_both_backends!(owner_and_cap, the_watchlist_is_the_owners_only_and_capped);

async fn a_symbol_the_market_does_not_know(backend: Backend) {
    use tickermesh_api::v1::{AddWatchRequest as Add, UpdateUserRequest as Update};
    use tickermesh_core::store::quotes;
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let mut q = server.queries().await;
    let email = "ada@example.com";
    let token = signed_up(&mut c, &ctx.store, email, "AAPL", None, None).await;
    let add_nope = Add {
        email: email.into(),
        ticker: "NOPE".into(),
        ..Default::default()
    };
    c.add_watch(bearer(add_nope, &token))
        .await
        .expect("AddWatch");
    let pool = ctx.store.pool();
    let now = tickermesh_core::now_unix_ms();
    assert!(quotes::watched_tickers(pool, now)
        .await
        .unwrap()
        .contains(&"NOPE".to_owned()));

    // The collector hears 404 for it (as `collect` records it).
    quotes::record_unknown(&ctx.store, "NOPE", now + 1)
        .await
        .unwrap();
    let latest = q
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: email.into(),
                ticker: Some("NOPE".into()),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(latest.code(), Code::NotFound);
    assert!(
        latest.message().contains("does not know the symbol NOPE"),
        "{latest:?}"
    );
    let listed = q
        .list_watches(bearer(
            ListWatchesRequest {
                email: email.into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .watches;
    let flags: Vec<(String, bool)> = listed
        .iter()
        .map(|w| (w.watch.clone().unwrap().ticker, w.unknown_symbol))
        .collect();
    assert_eq!(flags, vec![("AAPL".into(), false), ("NOPE".into(), true)]);
    // Not asked for again on the next ticks…
    let later = now + 60_000;
    assert!(!quotes::watched_tickers(pool, later)
        .await
        .unwrap()
        .contains(&"NOPE".to_owned()));
    // …until a day has passed,
    let next_day = now + quotes::UNKNOWN_RECHECK_MS + 2;
    assert!(quotes::watched_tickers(pool, next_day)
        .await
        .unwrap()
        .contains(&"NOPE".to_owned()));
    // or someone changes (or adds again) the watch.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let set = Some(ThresholdChange {
        change: Some(Change::Set(5.0)),
    });
    let update = Update {
        email: email.into(),
        watch: Some("NOPE".into()),
        max_price: set,
        ..Default::default()
    };
    c.update_user(bearer(update, &token))
        .await
        .expect("update NOPE");
    let now = tickermesh_core::now_unix_ms();
    assert!(quotes::watched_tickers(pool, now)
        .await
        .unwrap()
        .contains(&"NOPE".to_owned()));
}
on_both_backends!(unknown_symbol, a_symbol_the_market_does_not_know);
