//! Evaluation by sets, computed by the database: a quote costs work in proportion to the
//! watchers it alerts and the subscriptions changed since the last quote, not to all watchers
//! of its ticker, and no watcher row travels to this process.
//!
//! Edge-triggered alerts (evaluate's `crossing.rs`) leave a subscription, after each quote,
//! in the state "where that quote's price stands against my band". So a subscription that
//! was evaluated at the ticker's last price needs no state of its own: it is `tracking`, and
//! where it stood is where that price stands. A new quote at `p` after the last price `q`
//! alerts a tracking subscription exactly when a threshold lies between the two: rising,
//! `q <= max < p` (above); falling, `p < min <= q` (below; `min < max` is kept by every write
//! of the thresholds). Each is one range scan of an index on (ticker, state, threshold), and
//! moving back inside writes nothing. A subscription whose ticker or thresholds changed since
//! the last quote (the update re-arms it: `armed`; older rows may also hold `above` or
//! `below`) is evaluated against its own state once, then joins the tracking ones.
//!
//! In one transaction: the ticker's last evaluated market time and price move forward by
//! compare-and-set ([`claim`]; a redelivered or late quote is ignored as a whole, and of two
//! replicas evaluating one quote only one proceeds); the alerts are stored by `INSERT …
//! SELECT`, their ids derived in SQL from (ticker, subscription, direction, market time) as
//! [`alert_id`] does; the subscriptions with a state of their own become tracking.
//! `tests/evaluation.rs` checks all this against `crossing.rs`, watcher by watcher.
//!
//! Percent moves (evaluate's `move_rule.rs`) work the same way on the percent the price stands
//! from the quote's previous close: the ticker keeps the reference of its last evaluated quote
//! beside its price, so a tracking subscription with a move percent `x` stood at the last
//! percent `b`, and a quote at percent `a` alerts it up when `b < x <= a`, down when
//! `-b < x <= -a`: range scans of the index on (ticker, state, move_percent), which find
//! nothing when nobody of the ticker has a move rule. A quote without a previous close alerts
//! no move (and counts as no move for the next one).

use sqlx::{AnyConnection, Executor, Row};

use crate::error::{Error, Result};
use crate::events::{Direction, QuoteCollected, ThresholdCrossed};
use crate::store::Backend;

/// Rows per multi-row statement: well inside SQLite's 32,766 bound parameters.
const CHUNK: usize = 1_000;

/// The id of one crossing: the same subscription crossing the same way at the same market
/// time always gets this id (so a duplicate is recognisable downstream), and the database
/// derives the same text when it stores alerts. At most 16 + 19 + 5 + 20 + 3 = 63 characters.
pub fn alert_id(
    ticker: &str,
    subscription_id: i64,
    direction: Direction,
    market_time_ms: i64,
) -> String {
    format!(
        "{ticker}/{subscription_id}/{}/{market_time_ms}",
        direction.as_str()
    )
}

/// Where a subscription stands, as the edge-triggered rules see it (`armed`, `above`,
/// `below`), in SQL: a tracking one stands where the ticker's last evaluated price stands.
/// For a query over `subscriptions s LEFT JOIN quote_evaluations e ON e.ticker = s.ticker`.
pub const ALERT_STATE_SQL: &str = "CASE WHEN s.alert_state <> 'tracking' THEN s.alert_state \
     WHEN s.max_price < e.price THEN 'above' \
     WHEN s.min_price > e.price THEN 'below' ELSE 'armed' END";

/// A claimed evaluation, and the price the ticker was last evaluated at (`None` for its
/// first quote, or one evaluated before prices were kept) with that quote's previous close
/// (`None` when it had none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claimed {
    pub previous_price: Option<f64>,
    pub previous_reference: Option<f64>,
}

/// How many percent `price` stands above (negative: below) `reference`; `None` without a
/// reference that is a positive number. The rule (`move_rule.rs`) and the statements of
/// [`apply`] both measure with this, so they agree to the last bit on the boundary.
pub fn percent_move(price: f64, reference: Option<f64>) -> Option<f64> {
    let reference = reference.filter(|r| r.is_finite() && *r > 0.0)?;
    let pct = (price - reference) / reference * 100.0;
    pct.is_finite().then_some(pct)
}

