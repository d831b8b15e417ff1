//! evaluate by sets, against the model: for many watchers with all kinds of thresholds, a walk
//! of prices and thresholds changed on the way, the alerts stored are exactly those the
//! edge-triggered rules of `crossing.rs` give, watcher by watcher; a redelivered or older
//! quote changes nothing, and a quote that moves nobody writes nothing to the subscriptions.
//! The same for percent moves from the previous close against `move_rule.rs`, with the move
//! statements' query plans, and a move from the fake Yahoo's previous close to a stored
//! alert and its e-mail. Then the checks on quote events, over HTTP: a forged source and an
//! absurd jump are refused and counted, a normal quote still alerts.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::Row;

use tickermesh_core::events::{ChannelBus, Direction, QuoteCollected};
use tickermesh_core::store::{evaluation, Store};
use tickermesh_evaluate::crossing::{decide, position, AlertState};
use tickermesh_evaluate::Evaluator;
use tickermesh_tests::db::{register, store_quote};
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{http_get, on_both_backends, Backend, TestDb, TestServer};

/// The thresholds of watcher `i`: bands of different widths, one side only, or none.
fn band(i: usize) -> (Option<f64>, Option<f64>) {
    let lo = 60.0 + (i % 9) as f64 * 3.0;
    let hi = 130.0 + (i % 7) as f64 * 5.0;
    match i % 5 {
        0 => (Some(lo), None),
        1 => (None, Some(hi)),
        2 => (None, None),
        _ => (Some(lo), Some(hi)),
    }
}

/// The new band of watcher `i` when its thresholds change on the way (every fourth one).
fn changed_band(i: usize) -> (Option<f64>, Option<f64>) {
    (
        Some(45.0 + (i % 4) as f64),
        Some(110.0 + (i % 6) as f64 * 2.0),
    )
}

/// Every subscription row as it is stored, to see that a quote wrote none.
async fn snapshot(store: &Store) -> Vec<(i64, String, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, alert_state, evaluated_market_time_ms FROM subscriptions ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

fn quote(ticker: &str, market_time_ms: i64, price: f64) -> QuoteCollected {
    QuoteCollected {
        ticker: ticker.into(),
        price,
        currency: "USD".into(),
        market_time_ms,
        collected_at_ms: market_time_ms,
        simulated: false,
        previous_close: None,
    }
}

async fn matches_the_model(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 120;
    let mut bands: Vec<_> = (0..N).map(band).collect();
    for (i, (min, max)) in bands.iter().enumerate() {
        register(&store, &format!("w{i}@example.com"), "SET", *min, *max).await;
    }
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 10_000);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");

    let mut model = [AlertState::Armed; N];
    let mut expected: BTreeMap<(String, &str), i64> = BTreeMap::new();
    let t0 = recent_s() * 1000;
    let prices = [
        100.0, 160.0, 170.0, 100.0, 40.0, 45.0, 200.0, 100.0, 100.5, 61.0, 150.0, 120.0, 44.0,
    ];
    for (k, price) in prices.into_iter().enumerate() {
        if k == 5 || k == 10 {
            // Thresholds changed between quotes: the update re-arms (as users::update does).
            for i in (k % 4..N).step_by(4) {
                bands[i] = changed_band(i + k);
                let (min, max) = bands[i];
                sqlx::query(
                    "UPDATE subscriptions SET min_price = ?, max_price = ?, \
                     alert_state = 'armed', evaluated_market_time_ms = NULL \
                     WHERE user_id = (SELECT id FROM users WHERE email = ?)",
                )
                .bind(min)
                .bind(max)
                .bind(format!("w{i}@example.com"))
                .execute(store.pool())
                .await
                .unwrap();
                model[i] = AlertState::Armed;
            }
        }
        let quote = quote("SET", t0 + k as i64 * 60_000, price);
        let mut alerts_now = 0;
        for (i, state) in model.iter_mut().enumerate() {
            let (min, max) = bands[i];
            let (next, alert) = decide(*state, position(price, min, max));
            *state = next;
            if let Some(d) = alert {
                *expected
                    .entry((format!("w{i}@example.com"), d.as_str()))
                    .or_default() += 1;
                alerts_now += 1;
            }
        }
        let before = snapshot(&store).await;
        let created = evaluator.evaluate(&quote).await.unwrap();
        assert_eq!(created, alerts_now, "quote {k} at {price}");
        if k == 8 {
            // 100 → 100.5 moves nobody: not a single subscription is written.
            assert_eq!(snapshot(&store).await, before);
        }
        // The same quote again, and an older one: nothing.
        assert_eq!(evaluator.evaluate(&quote).await.unwrap(), 0, "redelivery");
        let older = QuoteCollected {
            market_time_ms: quote.market_time_ms - 30_000,
            price: 1.0,
            ..quote.clone()
        };
        assert_eq!(evaluator.evaluate(&older).await.unwrap(), 0, "older quote");
    }
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT a.email, a.direction, a.alert_id, a.market_time_ms, s.id FROM alerts a \
         JOIN users u ON u.email = a.email JOIN subscriptions s ON s.user_id = u.id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut stored: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for (email, direction, id, time, subscription) in rows {
        let d = Direction::parse(&direction).unwrap();
        assert_eq!(id, evaluation::alert_id("SET", subscription, d, time));
        *stored.entry((email, d.as_str())).or_default() += 1;
    }
    assert_eq!(stored, expected);
    // Where each subscription stands, as shown to its user, is the model's.
    let states: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT u.email, {} FROM subscriptions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN quote_evaluations e ON e.ticker = s.ticker",
        evaluation::ALERT_STATE_SQL
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(states.len(), N);
    for (email, state) in states {
        let i: usize = email[1..email.find('@').unwrap()].parse().unwrap();
        assert_eq!(state, model[i].as_str(), "{email}");
    }
}
on_both_backends!(set_based_evaluation, matches_the_model);

