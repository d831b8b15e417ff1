//! access's own metric: what became of the codes people gave back.

use std::sync::LazyLock;

use prometheus::IntCounterVec;
use tickermesh_core::metrics::{counter_vec, export_at_zero};

const OUTCOMES: [&str; 6] = ["accepted", "wrong", "expired", "used", "locked", "unknown"];

static CODES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "tickermesh_access_codes_checked_total",
        "Codes given to ConfirmEmail, by outcome (accepted, wrong, expired, used, locked, \
         unknown: no code for that address).",
        &["outcome"],
    )
});

pub fn init() {
    export_at_zero(&CODES, &OUTCOMES);
}

/// `outcome` is one of the fixed set above.
pub fn code(outcome: &'static str) {
    CODES.with_label_values(&[outcome]).inc();
}
