//! The one-click unsubscribe link over the wire, on SQLite and MariaDB: the unsubscribe
//! function's router on port 0, a real HTTP client, the users written and read with plain SQL.
//! A POST stops the user's alerts once; GET, a tampered or another user's token, and malformed
//! parameters change nothing.

use reqwest::{Client, Response, StatusCode};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::Store;
use tickermesh_tests::{Backend, TestDb, TestServer};

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

fn key() -> SigningKey {
    SigningKey::new(b"a test signing key of 32 bytes or more".to_vec()).unwrap()
}

/// A confirmed user with this address, written as the register function's rows would be.
async fn user(store: &Store, email: &str) -> i64 {
    let now = tickermesh_core::now_unix_ms();
    sqlx::query(
        "INSERT INTO users (email, created_at_ms, updated_at_ms, confirmed_at_ms) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(email)
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
        .bind(email)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn unsubscribed_at(store: &Store, id: i64) -> Option<i64> {
    sqlx::query_scalar("SELECT unsubscribed_at_ms FROM users WHERE id = ?")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

struct Site {
    server: TestServer,
    client: Client,
}

impl Site {
    async fn start(store: &Store) -> Self {
        tickermesh_tests::init_logs();
        let app = tickermesh_unsubscribe::router(store.clone(), key());
        Self {
            server: TestServer::start(app).await,
            client: Client::new(),
        }
    }

    fn url(&self, query: &str) -> String {
        format!("{}/unsubscribe?{query}", self.server.url())
    }

    async fn get(&self, query: &str) -> Response {
        self.client.get(self.url(query)).send().await.unwrap()
    }

    /// A POST as RFC 8058 mail clients send it (`body` = `List-Unsubscribe=One-Click`), as the
    /// page's form does (the same), or with no body at all.
    async fn post(&self, query: &str, body: Option<&str>) -> Response {
        let request = self.client.post(self.url(query));
        let request = match body {
            Some(body) => request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned()),
            None => request,
        };
        request.send().await.unwrap()
    }
}

fn link(id: i64, email: &str) -> String {
    format!("u={id}&t={}", key().unsubscribe_token(id, email))
}

/// Status and page of a response; every page is HTML that stays out of caches and frames.
async fn page(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    (status, response.text().await.unwrap())
}

async fn the_post_stops_alerts_once_and_get_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let site = Site::start(&store).await;
    let ada = user(&store, "ada@example.com").await;
    let bob = user(&store, "bob@example.com").await;

    // GET: a page asking to confirm, with a form that posts back; nothing changes.
    let (status, html) = page(site.get(&link(ada, "ada@example.com")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(
        html.contains("name=\"List-Unsubscribe\" value=\"One-Click\""),
        "{html}"
    );
    assert!(html.contains("ada@example.com"), "{html}");
    let head = site.client.head(site.url(&link(ada, "ada@example.com")));
    assert_eq!(head.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        unsubscribed_at(&store, ada).await,
        None,
        "GET changed something"
    );

    // The one-click POST stops ada's alerts, and only hers.
    let response = site
        .post(&link(ada, "ada@example.com"), Some(ONE_CLICK))
        .await;
    let (status, html) = page(response).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("You are unsubscribed"), "{html}");
    let first = unsubscribed_at(&store, ada)
        .await
        .expect("ada unsubscribed");
    assert_eq!(unsubscribed_at(&store, bob).await, None);

    // Again: 200, and the first time stays.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let response = site
        .post(&link(ada, "ada@example.com"), Some(ONE_CLICK))
        .await;
    assert_eq!(page(response).await.0, StatusCode::OK);
    assert_eq!(unsubscribed_at(&store, ada).await, Some(first));
    let (status, html) = page(site.get(&link(ada, "ada@example.com")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("already") || html.contains("are stopped"),
        "{html}"
    );
    assert!(!html.contains("<form"), "{html}");

    // A POST with no body works as well.
    let response = site.post(&link(bob, "bob@example.com"), None).await;
    assert_eq!(page(response).await.0, StatusCode::OK);
    assert!(unsubscribed_at(&store, bob).await.is_some());

    // The link of a user who is gone: 200, nothing to stop, nothing else said.
    let gone = 9_000_000;
    let response = site
        .post(&link(gone, "gone@example.com"), Some(ONE_CLICK))
        .await;
    let (status, html) = page(response).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("gone@example.com"), "{html}");

    // The outcomes are counted.
    let metrics = tickermesh_tests::http_get(site.server.addr, "/metrics").await;
    for outcome in ["unsubscribed", "already", "gone", "shown"] {
        assert!(
            metrics.contains(&format!("outcome=\"{outcome}\"")),
            "{outcome}: {metrics}"
        );
    }
    site.server.stop().await;
    store.close().await;
}

async fn bad_links_change_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let site = Site::start(&store).await;
    let ada = user(&store, "ada@example.com").await;
    let eve = user(&store, "eve@example.com").await;
    let token = key().unsubscribe_token(ada, "ada@example.com");

    // Well formed, but not ada's: tampered, eve's, ada's under another key, ada's under an
    // address she does not have → 403, for GET and POST alike.
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other_key = SigningKey::new(vec![7; 32]).unwrap();
    for query in [
        format!("u={ada}&t={tampered}"),
        format!(
            "u={ada}&t={}",
            key().unsubscribe_token(eve, "eve@example.com")
        ),
        format!(
            "u={ada}&t={}",
            other_key.unsubscribe_token(ada, "ada@example.com")
        ),
        format!(
            "u={ada}&t={}",
            key().unsubscribe_token(ada, "Ada@example.com")
        ),
        format!("u={eve}&t={token}"),
    ] {
        let (status, html) = page(site.post(&query, Some(ONE_CLICK)).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{query}: {html}");
        assert!(html.contains("not valid"), "{html}");
        assert_eq!(page(site.get(&query).await).await.0, StatusCode::FORBIDDEN);
    }

    // Malformed → 400 before anything is looked up.
    for query in [
        String::new(),
        format!("u={ada}"),
        format!("t={token}"),
        format!("u=abc&t={token}"),
        format!("u=-{ada}&t={token}"),
        format!("u={ada}&t={}", &token[1..]),
        format!("u={ada}&t={token}&t={token}"),
        format!(
            "u={ada}&t={}",
            token.replace(|c: char| c.is_ascii_digit(), "%2B")
        ),
    ] {
        let (status, _) = page(site.post(&query, Some(ONE_CLICK)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            page(site.get(&query).await).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        unsubscribed_at(&store, ada).await,
        None,
        "a bad link changed ada"
    );
    assert_eq!(
        unsubscribed_at(&store, eve).await,
        None,
        "a bad link changed eve"
    );

    // Other methods are not the link.
    let put = site.client.put(site.url(&link(ada, "ada@example.com")));
    assert_eq!(
        put.send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(unsubscribed_at(&store, ada).await, None);

    // Whatever the address holds is escaped on the page.
    let odd = "<b>o'hara</b>&\"x\"@example.com";
    let id = user(&store, odd).await;
    let (status, html) = page(site.get(&link(id, odd)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&lt;b&gt;o&#39;hara&lt;/b&gt;&amp;&quot;x&quot;@example.com"),
        "{html}"
    );
    assert!(!html.contains("<b>"), "{html}");
    site.server.stop().await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_the_post_stops_alerts_once_and_get_changes_nothing() {
    the_post_stops_alerts_once_and_get_changes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn mariadb_the_post_stops_alerts_once_and_get_changes_nothing() {
    the_post_stops_alerts_once_and_get_changes_nothing(Backend::MariaDb).await;
}

#[tokio::test]
async fn sqlite_bad_links_change_nothing() {
    bad_links_change_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn mariadb_bad_links_change_nothing() {
    bad_links_change_nothing(Backend::MariaDb).await;
}
