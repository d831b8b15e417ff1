//! Two notify processes and one alert: the alert is claimed in the database before it is
//! mailed, so the second one waits (its event is retried) instead of mailing it again — as
//! after a rebalance, when the new owner of a partition reads what the old owner is still
//! mailing, or when two replicas take one user's digest. A claim whose notify stopped runs out
//! and is taken over, with the cooldown it had claimed. Real notify servers on port 0 (each
//! with its own locks and SMTP connections), a real SMTP server that can hold messages at
//! DATA, both databases.

use std::time::Duration;

use tickermesh_core::store::Store;
use tickermesh_tests::db::{alert, hold_alert, register, store_alert};
use tickermesh_tests::notify::{notify_server, post_alert, post_digest};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::{eventually, on_both_backends, Backend, TestDb, TestServer};

const HOUR_MS: i64 = 3_600_000;

async fn outcome(store: &Store, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT outcome FROM sent_alerts WHERE alert_id = ?")
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .unwrap()
}

async fn sql(store: &Store, sql: &str, value: i64) {
    sqlx::query(sql)
        .bind(value)
        .execute(store.pool())
        .await
        .unwrap();
}

/// An SMTP server and two notify processes mailing through it.
async fn two_notifies(store: &Store) -> (SmtpServer, TestServer, TestServer) {
    let smtp = SmtpServer::start();
    let first = notify_server(store, &smtp.url()).await;
    let second = notify_server(store, &smtp.url()).await;
    (smtp, first, second)
}

async fn held_at_data(smtp: &SmtpServer, n: usize) {
    eventually(
        Duration::from_secs(10),
        "a message held at DATA",
        || async { (smtp.held() == n).then_some(()) },
    )
    .await;
}

/// An answer that does not wait for the held message (a second e-mail would wait at DATA).
async fn at_once<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("an answer while the first message is held: no second e-mail started")
}

/// The second notify, given an alert the first is mailing, asks for the event again and mails
/// nothing; once the first has recorded it, the second finds it handled.
async fn one_alert_two_notifies(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (smtp, first, second) = two_notifies(&store).await;
    store_alert(&store, &alert("c-1", "c@example.com")).await;

    smtp.hold();
    let url = first.url();
    let mailing = tokio::spawn(async move { post_alert(&url, "c-1", "c@example.com").await });
    held_at_data(&smtp, 1).await;
    let r = at_once(post_alert(&second.url(), "c-1", "c@example.com")).await;
    // 409, "processing in progress" in Knative's data plane contract: delivered again.
    assert_eq!(r.status(), 409, "being mailed elsewhere: deliver it again");
    assert_eq!(smtp.held(), 1, "no second message started");
    assert_eq!(outcome(&store, "c-1").await.as_deref(), Some("sending"));

    smtp.release();
    let r = mailing.await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(outcome(&store, "c-1").await.as_deref(), Some("sent"));
    let r = post_alert(&second.url(), "c-1", "c@example.com").await;
    assert_eq!(r.status(), 202, "a duplicate, handled");
    assert_eq!(smtp.count(), 1, "one e-mail");
}
on_both_backends!(the_second_waits_for_the_first, one_alert_two_notifies);