/// Subscriptions evaluated before the ticker kept its last price (rows from before the
/// migration: `above`, `below`) are judged on their own state once, then follow the price.
async fn states_from_before_are_kept(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for (email, state) in [("up@x.example", "above"), ("down@x.example", "below")] {
        register(&store, email, "OLD", Some(50.0), Some(100.0)).await;
        sqlx::query(
            "UPDATE subscriptions SET alert_state = ?, evaluated_market_time_ms = 1 \
             WHERE user_id = (SELECT id FROM users WHERE email = ?)",
        )
        .bind(state)
        .bind(email)
        .execute(store.pool())
        .await
        .unwrap();
    }
    register(&store, "new@x.example", "OLD", Some(50.0), Some(100.0)).await;
    let t0 = recent_s() * 1000;
    sqlx::query("INSERT INTO quote_evaluations (ticker, market_time_ms) VALUES ('OLD', ?)")
        .bind(t0)
        .execute(store.pool())
        .await
        .unwrap();
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 100);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    // 120: the row already above stays quiet, the one below and the new one cross.
    let walk = [(120.0, 2), (130.0, 0), (90.0, 0), (40.0, 3), (120.0, 3)];
    for (k, (price, alerts)) in walk.into_iter().enumerate() {
        let q = quote("OLD", t0 + (k as i64 + 1) * 60_000, price);
        assert_eq!(evaluator.evaluate(&q).await.unwrap(), alerts, "at {price}");
    }
}
on_both_backends!(states_from_before, states_from_before_are_kept);