/// Claims the evaluation of `quote`: `None` when a quote as new or newer was already evaluated
/// (a redelivery, a late quote, another replica). The row stays locked until the transaction
/// ends (SQLite has one writer), so the price read is the one the quote follows.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    quote: &QuoteCollected,
) -> Result<Option<Claimed>> {
    let fail = |e| Error::db("claim a quote's evaluation", e);
    let sql = format!(
        "SELECT market_time_ms, price, reference FROM quote_evaluations WHERE ticker = ?{}",
        backend.for_update()
    );
    // What the next quote's moves are measured against: no reference, no move.
    let reference = quote.previous_close.filter(|r| r.is_finite() && *r > 0.0);
    let last = sqlx::query(&sql)
        .bind(&quote.ticker)
        .fetch_optional(&mut *conn)
        .await
        .map_err(fail)?;
    let t = quote.market_time_ms;
    let Some(last) = last else {
        // The ticker's first quote, unless another replica's went in meanwhile.
        let sql = format!(
            "{} INTO quote_evaluations (ticker, market_time_ms, price, reference) \
             VALUES (?, ?, ?, ?)",
            backend.insert_ignore()
        );
        let inserted = sqlx::query(&sql)
            .bind(&quote.ticker)
            .bind(t)
            .bind(quote.price)
            .bind(reference)
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
        let claimed = Claimed {
            previous_price: None,
            previous_reference: None,
        };
        return Ok((inserted.rows_affected() > 0).then_some(claimed));
    };
    type Last = (i64, Option<f64>, Option<f64>);
    let read = || -> std::result::Result<Last, sqlx::Error> {
        Ok((last.try_get(0)?, last.try_get(1)?, last.try_get(2)?))
    };
    let (last_time, previous_price, previous_reference) = read().map_err(fail)?;
    if last_time >= t {
        return Ok(None);
    }
    // Still a compare-and-set: the WHERE holds whatever locking a backend does.
    let moved = sqlx::query(
        "UPDATE quote_evaluations SET market_time_ms = ?, price = ?, reference = ? \
         WHERE ticker = ? AND market_time_ms < ?",
    )
    .bind(t)
    .bind(quote.price)
    .bind(reference)
    .bind(&quote.ticker)
    .bind(t)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    let claimed = Claimed {
        previous_price,
        previous_reference,
    };
    Ok((moved.rows_affected() > 0).then_some(claimed))
}

/// The alerts one quote stored, by direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crossings {
    pub above: u64,
    pub below: u64,
    pub up: u64,
    pub down: u64,
}

impl Crossings {
    pub fn total(self) -> u64 {
        self.above + self.below + self.up + self.down
    }

    pub fn of(self, direction: Direction) -> u64 {
        match direction {
            Direction::Above => self.above,
            Direction::Below => self.below,
            Direction::Up => self.up,
            Direction::Down => self.down,
        }
    }

    fn add(&mut self, direction: Direction, n: u64) {
        match direction {
            Direction::Above => self.above += n,
            Direction::Below => self.below += n,
            Direction::Up => self.up += n,
            Direction::Down => self.down += n,
        }
    }
}

/// The conditions of [`apply`]'s statements, beside `s.ticker = ?`; each is a range of one
/// index (ticker, alert_state, the value compared). Public so the tests can see their plans.
pub mod conditions {
    /// Tracking, rising: `q <= max < p` (binds q, p).
    pub const TRACKING_ABOVE: &str =
        "s.alert_state = 'tracking' AND s.max_price >= ? AND s.max_price < ?";
    /// Tracking, falling: `p < min <= q` (binds p, q, p).
    pub const TRACKING_BELOW: &str = "s.alert_state = 'tracking' AND s.min_price > ? \
         AND s.min_price <= ? AND (s.max_price IS NULL OR s.max_price >= ?)";
    /// A state of their own, above now (binds p).
    pub const OWN_ABOVE: &str = "s.alert_state IN ('armed', 'below') AND s.max_price < ?";
    /// A state of their own, below now (binds p, p).
    pub const OWN_BELOW: &str = "s.alert_state IN ('armed', 'above') AND s.min_price > ? \
         AND (s.max_price IS NULL OR s.max_price >= ?)";
    /// Tracking, a move percent between the last percent and this one: `lo < x <= hi`
    /// (binds hi, lo; `lo` is never below 0, so a percent that is no rule never alerts).
    pub const TRACKING_MOVE: &str =
        "s.alert_state = 'tracking' AND s.move_percent <= ? AND s.move_percent > ?";
    /// A state of their own, a move percent the quote's move reaches: `0 < x <= hi` (binds
    /// hi).
    pub const OWN_MOVE: &str = "s.alert_state IN ('armed', 'above', 'below') \
         AND s.move_percent <= ? AND s.move_percent > 0";
}

