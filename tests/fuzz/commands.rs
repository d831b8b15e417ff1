//! RegisterUser and UpdateUser with any field values, through the real server on both
//! databases: a client's input is taken or refused as `INVALID_ARGUMENT` naming the field,
//! never an `INTERNAL` from a column it outgrew.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{RegisterUserRequest, ThresholdChange, UpdateUserRequest};
use tickermesh_tests::access::{bearer, confirm};
use tickermesh_tests::{spawn_mesh, Backend, TestDb};
use tonic::Code;

/// A domain of `n` letters in labels of at most 60.
fn labels(n: usize) -> String {
    let letters = "d".repeat(n);
    let chunks: Vec<&str> = letters
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    chunks.join(".")
}

/// Addresses: valid ones in any case and script, ones near the length limit, and anything.
// The plausible alternatives weigh more: at equal weights about one case in twenty was a valid
// registration, so 64 cases now and then made none and the run failed on its own check that
// the strategies reach the store.
fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9.+]{1,20}@[a-z]{1,10}\\.(com|de|example)",
        1 => "[a-zA-Zéß\u{130}\u{212A}\u{4E00}-\u{4E10}\u{20000}-\u{20010}]{1,30}@[a-zA-Z\u{130}]{1,60}\\.[a-z]{2,4}",
        1 => (0usize..=32, 180usize..250).prop_map(|(l, d)| format!(
            "{}@{}.com",
            "\u{130}".repeat(l),
            labels(d)
        )),
        1 => any::<String>(),
    ]
}

fn ticker() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-zA-Z0-9.^=-]{1,18}", 1 => any::<String>()]
}

fn price() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![
        2 => 1e-7f64..2e9,
        1 => any::<f64>(),
        1 => proptest::sample::select(vec![1e-6, 1e9, 1e308, 5e-324, f64::NAN, 0.0])
    ])
}

fn change() -> impl Strategy<Value = Option<ThresholdChange>> {
    proptest::option::of(prop_oneof![
        price().prop_map(|p| Some(Change::Set(p.unwrap_or(1.0)))),
        any::<bool>().prop_map(|c| Some(Change::Clear(c))),
        Just(None),
    ])
    .prop_map(|c| c.map(|change| ThresholdChange { change }))
}

const FIELDS: [&str; 4] = ["email", "ticker", "min_price", "max_price"];

fn commands_take_or_name_the_field(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDb::new(backend));
    let (server, ctx) = rt.block_on(spawn_mesh(&db));
    // The token of every address registered so far (by its stored form).
    let tokens = std::sync::Mutex::new(std::collections::HashMap::<String, String>::new());
    let client = rt.block_on(server.commands());
    let mut runner = TestRunner::new(Config {
        // Each case (and each shrinking step) is a real call over a real store.
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::with_cases(cases)
    });
    let strategy = (
        email(),
        ticker(),
        price(),
        price(),
        ticker(),
        change(),
        change(),
    );
    // How many registrations were taken: the strategies must reach the store too.
    let taken = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(
        &strategy,
        |(email, ticker, min, max, new_ticker, lo, hi)| {
            // The runner takes a `Fn`: a clone of the client (one channel) per case.
            let mut client = client.clone();
            rt.block_on(async {
                let registered = client
                    .register_user(RegisterUserRequest {
                        email: email.clone(),
                        ticker,
                        min_price: min,
                        max_price: max,
                        ..Default::default()
                    })
                    .await;
                if let Ok(r) = &registered {
                    taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let stored = r.get_ref().user.as_ref().expect("user").email.clone();
                    let token = confirm(&mut client, &ctx.store, &stored).await;
                    tokens.lock().unwrap().insert(stored, token);
                }
                // The owner updates: with the token of the address when it has one.
                let token = tokens
                    .lock()
                    .unwrap()
                    .get(&email.trim().to_lowercase())
                    .cloned();
                let update = UpdateUserRequest {
                    email,
                    ticker: Some(new_ticker),
                    min_price: lo,
                    max_price: hi,
                    ..Default::default()
                };
                let updated = match &token {
                    Some(token) => client.update_user(bearer(update, token)).await,
                    None => client.update_user(update).await,
                };
                for answer in [registered.map(drop), updated.map(drop)] {
                    let Err(status) = answer else { continue };
                    match status.code() {
                        Code::AlreadyExists => {}
                        // No token for an address that was never registered here.
                        Code::Unauthenticated if token.is_none() => {}
                        Code::InvalidArgument => {
                            let field = status.message().split(':').next().unwrap_or_default();
                            prop_assert!(FIELDS.contains(&field), "{status:?}");
                        }
                        _ => return Err(TestCaseError::fail(format!("{status:?}"))),
                    }
                }
                Ok(())
            })
        },
    );
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    assert!(
        taken.into_inner() > 0,
        "{backend:?}: no registration was taken"
    );
}

#[test]
fn commands_over_grpc_on_sqlite() {
    commands_take_or_name_the_field(Backend::Sqlite, 64);
}

#[test]
fn commands_over_grpc_on_mariadb() {
    commands_take_or_name_the_field(Backend::MariaDb, 64);
}
