//! The `tickerctl` binary against a real mesh: human and JSON output, server errors as a
//! non-zero exit with the server's message, retries against an endpoint that is down.

use tickermesh_tests::access::code_of;
use tickermesh_tests::db::insert_prices;
use tickermesh_tests::proc::{free_port, stdout, tickerctl, Tickerctl};
use tickermesh_tests::{spawn_mesh, Backend, TestDb};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The token `tickerctl confirm` stored for `email` at `endpoint`.
fn stored_token(cli: &Tickerctl, email: &str) -> Option<String> {
    let text = std::fs::read_to_string(cli.token_file()).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).expect("token file is JSON");
    json["endpoints"][cli.endpoint.trim_end_matches('/')][email]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_queries_from_the_cli() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let cli = Tickerctl::new(&server.url());

    let out = stdout(
        &cli.run(&["register", "cli@example.com", "aapl", "--max", "250"])
            .await,
    );
    assert!(
        out.contains("registered cli@example.com watching AAPL (min none, max 250)"),
        "{out}"
    );
    assert!(
        out.contains("a confirmation code was e-mailed to cli@example.com"),
        "{out}"
    );
    assert!(!cli.token_file().exists(), "no token before confirming");

    // Before confirming there is no token: the server refuses, and the CLI says what to do.
    let out = cli
        .run(&["update", "cli@example.com", "--min", "100"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Unauthenticated"), "{err}");
    assert!(err.contains("tickerctl confirm cli@example.com"), "{err}");

    let code = code_of(&ctx.store, "cli@example.com").await;
    let out = cli.run(&["confirm", "cli@example.com", "0000-0000"]).await;
    assert_eq!(out.status.code(), Some(1), "a wrong code");
    assert!(stderr(&out).contains("Unauthenticated"), "{}", stderr(&out));
    let out = stdout(&cli.run(&["confirm", "cli@example.com", &code]).await);
    assert!(out.contains("confirmed cli@example.com"), "{out}");
    let token = stored_token(&cli, "cli@example.com").expect("the token was stored");
    assert!(
        !out.contains(&token),
        "the token is not printed unless asked: {out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.token_file())
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
        let dir = cli.token_file().parent().expect("folder").to_owned();
        let mode = std::fs::metadata(dir).expect("folder").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    let out = stdout(
        &cli.run(&["update", "cli@example.com", "--min", "100", "--clear-max"])
            .await,
    );
    assert!(out.contains("(min 100, max none)"), "{out}");

    insert_prices(&ctx.store, "AAPL", &[10.0, 20.0, 30.0, 100.0]).await;
    let out = stdout(&cli.run(&["--json", "latest", "cli@example.com"]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["price"], 100.0);
    assert_eq!(json["ticker"], "AAPL");

    let out = stdout(
        &cli.run(&["--json", "average", "cli@example.com", "-n", "2"])
            .await,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["average"], 65.0);
    assert_eq!(json["count_used"], 2);

    let out = stdout(&cli.run(&["history", "cli@example.com"]).await);
    assert!(out.contains("AAPL — 4 quotes"), "{out}");
    assert!(out.contains('│') && out.contains('█'), "a chart: {out}");

    // Another address: no token of its own; this user's token (the flag) is not its.
    let out = cli.run(&["latest", "ghost@example.com"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Unauthenticated"), "{}", stderr(&out));
    let out = cli
        .run(&["--token", &token, "latest", "ghost@example.com"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("PermissionDenied"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&token), "{}", stderr(&out));

    // The variable overrides the stored token: another machine, a script.
    let elsewhere = Tickerctl::new(&server.url());
    let out = elsewhere
        .run_with(
            &["latest", "cli@example.com"],
            &[("TICKERMESH_TOKEN", &token)],
        )
        .await;
    assert!(
        stdout(&out).contains("AAPL 100.0000 USD"),
        "{}",
        stdout(&out)
    );
    let out = elsewhere
        .run_with(
            &["latest", "cli@example.com"],
            &[("TICKERMESH_TOKEN", "tmk_not-a-token")],
        )
        .await;
    assert!(stderr(&out).contains("Unauthenticated"), "{}", stderr(&out));

    let out = tickerctl(&server.url(), &["register", "bad", "AAPL"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("InvalidArgument: email"));

    let out = stdout(&cli.run(&["delete", "cli@example.com"]).await);
    assert!(out.contains("deleted cli@example.com"), "{out}");
    assert_eq!(
        stored_token(&cli, "cli@example.com"),
        None,
        "the dead token is forgotten"
    );
}

/// A lost token: `request-access` e-mails a new code, `confirm` stores the new token, and the
/// old one stops working. `--from-outbox` reads the code from a local outbox folder, and
/// `--print-token` shows the token (only then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_access_and_confirm_from_an_outbox() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let cli = Tickerctl::new(&server.url());
    stdout(&cli.run(&["register", "lost@example.com", "IBM"]).await);
    let out = stdout(
        &cli.run(&[
            "confirm",
            "lost@example.com",
            "--print-token",
            &code_of(&ctx.store, "lost@example.com").await,
        ])
        .await,
    );
    let first = stored_token(&cli, "lost@example.com").expect("stored");
    assert!(out.contains(&format!("access token: {first}")), "{out}");

    let out = stdout(&cli.run(&["request-access", "lost@example.com"]).await);
    assert!(out.contains("a code is on its way"), "{out}");
    // The same answer for an address nobody registered.
    let unknown = stdout(&cli.run(&["request-access", "nobody@example.com"]).await);
    assert!(unknown.contains("a code is on its way"), "{unknown}");

    // The outbox as `tickermesh up` writes it (the mesh here mails nothing: the e-mail is
    // written as notify writes it, with the code the server issued), with an older e-mail and
    // one to another address beside it.
    let outbox = tempfile::tempdir().unwrap();
    let mail = |to: &str, code: &str| {
        format!(
            "From: tickermesh <alerts@example.com>\r\nTo: {to}\r\n\
             Subject: Your tickermesh access code\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 7bit\r\n\r\nSomeone, hopefully you, asked.\r\n\r\n\
             Your code: {code}\r\nIt works once.\r\n"
        )
    };
    std::fs::write(
        outbox.path().join("b.eml"),
        mail("other@example.com", "11111111"),
    )
    .unwrap();
    std::fs::write(
        outbox.path().join("c.eml"),
        mail(
            "lost@example.com",
            &code_of(&ctx.store, "lost@example.com").await,
        ),
    )
    .unwrap();
    let dir = outbox.path().to_str().unwrap();
    let out = stdout(
        &cli.run(&[
            "--json",
            "confirm",
            "lost@example.com",
            "--from-outbox",
            dir,
        ])
        .await,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["confirmed"], "lost@example.com");
    assert!(json.get("access_token").is_none(), "{out}");
    let second = stored_token(&cli, "lost@example.com").expect("stored");
    assert_ne!(first, second);

    // The new token works (IBM has no quotes yet); the old one does not.
    let out = cli.run(&["latest", "lost@example.com"]).await;
    assert!(stderr(&out).contains("NotFound"), "{}", stderr(&out));
    let out = cli
        .run(&["--token", &first, "latest", "lost@example.com"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Unauthenticated"),
        "the old token was revoked: {err}"
    );
    assert!(err.contains("request-access"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let out = cli
        .run(&[
            "confirm",
            "lost@example.com",
            "--from-outbox",
            empty.path().to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no confirmation e-mail"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_then_reports_unavailable() {
    let ep = format!("http://127.0.0.1:{}", free_port());
    let started = std::time::Instant::now();
    let out = tickerctl(
        &ep,
        &[
            "--retries",
            "2",
            "--timeout",
            "300ms",
            "latest",
            "x@example.com",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unavailable"));
    // Two backoffs (100 ms, 200 ms) happened before giving up.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// `tickerctl bench --method register` sends commands as real clients do: each with its own
/// idempotency key, so it measures the at-most-once work too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_registers_with_idempotency_keys() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let args = [
        "bench",
        "--method",
        "register",
        "-c",
        "2",
        "-d",
        "500ms",
        "--connections",
        "1",
    ];
    let out = stdout(&tickerctl(&server.url(), &args).await);
    assert!(out.contains("method=Register"), "{out}");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    assert!(users > 0, "{out}");
    assert_eq!(keys, users, "one key per registration");
}

/// `tickerctl bench --method latest` queries as its user, with the user's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_queries_with_the_users_token() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let token = tickermesh_tests::access::signed_up(
        &mut c,
        &ctx.store,
        "bench@example.com",
        "BENCH",
        None,
        None,
    )
    .await;
    insert_prices(&ctx.store, "BENCH", &[1.0, 2.0]).await;
    let cli = Tickerctl::new(&server.url());
    let args = [
        "bench",
        "--method",
        "latest",
        "--email",
        "bench@example.com",
        "-c",
        "2",
        "-d",
        "300ms",
        "--connections",
        "1",
    ];
    let out = cli.run(&args).await;
    assert_eq!(out.status.code(), Some(1), "no token, no bench");
    assert!(stderr(&out).contains("no access token"), "{}", stderr(&out));
    let out = stdout(&cli.run_with(&args, &[("TICKERMESH_TOKEN", &token)]).await);
    assert!(out.contains("method=Latest"), "{out}");
    assert!(!out.contains("errors:"), "every query answered: {out}");
    assert!(!out.contains("ok=0 "), "{out}");
}

/// What `tests/bench.sh` does: `tickermesh seed --user … --token-file …` makes a confirmed user
/// and writes its token to a private file (printed nowhere); the query bench sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_user_token_drives_the_query_bench() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, _ctx) = spawn_mesh(&db).await;
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("bench.token");
    let seed = tickermesh_tests::proc::workspace_bin("tickermesh");
    let mut cmd = std::process::Command::new(seed);
    cmd.args(["seed", "--ticker", "BENCH", "--count", "20"])
        .args(["--user", "seeded@example.com", "--token-file"])
        .arg(&token_file)
        .env("TICKERMESH_DATABASE_URL", &db.url)
        .env("TICKERMESH_DATA_DIR", work.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let printed = stdout(&out);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert!(token.starts_with("tmk_"), "{token}");
    assert!(!printed.contains(token), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let cli = Tickerctl::new(&server.url());
    let args = [
        "bench",
        "--method",
        "latest",
        "--email",
        "seeded@example.com",
        "-c",
        "2",
        "-d",
        "300ms",
        "--connections",
        "1",
    ];
    let out = stdout(&cli.run_with(&args, &[("TICKERMESH_TOKEN", token)]).await);
    assert!(out.contains("method=Latest"), "{out}");
    assert!(!out.contains("errors:"), "every query answered: {out}");
}

/// The watchlist over the wire: `watch add|list|remove` with the stored token and an
/// idempotency key, and the reads picking a ticker with `--ticker` once there are two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlist_round_trip_from_the_cli() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let cli = Tickerctl::new(&server.url());
    let email = "list@example.com";

    stdout(&cli.run(&["register", email, "AAPL", "--max", "250"]).await);
    // No token yet: the watchlist is the owner's only.
    let out = cli.run(&["watch", "add", email, "MSFT"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Unauthenticated"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tickerctl confirm"),
        "{}",
        stderr(&out)
    );
    let code = code_of(&ctx.store, email).await;
    stdout(&cli.run(&["confirm", email, &code]).await);

    let out = stdout(
        &cli.run(&[
            "watch", "add", email, "msft", "--min", "300", "--max", "450",
        ])
        .await,
    );
    assert!(
        out.contains("list@example.com now watches MSFT (min 300, max 450, armed)"),
        "{out}"
    );
    let out = cli.run(&["watch", "add", email, "MSFT"]).await;
    assert_eq!(out.status.code(), Some(1), "a ticker already watched");
    assert!(stderr(&out).contains("AlreadyExists"), "{}", stderr(&out));

    insert_prices(&ctx.store, "AAPL", &[100.0]).await;
    insert_prices(&ctx.store, "MSFT", &[310.0, 320.0]).await;

    // Two watches: a read without --ticker is told to choose; with it, each answers its own.
    let out = cli.run(&["latest", email]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("FailedPrecondition"),
        "{}",
        stderr(&out)
    );
    let out = stdout(&cli.run(&["latest", email, "--ticker", "MSFT"]).await);
    assert!(out.contains("MSFT 320.0000 USD"), "{out}");
    let out = stdout(&cli.run(&["latest", email, "--ticker", "aapl"]).await);
    assert!(out.contains("AAPL 100.0000 USD"), "{out}");
    let out = stdout(
        &cli.run(&["--json", "average", email, "-n", "2", "--ticker", "MSFT"])
            .await,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (json["ticker"].as_str(), json["average"].as_f64()),
        (Some("MSFT"), Some(315.0))
    );
    let out = stdout(&cli.run(&["history", email, "--ticker", "MSFT"]).await);
    assert!(out.contains("MSFT — 2 quotes"), "{out}");

    // The table: one row per watch with its thresholds, state and latest price.
    let out = stdout(&cli.run(&["watch", "list", email]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "list@example.com watches 2 tickers", "{out}");
    assert!(lines[1].starts_with("TICKER"), "{out}");
    let row = |t: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{t} ")))
            .unwrap_or_else(|| panic!("no row of {t}:\n{out}"))
            .to_string()
    };
    let aapl = row("AAPL");
    assert!(
        aapl.contains("none") && aapl.contains("250") && aapl.contains("100.0000 USD"),
        "{out}"
    );
    let msft = row("MSFT");
    assert!(
        msft.contains("300") && msft.contains("450") && msft.contains("320.0000 USD"),
        "{out}"
    );
    assert!(!out.contains("unknown symbol"), "{out}");
    let out = stdout(&cli.run(&["--json", "watch", "list", email]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let watches = json["watches"].as_array().expect("watches");
    assert_eq!(watches.len(), 2, "{json}");
    let msft = watches
        .iter()
        .find(|w| w["ticker"] == "MSFT")
        .expect("MSFT listed");
    assert_eq!(msft["latest"]["price"], 320.0);
    assert_eq!(msft["min_price"], 300.0);
    assert_eq!(msft["unknown_symbol"], false);

    // --watch picks the watch UpdateUser changes.
    let out = stdout(
        &cli.run(&["update", email, "--watch", "MSFT", "--clear-min"])
            .await,
    );
    assert!(out.contains("MSFT (min none, max 450)"), "{out}");
    let out = stdout(&cli.run(&["--json", "watch", "list", email]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let aapl = json["watches"]
        .as_array()
        .expect("watches")
        .iter()
        .find(|w| w["ticker"] == "AAPL")
        .cloned()
        .expect("AAPL listed");
    assert_eq!(aapl["max_price"], 250.0, "the other watch is untouched");

    let out = stdout(&cli.run(&["watch", "remove", email, "MSFT"]).await);
    assert!(
        out.contains("list@example.com no longer watches MSFT"),
        "{out}"
    );
    let out = cli.run(&["watch", "remove", email, "MSFT"]).await;
    assert_eq!(out.status.code(), Some(1), "not watched any more");
    assert!(stderr(&out).contains("NotFound"), "{}", stderr(&out));
    let out = stdout(&cli.run(&["watch", "list", email]).await);
    assert!(
        out.starts_with("list@example.com watches 1 tickers"),
        "{out}"
    );
    assert!(!out.contains("MSFT"), "{out}");
    // Each successful watch command carried its own idempotency key (a failed one leaves no
    // record): the add and the remove of MSFT.
    let keys: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE method LIKE '%Watch%'")
            .fetch_one(ctx.store.pool())
            .await
            .unwrap();
    assert_eq!(keys, 2, "one key per watch command");
    // One watch again: the reads need no --ticker.
    let out = stdout(&cli.run(&["latest", email]).await);
    assert!(out.contains("AAPL 100.0000 USD"), "{out}");
    let out = cli.run(&["watch", "remove", email, "AAPL"]).await;
    assert_eq!(out.status.code(), Some(1), "the last watch stays");
    assert!(
        stderr(&out).contains("FailedPrecondition"),
        "{}",
        stderr(&out)
    );
}

/// A watch's move rule and cooldown (`--move`, `--cooldown`), and the user's time zone and
/// quiet hours (`--time-zone`, `--quiet-hours`, `--clear-quiet-hours`): the README's commands,
/// what they print, and what the server refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_quiet_hours_from_the_cli() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let cli = Tickerctl::new(&server.url());
    let email = "ada@example.com";

    let out = stdout(
        &cli.run(&[
            "register",
            email,
            "AAPL",
            "--max",
            "250",
            "--move",
            "5",
            "--cooldown",
            "30m",
        ])
        .await,
    );
    assert!(
        out.contains("watching AAPL (min none, max 250, move 5%, cooldown 30m)"),
        "{out}"
    );
    stdout(
        &cli.run(&["confirm", email, &code_of(&ctx.store, email).await])
            .await,
    );

    // As the README has them.
    let out = stdout(
        &cli.run(&[
            "watch",
            "add",
            email,
            "NVDA",
            "--max",
            "200",
            "--move",
            "4",
            "--cooldown",
            "1h",
        ])
        .await,
    );
    assert!(
        out.contains("now watches NVDA (min none, max 200, move 4%, cooldown 1h, armed)"),
        "{out}"
    );
    let out = stdout(
        &cli.run(&[
            "update",
            email,
            "--time-zone",
            "Europe/Paris",
            "--quiet-hours",
            "22:00-07:00",
        ])
        .await,
    );
    let shown = "watching AAPL (min none, max 250, move 5%, cooldown 30m), \
                 quiet hours 22:00-07:00 Europe/Paris";
    assert!(out.contains(shown), "{out}");

    let out = stdout(&cli.run(&["watch", "list", email]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].contains("MOVE") && lines[1].contains("COOLDOWN"),
        "{out}"
    );
    let nvda = lines
        .iter()
        .find(|l| l.starts_with("NVDA "))
        .unwrap_or_else(|| panic!("no NVDA row:\n{out}"));
    assert!(nvda.contains(" 4% ") && nvda.contains(" 1h "), "{out}");
    let out = stdout(&cli.run(&["--json", "watch", "list", email]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let aapl = &json["watches"][0];
    assert_eq!(
        (aapl["ticker"].as_str(), aapl["move_percent"].as_f64()),
        (Some("AAPL"), Some(5.0))
    );
    assert_eq!(aapl["cooldown_seconds"], 1800);

    // As the README has them: the rules of one watch off, then the quiet hours.
    let out = stdout(
        &cli.run(&[
            "update",
            email,
            "--watch",
            "NVDA",
            "--clear-move",
            "--cooldown",
            "0",
        ])
        .await,
    );
    assert!(out.contains("watching NVDA (min none, max 200),"), "{out}");
    let out = stdout(
        &cli.run(&["--json", "update", email, "--clear-quiet-hours"])
            .await,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["time_zone"], "Europe/Paris");
    assert!(json["quiet_hours"].is_null(), "{json}");
    let out = stdout(
        &cli.run(&["update", email, "--watch", "AAPL", "--min", "100"])
            .await,
    );
    assert!(
        out.ends_with("cooldown 30m), time zone Europe/Paris\n"),
        "{out:?}"
    );

    // The server's refusals name the field; the CLI's own checks come first.
    for (args, said) in [
        (
            vec!["--quiet-hours", "22:00-24:00"],
            "InvalidArgument: quiet_hours",
        ),
        (
            vec!["--time-zone", "Mars/Olympus"],
            "InvalidArgument: time_zone",
        ),
        (
            vec!["--watch", "AAPL", "--move", "150"],
            "InvalidArgument: move_percent",
        ),
        (
            vec!["--watch", "AAPL", "--cooldown", "8days"],
            "InvalidArgument: cooldown_seconds",
        ),
    ] {
        let out = cli.run(&[&["update", email][..], &args[..]].concat()).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    for args in [
        vec!["--cooldown", "30"],
        vec!["--quiet-hours", "22:00"],
        vec!["--move", "5", "--clear-move"],
        vec!["--quiet-hours", "22:00-07:00", "--clear-quiet-hours"],
    ] {
        let out = cli.run(&[&["update", email][..], &args[..]].concat()).await;
        assert_eq!(out.status.code(), Some(2), "a usage error: {args:?}");
    }
}
