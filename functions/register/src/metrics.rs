//! register's own metric: what RegisterUser answered.

use std::sync::LazyLock;

use prometheus::IntCounterVec;
use tickermesh_core::metrics::{counter_vec, export_at_zero};
use tickermesh_core::{Error, Result};
use tonic::Code;

/// What RegisterUser answers; exported at zero from the start.
const OUTCOMES: [&str; 5] = ["created", "already_exists", "invalid", "limited", "error"];

static REGISTER_USER: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "tickermesh_register_user_total",
        "RegisterUser calls, by outcome (created, already_exists, invalid, limited, error); a \
         replayed command counts as the answer it replays.",
        &["outcome"],
    )
});

pub fn init() {
    export_at_zero(&REGISTER_USER, &OUTCOMES);
}

pub fn count<T>(result: &Result<T>) {
    let outcome = match result.as_ref().map_err(Error::code) {
        Ok(_) => "created",
        Err(Code::AlreadyExists) => "already_exists",
        Err(Code::InvalidArgument) => "invalid",
        Err(Code::ResourceExhausted) => "limited",
        Err(_) => "error",
    };
    REGISTER_USER.with_label_values(&[outcome]).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_code() {
        init();
        count::<()>(&Ok(()));
        count::<()>(&Err(Error::AlreadyExists("x".into())));
        let text = tickermesh_core::metrics::render();
        assert!(
            text.contains("tickermesh_register_user_total{outcome=\"created\"} 1"),
            "{text}"
        );
        assert!(text.contains("tickermesh_register_user_total{outcome=\"already_exists\"} 1"));
        assert!(text.contains("tickermesh_register_user_total{outcome=\"invalid\"} 0"));
    }
}
