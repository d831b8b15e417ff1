//! The percent-move rule, free of I/O: "tell me when the price moves X % from the previous
//! close", edge-triggered like the thresholds of [`crate::crossing`].
//!
//! A quote stands at `pct = (price - reference) / reference * 100` from its previous close.
//! Against a watch's move percent `x` that is a position: up (`pct >= x`), down (`-pct >= x`)
//! or inside. An alert fires when the position becomes up or down from anywhere else; staying
//! out is quiet, and coming back inside (the move shrinking under `x`) re-arms. A quote
//! without a previous close stands inside, as does a watch without a positive move percent.
//!
//! A subscription evaluated at the ticker's last quote stood where that quote's percent
//! stands against its own `x` — if this quote has the same previous close; a new close starts
//! a new session, in which every watch starts inside (so a second day's move alerts again).
//! One changed since (armed) stood inside. The database applies
//! this to sets of subscriptions (`tickermesh_core::store::evaluation`), and
//! `tests/evaluation.rs` checks that the two agree.

use tickermesh_core::events::Direction;

pub use tickermesh_core::store::evaluation::percent_move;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovePosition {
    Inside,
    Up,
    Down,
}

/// Where a quote at `pct` percent from its previous close (`None`: it has none) stands
/// against a move rule of `move_percent` (`None`, or not a positive number: no rule).
pub fn position(pct: Option<f64>, move_percent: Option<f64>) -> MovePosition {
    let (Some(pct), Some(x)) = (pct, move_percent.filter(|x| *x > 0.0)) else {
        return MovePosition::Inside;
    };
    if pct >= x {
        MovePosition::Up
    } else if -pct >= x {
        MovePosition::Down
    } else {
        MovePosition::Inside
    }
}

/// The alert, if going from `before` to `now` is one.
pub fn decide(before: MovePosition, now: MovePosition) -> Option<Direction> {
    match (before, now) {
        (a, b) if a == b => None,
        (_, MovePosition::Up) => Some(Direction::Up),
        (_, MovePosition::Down) => Some(Direction::Down),
        (_, MovePosition::Inside) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::MovePosition::*;
    use super::*;

    #[test]
    fn position_table() {
        let cases: &[(Option<f64>, Option<f64>, MovePosition)] = &[
            (Some(0.0), Some(5.0), Inside),
            (Some(4.99), Some(5.0), Inside),
            (Some(5.0), Some(5.0), Up),
            (Some(12.0), Some(5.0), Up),
            (Some(-4.99), Some(5.0), Inside),
            (Some(-5.0), Some(5.0), Down),
            (Some(-40.0), Some(5.0), Down),
            (None, Some(5.0), Inside),
            (Some(50.0), None, Inside),
            (Some(50.0), Some(0.0), Inside),
            (Some(-50.0), Some(-1.0), Inside),
            (Some(50.0), Some(f64::NAN), Inside),
        ];
        for &(pct, x, expected) in cases {
            assert_eq!(position(pct, x), expected, "{pct:?} against {x:?}");
        }
    }

    #[test]
    fn decide_table() {
        let cases = [
            (Inside, Inside, None),
            (Inside, Up, Some(Direction::Up)),
            (Inside, Down, Some(Direction::Down)),
            (Up, Up, None),
            (Up, Inside, None),
            (Up, Down, Some(Direction::Down)),
            (Down, Down, None),
            (Down, Inside, None),
            (Down, Up, Some(Direction::Up)),
        ];
        for (before, now, alert) in cases {
            assert_eq!(decide(before, now), alert, "{before:?} -> {now:?}");
        }
    }

    /// A day of quotes against a close of 100 and a 5 % rule: up at 105, quiet while above,
    /// re-armed under it, up again, then a fall through the close to down.
    #[test]
    fn a_day_of_quotes() {
        let prices = [
            101.0, 105.0, 108.0, 104.0, 106.0, 100.0, 96.0, 95.0, 90.0, 110.0,
        ];
        let mut before = Inside;
        let mut alerts = Vec::new();
        for p in prices {
            let now = position(percent_move(p, Some(100.0)), Some(5.0));
            if let Some(d) = decide(before, now) {
                alerts.push((p, d));
            }
            before = now;
        }
        assert_eq!(
            alerts,
            [
                (105.0, Direction::Up),
                (106.0, Direction::Up),
                (95.0, Direction::Down),
                (110.0, Direction::Up),
            ]
        );
    }
}