/// The outbox goes out whole and once: 2,500 alerts of one quote, published in batches (read
/// on from a cursor while the batch before is marked), each id once on the bus, none left.
async fn outbox_goes_out_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 2_500;
    let users: Vec<String> = (0..N)
        .map(|i| format!("('p{i}@example.com', 1, 1)"))
        .collect();
    let sql = format!(
        "INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES {}",
        users.join(", ")
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
    sqlx::query(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, created_at_ms, \
         updated_at_ms) SELECT id, 'PUB', 50, 150, 1, 1 FROM users",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let mut bus = ChannelBus::new();
    let mut alerts = bus.topic("threshold-alerts", 2 * N);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    let t0 = recent_s() * 1000;
    assert_eq!(
        evaluator.evaluate(&quote("PUB", t0, 100.0)).await.unwrap(),
        0
    );
    let crossing = quote("PUB", t0 + 60_000, 200.0);
    assert_eq!(evaluator.evaluate(&crossing).await.unwrap(), N);
    assert_eq!(
        evaluator.publish_pending().await.unwrap(),
        0,
        "nothing left"
    );
    let mut ids = std::collections::BTreeSet::new();
    while let Ok((_, event)) = alerts.try_recv() {
        assert!(ids.insert(cloudevents::AttributesReader::id(&event).to_owned()));
    }
    assert_eq!(ids.len(), N);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE published_at_ms IS NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
on_both_backends!(outbox, outbox_goes_out_once);

/// The move percent of watcher `i`: none, or 2 to 10 %.
fn move_of(i: usize) -> Option<f64> {
    [None, Some(2.0), Some(5.0), Some(7.5), Some(10.0), Some(3.0)][i % 6]
}

/// Sets the move percent of `email`'s watch, re-armed (as an update of it does).
async fn set_move(store: &Store, email: &str, move_percent: Option<f64>) {
    sqlx::query(
        "UPDATE subscriptions SET move_percent = ?, alert_state = 'armed', \
         evaluated_market_time_ms = NULL WHERE user_id = (SELECT id FROM users WHERE email = ?)",
    )
    .bind(move_percent)
    .bind(email)
    .execute(store.pool())
    .await
    .unwrap();
}

async fn subscription_id(store: &Store, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT s.id FROM subscriptions s JOIN users u ON u.id = s.user_id WHERE u.email = ?",
    )
    .bind(email)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

fn quote_with(ticker: &str, market_time_ms: i64, price: f64, close: Option<f64>) -> QuoteCollected {
    QuoteCollected {
        previous_close: close,
        ..quote(ticker, market_time_ms, price)
    }
}

/// One stored alert: id, threshold, reference, subscription.
type AlertRow = (String, f64, Option<f64>, Option<i64>);

/// Watchers with move percents (and thresholds), a walk of prices and previous closes — no
/// close, a new day's close, a nonsense one, move percents changed on the way — store
/// exactly the alerts `move_rule.rs` and `crossing.rs` give, each with its threshold or
/// percent, reference and subscription; and a tracking subscription is never written.
async fn moves_match_the_model(backend: Backend) {
    use tickermesh_evaluate::move_rule::{self, percent_move, MovePosition};
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 72;
    let email = |i: usize| format!("m{i}@example.com");
    let bands: Vec<_> = (0..N).map(band).collect();
    let mut moves: Vec<_> = (0..N).map(move_of).collect();
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let (min, max) = bands[i];
        register(&store, &email(i), "MOV", min, max).await;
        set_move(&store, &email(i), moves[i]).await;
        ids.push(subscription_id(&store, &email(i)).await);
    }
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 10_000);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");

    let mut bands_state = [AlertState::Armed; N];
    let mut move_state = [MovePosition::Inside; N];
    let mut last_reference: Option<f64> = None;
    let mut expected: Vec<AlertRow> = Vec::new();
    let t0 = recent_s() * 1000;
    let walk: [(f64, Option<f64>); 18] = [
        (100.0, Some(100.0)),
        (103.0, Some(100.0)),
        (106.0, Some(100.0)),
        (104.0, None), // no close: no move, and the next one moves from nothing
        (104.0, Some(100.0)),
        (99.0, Some(100.0)), // after move percents changed
        (92.0, Some(100.0)),
        (89.0, Some(100.0)),
        (112.0, Some(100.0)),
        (112.5, Some(110.0)), // a new day's close
        (104.0, Some(110.0)),
        (100.0, Some(0.0)), // a close that is no reference
        (110.0, Some(100.0)),
        (100.0, Some(100.0)), // after move percents changed
        (97.0, Some(100.0)),
        (140.0, Some(100.0)), // over maximums too
        (70.0, Some(100.0)),  // under minimums too
        (100.0, Some(100.0)),
    ];
    for (k, (price, close)) in walk.into_iter().enumerate() {
        let rearmed = k == 5 || k == 13;
        if rearmed {
            for i in (k % 4..N).step_by(4) {
                moves[i] = [Some(4.0), None, Some(1.0), Some(6.0)][(i / 4 + k) % 4];
                set_move(&store, &email(i), moves[i]).await;
                bands_state[i] = AlertState::Armed;
                move_state[i] = MovePosition::Inside;
            }
        }
        let t = t0 + k as i64 * 60_000;
        let reference = close.filter(|c| *c > 0.0);
        let pct = percent_move(price, reference);
        // A new previous close starts a new session: every watch starts it inside.
        if reference != last_reference {
            move_state = [MovePosition::Inside; N];
        }
        last_reference = reference;
        let mut alerts_now = 0;
        for i in 0..N {
            let (min, max) = bands[i];
            let (next, alert) = decide(bands_state[i], position(price, min, max));
            bands_state[i] = next;
            if let Some(d) = alert {
                let threshold = if d == Direction::Above { max } else { min };
                let id = evaluation::alert_id("MOV", ids[i], d, t);
                expected.push((id, threshold.unwrap(), None, Some(ids[i])));
                alerts_now += 1;
            }
            let now = move_rule::position(pct, moves[i]);
            if let Some(d) = move_rule::decide(move_state[i], now) {
                let id = evaluation::alert_id("MOV", ids[i], d, t);
                expected.push((id, moves[i].unwrap(), reference, Some(ids[i])));
                alerts_now += 1;
            }
            move_state[i] = now;
        }
        let before = snapshot(&store).await;
        let q = quote_with("MOV", t, price, close);
        let created = evaluator.evaluate(&q).await.unwrap();
        assert_eq!(
            created, alerts_now,
            "{backend:?}: quote {k} at {price} from {close:?}"
        );
        if k > 0 && !rearmed {
            assert_eq!(
                snapshot(&store).await,
                before,
                "quote {k} wrote subscriptions"
            );
        }
        assert_eq!(evaluator.evaluate(&q).await.unwrap(), 0, "redelivery");
        let older = quote_with("MOV", t - 30_000, 300.0, Some(1.0));
        assert_eq!(evaluator.evaluate(&older).await.unwrap(), 0, "older quote");
    }
    let mut stored: Vec<AlertRow> =
        sqlx::query_as("SELECT alert_id, threshold, reference, subscription_id FROM alerts")
            .fetch_all(store.pool())
            .await
            .unwrap();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(stored, expected, "{backend:?}");
    // Every kind happened, so the comparison means something.
    for d in Direction::ALL {
        let tag = format!("/{}/", d.as_str());
        assert!(stored.iter().any(|a| a.0.contains(&tag)), "no {tag} alert");
    }
}
on_both_backends!(percent_moves, moves_match_the_model);

