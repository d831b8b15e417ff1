//! Edge-triggered crossing logic, free of I/O.
//!
//! A subscription remembers where the last evaluated price stood. An alert fires only when the
//! price moves to a side it was not on: inside → above, inside → below, above ↔ below. While
//! the price stays outside nothing fires; coming back inside re-arms. A changed threshold
//! resets the state to armed, so a new threshold that the price already breaches fires once.
//!
//! These rules are the specification; the database applies them to sets of subscriptions
//! (`tickermesh_core::store::evaluation`), and `tests/evaluation.rs` checks that the two agree.
//! What makes that cheap: the state after a quote is always where its price stands
//! ([`decide`] returns `now` as the next state), so a subscription evaluated at the ticker's
//! last price needs no state of its own.

use tickermesh_core::events::Direction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Inside the band (or not evaluated since the thresholds changed).
    Armed,
    Above,
    Below,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Above => "above",
            Self::Below => "below",
        }
    }

    /// Unknown stored text counts as armed: at worst one extra alert, never a silent one.
    pub fn parse(s: &str) -> Self {
        match s {
            "above" => Self::Above,
            "below" => Self::Below,
            _ => Self::Armed,
        }
    }
}

/// Where `price` stands against the thresholds.
pub fn position(price: f64, min: Option<f64>, max: Option<f64>) -> AlertState {
    match (min, max) {
        (_, Some(hi)) if price > hi => AlertState::Above,
        (Some(lo), _) if price < lo => AlertState::Below,
        _ => AlertState::Armed,
    }
}

/// The next state, and the alert to send if this is a crossing.
pub fn decide(state: AlertState, now: AlertState) -> (AlertState, Option<Direction>) {
    let alert = match (state, now) {
        (a, b) if a == b => None,
        (_, AlertState::Above) => Some(Direction::Above),
        (_, AlertState::Below) => Some(Direction::Below),
        (_, AlertState::Armed) => None,
    };
    (now, alert)
}

#[cfg(test)]
mod tests {
    use super::AlertState::*;
    use super::*;

    #[test]
    fn position_against_the_band() {
        assert_eq!(position(50.0, Some(10.0), Some(100.0)), Armed);
        assert_eq!(
            position(100.0, Some(10.0), Some(100.0)),
            Armed,
            "on the line is inside"
        );
        assert_eq!(position(100.01, Some(10.0), Some(100.0)), Above);
        assert_eq!(position(9.99, Some(10.0), Some(100.0)), Below);
        assert_eq!(position(1e9, Some(10.0), None), Armed);
        assert_eq!(position(0.5, None, Some(100.0)), Armed);
    }

    #[test]
    fn crossing_table() {
        let cases = [
            // (stored state, where the price is now) -> (new state, alert)
            (Armed, Armed, Armed, None),
            (Armed, Above, Above, Some(Direction::Above)),
            (Armed, Below, Below, Some(Direction::Below)),
            (Above, Above, Above, None),
            (Above, Armed, Armed, None),
            (Above, Below, Below, Some(Direction::Below)),
            (Below, Below, Below, None),
            (Below, Armed, Armed, None),
            (Below, Above, Above, Some(Direction::Above)),
        ];
        for (state, now, next, alert) in cases {
            assert_eq!(decide(state, now), (next, alert), "{state:?} -> {now:?}");
        }
    }

    #[test]
    fn the_next_state_is_where_the_price_stands() {
        for state in [Armed, Above, Below] {
            for now in [Armed, Above, Below] {
                assert_eq!(decide(state, now).0, now);
            }
        }
    }

    #[test]
    fn above_then_inside_then_above_alerts_twice() {
        let prices = [50.0, 120.0, 130.0, 90.0, 125.0];
        let mut state = Armed;
        let mut alerts = 0;
        for p in prices {
            let (next, alert) = decide(state, position(p, None, Some(100.0)));
            alerts += usize::from(alert.is_some());
            state = next;
        }
        assert_eq!(alerts, 2);
    }

    #[test]
    fn stored_text_round_trips() {
        for s in [Armed, Above, Below] {
            assert_eq!(AlertState::parse(s.as_str()), s);
        }
        assert_eq!(AlertState::parse("garbage"), Armed);
    }
}