/// Applies a claimed quote: stores the alerts of the subscriptions it moves out of their band,
/// or past their move percent (the outbox of their events, published later), and makes every
/// subscription of the ticker with a state of its own a tracking one.
pub async fn apply(
    conn: &mut AnyConnection,
    backend: Backend,
    quote: &QuoteCollected,
    claimed: Claimed,
    now_ms: i64,
) -> Result<Crossings> {
    use conditions::*;
    let p = quote.price;
    let mut statements: Vec<(Direction, &str, Vec<f64>)> = Vec::with_capacity(6);
    // Tracking subscriptions: a threshold between the last price and this one.
    match claimed.previous_price {
        Some(q) if p > q => statements.push((Direction::Above, TRACKING_ABOVE, vec![q, p])),
        Some(q) if p < q => statements.push((Direction::Below, TRACKING_BELOW, vec![p, q, p])),
        _ => {}
    }
    // Subscriptions with a state of their own: outside now, and not already on that side.
    statements.push((Direction::Above, OWN_ABOVE, vec![p]));
    statements.push((Direction::Below, OWN_BELOW, vec![p, p]));
    // Moves: this quote's percent from its previous close, and where the last one stood (no
    // previous price or reference: no move). Up and down are mirror images: `m` is the move
    // in the direction of this one.
    let reference = quote.previous_close.filter(|r| r.is_finite() && *r > 0.0);
    if let Some(now) = percent_move(p, reference) {
        // A new previous close is a new session: where the last quote stood against the old
        // close says nothing of this one, so every watch starts it inside (re-armed).
        let before = claimed
            .previous_price
            .filter(|_| claimed.previous_reference == reference)
            .and_then(|q| percent_move(q, claimed.previous_reference))
            .unwrap_or(0.0);
        let (direction, m, m_before) = if now > 0.0 {
            (Direction::Up, now, before)
        } else {
            (Direction::Down, -now, -before)
        };
        if m > 0.0 {
            if m > m_before {
                statements.push((direction, TRACKING_MOVE, vec![m, m_before.max(0.0)]));
            }
            statements.push((direction, OWN_MOVE, vec![m]));
        }
    }
    let t = quote.market_time_ms;
    let mut crossings = Crossings::default();
    for (direction, condition, binds) in statements {
        let sql = insert_alerts_sql(backend, direction, condition);
        let mut query = sqlx::query(&sql)
            .bind(t)
            .bind(p)
            .bind(&quote.currency)
            .bind(t)
            .bind(i64::from(quote.simulated))
            .bind(now_ms)
            .bind(if direction.is_move() { reference } else { None })
            .bind(&quote.ticker);
        for value in binds {
            query = query.bind(value);
        }
        let stored = query
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("store alerts", e))?
            .rows_affected();
        crossings.add(direction, stored);
    }
    // Where they stand now is where this price stands: from here on they track it. (Those
    // read above are locked by that read on MySQL; SQLite has one writer.)
    sqlx::query(
        "UPDATE subscriptions SET alert_state = 'tracking', evaluated_market_time_ms = ? \
         WHERE ticker = ? AND alert_state IN ('armed', 'above', 'below')",
    )
    .bind(t)
    .bind(&quote.ticker)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("start tracking subscriptions", e))?;
    Ok(crossings)
}

/// `INSERT … SELECT` of the alerts of the subscriptions of a ticker that meet `condition`,
/// crossing in `direction`. Binds: market time (for the id), price, currency, market time,
/// simulated, now, reference (the previous close of a move, else NULL), ticker, then the
/// condition's.
fn insert_alerts_sql(backend: Backend, direction: Direction, condition: &str) -> String {
    let dir = direction.as_str();
    let threshold = match direction {
        Direction::Above => "s.max_price",
        Direction::Below => "s.min_price",
        Direction::Up | Direction::Down => "s.move_percent",
    };
    // The text of `alert_id`, built by the database.
    let id = match backend {
        Backend::MySql => format!("CONCAT(s.ticker, '/', s.id, '/{dir}/', ?)"),
        Backend::Sqlite => format!("s.ticker || '/' || s.id || '/{dir}/' || ?"),
    };
    format!(
        "{} INTO alerts (alert_id, email, ticker, price, currency, threshold, direction, \
         market_time_ms, simulated, created_at_ms, subscription_id, reference) \
         SELECT {id}, u.email, s.ticker, ?, ?, {threshold}, '{dir}', ?, ?, ?, s.id, ? \
         FROM subscriptions s JOIN users u ON u.id = s.user_id \
         WHERE s.ticker = ? AND {condition}",
        backend.insert_ignore()
    )
}