/// The move statements read one index range each: `subscriptions_state_move`, on a ticker
/// whose many watchers have no move percent.
async fn move_statements_use_their_index(backend: Backend) {
    use tickermesh_core::store::evaluation::conditions::{OWN_MOVE, TRACKING_MOVE};
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let users: Vec<String> = (0..2_000)
        .map(|i| format!("('x{i}@example.com', 1, 1)"))
        .collect();
    let sql = format!(
        "INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES {}",
        users.join(", ")
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
    // Most track a band, a few have a move percent, some are armed; two tickers.
    sqlx::query(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, move_percent, \
         alert_state, created_at_ms, updated_at_ms) \
         SELECT id, CASE WHEN id % 2 = 0 THEN 'PLAN' ELSE 'OTHER' END, 50, 150, \
                CASE WHEN id % 50 = 0 THEN 5 END, \
                CASE WHEN id % 10 = 0 THEN 'armed' ELSE 'tracking' END, 1, 1 FROM users",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let analyze = match backend {
        Backend::MariaDb => "ANALYZE TABLE subscriptions",
        Backend::Sqlite => "ANALYZE",
    };
    sqlx::query(analyze).execute(store.pool()).await.unwrap();
    for (condition, binds) in [
        (TRACKING_MOVE, ["6.5", "2.25"].as_slice()),
        (OWN_MOVE, &["6.5"]),
    ] {
        let mut select = format!(
            "SELECT s.id, u.email, s.move_percent FROM subscriptions s \
             JOIN users u ON u.id = s.user_id WHERE s.ticker = 'PLAN' AND {condition}"
        );
        for b in binds {
            select = select.replacen('?', b, 1);
        }
        match backend {
            Backend::MariaDb => {
                let rows = sqlx::query(&format!("EXPLAIN {select}"))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                let plan: Vec<(Option<String>, Option<String>, Option<String>)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.try_get("table").unwrap(),
                            r.try_get("type").unwrap(),
                            r.try_get("key").unwrap(),
                        )
                    })
                    .collect();
                let s = plan.iter().find(|p| p.0.as_deref() == Some("s")).unwrap();
                assert_eq!(s.1.as_deref(), Some("range"), "{select}: {plan:?}");
                assert_eq!(s.2.as_deref(), Some("subscriptions_state_move"), "{plan:?}");
            }
            Backend::Sqlite => {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {select}"))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                let details: Vec<String> =
                    rows.iter().map(|r| r.try_get("detail").unwrap()).collect();
                assert!(
                    details.iter().any(|d| d.starts_with("SEARCH s USING")
                        && d.contains("INDEX subscriptions_state_move (ticker=? AND alert_state")
                        && d.contains("move_percent")),
                    "{select}: {details:?}"
                );
            }
        }
    }
}
on_both_backends!(move_plans, move_statements_use_their_index);