/// A claim left by a notify that was killed while mailing: refused while its lease runs, taken
/// over once it has run out, and the cooldown that notify had claimed for the alert counts as
/// this alert's (it is mailed, not recorded `cooldown`).
async fn claim_of_a_killed_notify(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    register(&store, "k@example.com", "AAPL", None, Some(250.0)).await;
    let watch: i64 = sqlx::query_scalar("SELECT id FROM subscriptions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let smtp = SmtpServer::start();
    let notify = notify_server(&store, &smtp.url()).await;
    let mut crossed = alert("AAPL/k/above/1", "k@example.com");
    crossed.subscription_id = Some(watch);
    store_alert(&store, &crossed).await;
    // What the killed notify left: the alert claimed at `at`, the watch's cooldown claimed at
    // the same instant, the lease running.
    let at = tickermesh_core::now_unix_ms() - 1_000;
    sqlx::query(
        "INSERT INTO sent_alerts (alert_id, outcome, handled_at_ms, claim_token, lease_until_ms) \
         VALUES (?, 'sending', ?, 7, ?)",
    )
    .bind(&crossed.alert_id)
    .bind(at)
    .bind(at + HOUR_MS)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE subscriptions SET cooldown_ms = ?, last_mailed_at_ms = ? WHERE id = ?")
        .bind(HOUR_MS)
        .bind(at)
        .bind(watch)
        .execute(store.pool())
        .await
        .unwrap();

    let r = post_alert(&notify.url(), &crossed.alert_id, "k@example.com").await;
    assert_eq!(r.status(), 409, "claimed, the lease running");
    assert_eq!(smtp.count(), 0);

    sql(
        &store,
        "UPDATE sent_alerts SET lease_until_ms = ? WHERE outcome = 'sending'",
        at,
    )
    .await;
    // Taken over first by a notify whose mail server is away: nothing sent, and what it gives
    // back still says the cooldown was claimed for this alert.
    let away = tickermesh_tests::proc::free_port();
    let stranded = notify_server(&store, &format!("smtp://127.0.0.1:{away}")).await;
    let r = post_alert(&stranded.url(), &crossed.alert_id, "k@example.com").await;
    assert_eq!(r.status(), 503, "the mail server away: deliver it again");
    let recorded = outcome(&store, &crossed.alert_id).await;
    assert!(
        matches!(recorded.as_deref(), None | Some("sending")),
        "{recorded:?}"
    );
    let r = post_alert(&notify.url(), &crossed.alert_id, "k@example.com").await;
    assert_eq!(r.status(), 202);
    assert_eq!(smtp.count(), 1, "mailed by the notify that took it over");
    assert_eq!(
        outcome(&store, &crossed.alert_id).await.as_deref(),
        Some("sent")
    );
    let (token, lease): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT claim_token, lease_until_ms FROM sent_alerts WHERE alert_id = ?")
            .bind(&crossed.alert_id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((token, lease), (None, None), "the claim is finished");
    let mailed: Option<i64> =
        sqlx::query_scalar("SELECT last_mailed_at_ms FROM subscriptions WHERE id = ?")
            .bind(watch)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        mailed,
        Some(at),
        "the cooldown claimed for the alert counts"
    );

    // The watch's next alert is within that cooldown: recorded, not mailed.
    let mut next = alert("AAPL/k/above/2", "k@example.com");
    next.subscription_id = Some(watch);
    store_alert(&store, &next).await;
    let r = post_alert(&notify.url(), &next.alert_id, "k@example.com").await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        outcome(&store, &next.alert_id).await.as_deref(),
        Some("cooldown")
    );
    assert_eq!(smtp.count(), 1);
}
on_both_backends!(taken_over_when_it_runs_out, claim_of_a_killed_notify);

/// Two digests of one user on two notify processes at once: the second finds the held alerts
/// claimed and mails nothing; one digest e-mail lists them all.
async fn one_digest_two_notifies(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (smtp, first, second) = two_notifies(&store).await;
    let now = tickermesh_core::now_unix_ms();
    for id in ["d-1", "d-2"] {
        store_alert(&store, &alert(id, "d@example.com")).await;
        hold_alert(&store, id, now).await;
    }

    smtp.hold();
    let url = first.url();
    let mailing = tokio::spawn(async move { post_digest(&url, "d@example.com", now).await });
    held_at_data(&smtp, 1).await;
    let r = at_once(post_digest(&second.url(), "d@example.com", now)).await;
    assert_eq!(r.status(), 202, "nothing due that is not claimed");
    assert_eq!(smtp.held(), 1, "no second digest started");

    smtp.release();
    assert_eq!(mailing.await.unwrap().status(), 202);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one digest");
    for id in ["d-1", "d-2"] {
        assert_eq!(outcome(&store, id).await.as_deref(), Some("sent"), "{id}");
    }
    let r = post_digest(&second.url(), "d@example.com", now).await;
    assert_eq!(r.status(), 202);
    assert_eq!(smtp.count(), 1, "a repeated digest mails nothing");

    // A digest claimed by a notify that stopped: its alerts are due again once the claim has
    // run out, and mailed then.
    store_alert(&store, &alert("d-3", "d@example.com")).await;
    hold_alert(&store, "d-3", now).await;
    sqlx::query(
        "UPDATE sent_alerts SET outcome = 'sending', claim_token = 9, lease_until_ms = ? \
         WHERE alert_id = 'd-3'",
    )
    .bind(now + HOUR_MS)
    .execute(store.pool())
    .await
    .unwrap();
    let r = post_digest(&second.url(), "d@example.com", now).await;
    assert_eq!(r.status(), 202);
    assert_eq!(smtp.count(), 1, "claimed, the lease running");
    sql(
        &store,
        "UPDATE sent_alerts SET lease_until_ms = ? WHERE alert_id = 'd-3'",
        now - 1,
    )
    .await;
    // The alert's own event, delivered again meanwhile, leaves the digest's claim alone.
    let r = post_alert(&second.url(), "d-3", "d@example.com").await;
    assert_eq!(r.status(), 409, "a digest's claim is the digest's");
    assert_eq!(smtp.count(), 1);
    let r = post_digest(&second.url(), "d@example.com", now).await;
    assert_eq!(r.status(), 202);
    assert_eq!(smtp.count(), 2, "taken over and mailed");
    assert_eq!(outcome(&store, "d-3").await.as_deref(), Some("sent"));
}
on_both_backends!(the_second_digest_finds_nothing, one_digest_two_notifies);