/// The prices a new quote of `ticker` at `market_time_ms` follows: the ticker's collected
/// quote just before it, and the price it was last evaluated at (each `None` when unknown).
pub async fn reference_prices<'e, E: Executor<'e, Database = sqlx::Any>>(
    ex: E,
    ticker: &str,
    market_time_ms: i64,
) -> Result<(Option<f64>, Option<f64>)> {
    let row = sqlx::query(
        "SELECT (SELECT price FROM quotes WHERE ticker = ? AND market_time_ms < ? \
                 ORDER BY market_time_ms DESC LIMIT 1), \
                (SELECT price FROM quote_evaluations WHERE ticker = ?)",
    )
    .bind(ticker)
    .bind(market_time_ms)
    .bind(ticker)
    .fetch_one(ex)
    .await
    .map_err(|e| Error::db("load a ticker's previous prices", e))?;
    let read = || -> std::result::Result<_, sqlx::Error> { Ok((row.try_get(0)?, row.try_get(1)?)) };
    read().map_err(|e| Error::db("read a ticker's previous prices", e))
}

/// Stores alerts as they are (the outbox of their events), many per statement; an id already
/// stored is left as it is. evaluate stores its own with [`apply`]; this stores any alert,
/// and a price or threshold that is not a finite number as NULL (a row the outbox and notify
/// refuse to read), since no column type holds NaN on both backends.
pub async fn insert_alerts(
    conn: &mut AnyConnection,
    backend: Backend,
    alerts: &[ThresholdCrossed],
    now_ms: i64,
) -> Result<()> {
    for chunk in alerts.chunks(CHUNK / 10) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "{} INTO alerts (alert_id, email, ticker, price, currency, threshold, direction, \
             market_time_ms, simulated, created_at_ms, subscription_id, reference) \
             VALUES {rows}",
            backend.insert_ignore()
        );
        let finite = |v: f64| v.is_finite().then_some(v);
        let mut query = sqlx::query(&sql);
        for alert in chunk {
            query = query
                .bind(alert.alert_id.as_str())
                .bind(alert.email.as_str())
                .bind(alert.ticker.as_str())
                .bind(finite(alert.price))
                .bind(alert.currency.as_str())
                .bind(finite(alert.threshold))
                .bind(alert.direction.as_str())
                .bind(alert.market_time_ms)
                .bind(i64::from(alert.simulated))
                .bind(now_ms)
                .bind(alert.subscription_id)
                .bind(alert.reference.and_then(finite));
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("store alerts", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_stable_distinct_and_fit_their_column() {
        let a = alert_id("AAPL", 1, Direction::Above, 1000);
        assert_eq!(a, "AAPL/1/above/1000");
        assert_ne!(a, alert_id("AAPL", 2, Direction::Above, 1000));
        assert_ne!(a, alert_id("AAPL", 1, Direction::Below, 1000));
        assert_ne!(a, alert_id("AAPL", 1, Direction::Above, 2000));
        assert_ne!(a, alert_id("MSFT", 1, Direction::Above, 1000));
        let longest = alert_id("EURUSD=X.ABCDEFG", i64::MAX, Direction::Above, i64::MIN);
        assert!(longest.len() <= 64, "{longest}");
    }

    #[test]
    fn alert_ids_in_sql_bind_the_market_time_first() {
        for backend in [Backend::MySql, Backend::Sqlite] {
            let sql = insert_alerts_sql(backend, Direction::Below, "s.min_price > ?");
            let select = &sql[sql.find("SELECT").unwrap_or(0)..];
            assert!(select.contains("'/below/'"), "{sql}");
            assert_eq!(sql.matches('?').count(), 9, "{sql}");
            let moves = insert_alerts_sql(backend, Direction::Down, conditions::OWN_MOVE);
            assert!(moves.contains("'/down/'") && moves.contains("s.move_percent, 'down'"));
        }
    }

    #[test]
    fn percent_moves() {
        let cases: &[(f64, Option<f64>, Option<f64>)] = &[
            (150.0, Some(100.0), Some(50.0)),
            (75.0, Some(100.0), Some(-25.0)),
            (100.0, Some(100.0), Some(0.0)),
            (100.0, None, None),
            (100.0, Some(0.0), None),
            (100.0, Some(-1.0), None),
            (100.0, Some(f64::NAN), None),
            (100.0, Some(f64::INFINITY), None),
            (f64::MAX, Some(f64::MIN_POSITIVE), None),
        ];
        for &(price, reference, expected) in cases {
            assert_eq!(
                percent_move(price, reference),
                expected,
                "{price} {reference:?}"
            );
        }
    }
}