/// From the market to a stored alert and its e-mail: the fake Yahoo answers 105.20 with a
/// previous close of 100; collect stores and publishes the quote with it; evaluate takes the
/// event and alerts the 5 % watcher up (not the 6 % one), the alert stored with its
/// subscription, percent and reference; its e-mail says the move. Without a previous close
/// the next quote alerts no move.
async fn a_move_from_the_market_to_an_alert(backend: Backend) {
    use tickermesh_collect::{CollectConfig, Collector, MarketKind};
    use tickermesh_core::events::{EventHandler, ThresholdCrossed};
    use tickermesh_core::store::alerts;
    use tickermesh_tests::yahoo::{FakeYahoo, Reply};
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for (email, percent) in [("five@example.com", 5.0), ("six@example.com", 6.0)] {
        register(&store, email, "MKT", None, None).await;
        set_move(&store, email, Some(percent)).await;
    }
    let yahoo = FakeYahoo::start().await;
    let t = recent_s();
    yahoo.set(
        "MKT",
        Reply::Price {
            price: 105.2,
            market_time_s: t,
        },
    );
    yahoo.set_previous_close("MKT", Some(100.0));
    let config = CollectConfig {
        market: MarketKind::Yahoo,
        yahoo_base_url: yahoo.base_url().parse().unwrap(),
        yahoo_timeout: std::time::Duration::from_secs(2),
        yahoo_rate_limit: std::num::NonZeroU32::new(1_000).unwrap(),
        concurrency: 4,
        breaker_failures: 3,
        breaker_cooldown: std::time::Duration::from_secs(60),
        quotes_topic: "ticker-quotes".into(),
    };
    let mut quotes_bus = ChannelBus::new();
    let mut quotes = quotes_bus.topic("ticker-quotes", 16);
    let collector = Collector::new(store.clone(), &config, Arc::new(quotes_bus)).unwrap();
    let mut alerts_bus = ChannelBus::new();
    let mut alert_events = alerts_bus.topic("threshold-alerts", 16);
    let evaluator = Evaluator::new(store.clone(), Arc::new(alerts_bus), "threshold-alerts");

    assert_eq!(collector.collect().await.unwrap().stored, 1);
    let (_, event) = quotes.try_recv().unwrap();
    let collected = QuoteCollected::from_event(&event).unwrap();
    assert_eq!(
        collected.previous_close,
        Some(100.0),
        "the event carries the close"
    );
    let stored = tickermesh_core::store::quotes::find(store.pool(), "MKT", t * 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.previous_close, Some(100.0), "the quote row keeps it");
    evaluator.handle(&event).await.unwrap();

    let (key, alert_event) = alert_events.try_recv().unwrap();
    assert_eq!(key, "five@example.com");
    assert!(alert_events.try_recv().is_err(), "6 % was not reached");
    let sent = ThresholdCrossed::from_event(&alert_event).unwrap();
    let id = subscription_id(&store, "five@example.com").await;
    assert_eq!(
        sent.alert_id,
        evaluation::alert_id("MKT", id, Direction::Up, t * 1000)
    );
    let alert = alerts::find(store.pool(), &sent.alert_id)
        .await
        .unwrap()
        .unwrap()
        .alert;
    assert_eq!(alert, sent, "the event says what is stored");
    assert_eq!(
        (alert.direction, alert.price, alert.threshold),
        (Direction::Up, 105.2, 5.0)
    );
    assert_eq!(
        (alert.reference, alert.subscription_id),
        (Some(100.0), Some(id))
    );
    let from = "tickermesh <alerts@example.com>".parse().unwrap();
    let mail = tickermesh_notify::message(&from, &alert).unwrap();
    let text = String::from_utf8(mail.formatted()).unwrap();
    assert!(
        text.contains("MKT moved up 5.2% from the previous close (your rule: 5%):"),
        "{text}"
    );

    // 107 without a previous close: quotes still flow, no move is measured.
    yahoo.set(
        "MKT",
        Reply::Price {
            price: 107.0,
            market_time_s: t + 60,
        },
    );
    yahoo.set_previous_close("MKT", None);
    assert_eq!(collector.collect().await.unwrap().stored, 1);
    let (_, event) = quotes.try_recv().unwrap();
    assert_eq!(
        QuoteCollected::from_event(&event).unwrap().previous_close,
        None
    );
    evaluator.handle(&event).await.unwrap();
    assert!(alert_events.try_recv().is_err(), "no close, no move");
    // A close back, 106.1 from 100: the 6 % watcher now (the 5 % one moved from nothing too).
    yahoo.set(
        "MKT",
        Reply::Price {
            price: 106.1,
            market_time_s: t + 120,
        },
    );
    yahoo.set_previous_close("MKT", Some(100.0));
    assert_eq!(collector.collect().await.unwrap().stored, 1);
    let (_, event) = quotes.try_recv().unwrap();
    evaluator.handle(&event).await.unwrap();
    let mut keys = Vec::new();
    while let Ok((key, _)) = alert_events.try_recv() {
        keys.push(key);
    }
    keys.sort();
    assert_eq!(keys, ["five@example.com", "six@example.com"]);
}
on_both_backends!(market_to_alert, a_move_from_the_market_to_an_alert);

/// A previous close far off the price (pence against pounds) is dropped by the guard: the
/// quote is evaluated for its thresholds, and alerts no move.
async fn a_nonsense_close_alerts_no_move(backend: Backend) {
    use tickermesh_core::events::EventHandler;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    register(&store, "p@example.com", "GBX", None, Some(150.0)).await;
    set_move(&store, "p@example.com", Some(1.0)).await;
    let mut bus = ChannelBus::new();
    let mut alerts = bus.topic("threshold-alerts", 16);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    let t = recent_s() * 1000;
    let q = quote_with("GBX", t, 190.0, Some(19_000.0));
    store_quote(&store, &q).await;
    evaluator.handle(&q.to_event().unwrap()).await.unwrap();
    let (key, event) = alerts.try_recv().unwrap();
    assert_eq!(key, "p@example.com");
    let alert = tickermesh_core::events::ThresholdCrossed::from_event(&event).unwrap();
    assert_eq!(
        alert.direction,
        Direction::Above,
        "the threshold still counts"
    );
    assert!(alerts.try_recv().is_err(), "no move from a nonsense close");
    let reference: Option<f64> =
        sqlx::query_scalar("SELECT reference FROM quote_evaluations WHERE ticker = 'GBX'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(reference, None);
}
on_both_backends!(nonsense_close, a_nonsense_close_alerts_no_move);

/// POSTs `quote`'s event as the collector does, from `source`.
async fn post_quote(url: &str, quote: &QuoteCollected, source: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header(
            "ce-id",
            format!("{}@{}", quote.ticker, quote.market_time_ms),
        )
        .header("ce-type", "tickermesh.quote.collected")
        .header("ce-source", source)
        .header("content-type", "application/json")
        .body(serde_json::to_string(quote).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `tickermesh_quotes_refused_total{reason}` as the function's `/metrics` says.
async fn refused(server: &TestServer, reason: &str) -> u64 {
    let metrics = http_get(server.addr, "/metrics").await;
    let line = format!("tickermesh_quotes_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .unwrap_or_else(|| panic!("no {line} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Over the wire, on both backends in turn (the counters are the process's): a quote event
/// from another source is refused, counted and alerts nobody; so is a price ten times off
/// the ticker's previous prices; a normal quote after it still alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_events_are_checked_against_their_source_and_the_last_price() {
    for backend in [Backend::Sqlite, Backend::MariaDb] {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        register(&store, "g@example.com", "GRD", None, Some(100.0)).await;
        let mut bus = ChannelBus::new();
        let mut alerts = bus.topic("threshold-alerts", 16);
        let evaluator = Arc::new(Evaluator::new(
            store.clone(),
            Arc::new(bus),
            "threshold-alerts",
        ));
        let server = TestServer::start(tickermesh_evaluate::router(evaluator)).await;
        let url = server.url();
        let collector = tickermesh_core::events::checks::COLLECTOR_SOURCE;
        let t = recent_s() * 1000 - 10 * 60_000;
        let at = |k: i64, price: f64| quote("GRD", t + k * 60_000, price);
        for q in [at(0, 90.0), at(1, 120.0), at(2, 5_000.0), at(3, 121.0)] {
            store_quote(&store, &q).await;
        }
        assert_eq!(post_quote(&url, &at(0, 90.0), collector).await, 202);

        let before = refused(&server, "source").await;
        let forged = "/apis/v1/namespaces/default/kafkasources/tickermesh-quotes#ticker-quotes";
        assert_eq!(
            post_quote(&url, &at(1, 120.0), forged).await,
            400,
            "{backend:?}"
        );
        assert_eq!(refused(&server, "source").await, before + 1);
        assert!(alerts.try_recv().is_err(), "a forged source alerts nobody");

        // 5,000 after 120 (collected) and 90 (evaluated): more than ten times both.
        let before = refused(&server, "jump").await;
        assert_eq!(post_quote(&url, &at(2, 5_000.0), collector).await, 400);
        assert_eq!(refused(&server, "jump").await, before + 1);
        assert!(alerts.try_recv().is_err(), "an absurd jump alerts nobody");

        // 121 follows the last evaluated 90 closely: evaluated, and it crosses 100.
        assert_eq!(post_quote(&url, &at(3, 121.0), collector).await, 202);
        let (key, _) = alerts.recv().await.unwrap();
        assert_eq!(key, "g@example.com");
    }
}
