use crate::error::Error;

/// Optional lower and upper price thresholds: each in [`Thresholds::PRICES`], and `min < max`
/// when both are set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    min: Option<f64>,
    max: Option<f64>,
}

/// What an update does to one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdChange {
    Keep,
    Set(f64),
    Clear,
}

pub const MIN_FIELD: &str = "min_price";
pub const MAX_FIELD: &str = "max_price";

/// A requested threshold: finite and within [`Thresholds::PRICES`].
fn price(field: &'static str, value: Option<f64>) -> Result<Option<f64>, Error> {
    let range = Thresholds::PRICES;
    match value {
        Some(v) if !v.is_finite() => Err(Error::invalid(field, "must be a finite number")),
        Some(v) if !range.contains(&v) => Err(Error::invalid(
            field,
            format!(
                "must be between {} and {}, got {v}",
                range.start(),
                range.end()
            ),
        )),
        other => Ok(other),
    }
}

fn ordered(min: Option<f64>, max: Option<f64>) -> Result<Thresholds, Error> {
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo >= hi {
            return Err(Error::invalid(
                MIN_FIELD,
                format!("must be less than max_price ({lo} >= {hi})"),
            ));
        }
    }
    Ok(Thresholds { min, max })
}

impl Thresholds {
    /// The prices a threshold may take: from a millionth (sub-cent quotes: small crypto
    /// tokens, prices in minor currency units) to a billion (a thousand times the dearest share,
    /// above any index or quote in a weak currency). Far from the extremes of `f64` (`1e308`,
    /// subnormals such as `5e-324`), where a threshold means nothing and its arithmetic and
    /// formatting misbehave.
    pub const PRICES: std::ops::RangeInclusive<f64> = 1e-6..=1e9;

    pub fn new(min: Option<f64>, max: Option<f64>) -> Result<Self, Error> {
        ordered(price(MIN_FIELD, min)?, price(MAX_FIELD, max)?)
    }

    /// The thresholds after an update; a set value is checked as in [`Thresholds::new`], and
    /// the result as a whole, since a change to one side can cross the other. A kept value is
    /// not checked again: it was valid when it was stored.
    pub fn apply(self, min: ThresholdChange, max: ThresholdChange) -> Result<Self, Error> {
        let pick = |field, current: Option<f64>, change: ThresholdChange| match change {
            ThresholdChange::Keep => Ok(current),
            ThresholdChange::Set(v) => price(field, Some(v)),
            ThresholdChange::Clear => Ok(None),
        };
        ordered(
            pick(MIN_FIELD, self.min, min)?,
            pick(MAX_FIELD, self.max, max)?,
        )
    }

    /// Thresholds as stored: positive, finite and ordered, but not held to [`Self::PRICES`],
    /// so that a row stored before those bounds existed still loads (and can be updated).
    pub fn from_stored(min: Option<f64>, max: Option<f64>) -> Result<Self, Error> {
        let stored = |field, value: Option<f64>| match value {
            Some(v) if !(v.is_finite() && v > 0.0) => Err(Error::invalid(
                field,
                format!("must be a positive number, got {v}"),
            )),
            other => Ok(other),
        };
        ordered(stored(MIN_FIELD, min)?, stored(MAX_FIELD, max)?)
    }

    pub fn min(&self) -> Option<f64> {
        self.min
    }

    pub fn max(&self) -> Option<f64> {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ThresholdChange::*;

    #[test]
    fn valid_combinations() {
        assert!(Thresholds::new(None, None).is_ok());
        assert!(Thresholds::new(Some(1.0), None).is_ok());
        assert!(Thresholds::new(None, Some(1.0)).is_ok());
        assert!(Thresholds::new(Some(1.0), Some(2.0)).is_ok());
        assert!(
            Thresholds::new(Some(1e-6), Some(1e9)).is_ok(),
            "bounds included"
        );
    }

    #[test]
    fn invalid_values_name_the_field() {
        let cases = [
            (Some(f64::NAN), None, "min_price"),
            (None, Some(f64::INFINITY), "max_price"),
            (Some(0.0), None, "min_price"),
            (None, Some(-3.0), "max_price"),
            (Some(2.0), Some(2.0), "min_price"),
            (Some(3.0), Some(2.0), "min_price"),
            (Some(5e-324), None, "min_price"),
            (None, Some(1e308), "max_price"),
            (Some(9.9e-7), None, "min_price"),
            (None, Some(1.000_000_1e9), "max_price"),
        ];
        for (min, max, field) in cases {
            let err = Thresholds::new(min, max).unwrap_err();
            assert!(err.to_string().starts_with(field), "{min:?} {max:?}: {err}");
        }
    }

    #[test]
    fn apply_keeps_sets_and_clears() {
        let t = Thresholds::new(Some(10.0), Some(20.0)).unwrap();
        assert_eq!(t.apply(Keep, Keep).unwrap(), t);
        let t2 = t.apply(Clear, Set(30.0)).unwrap();
        assert_eq!((t2.min(), t2.max()), (None, Some(30.0)));
        assert!(t.apply(Set(25.0), Keep).is_err(), "new min crosses max");
        let t3 = t.apply(Set(25.0), Clear).unwrap();
        assert_eq!((t3.min(), t3.max()), (Some(25.0), None));
        let err = t.apply(Keep, Set(1e308)).unwrap_err();
        assert!(err.to_string().starts_with("max_price"), "{err}");
    }

    #[test]
    fn stored_values_from_before_the_bounds_still_load() {
        let old = Thresholds::from_stored(Some(5e-324), Some(1e308)).unwrap();
        let t = old.apply(Keep, Set(500.0)).unwrap();
        assert_eq!((t.min(), t.max()), (Some(5e-324), Some(500.0)));
        assert!(Thresholds::from_stored(Some(2.0), Some(1.0)).is_err());
        assert!(Thresholds::from_stored(Some(f64::NAN), None).is_err());
    }

    /// Any f64, with the interesting ones (bounds, their neighbours, extremes) often.
    fn any_price() -> impl Strategy<Value = f64> {
        let edges = [
            0.0,
            -0.0,
            1e-6,
            1e9,
            f64::MIN_POSITIVE,
            5e-324,
            1e308,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        prop_oneof![
            any::<f64>(),
            1e-7f64..2e9,
            proptest::sample::select(edges.to_vec()),
            // The neighbours of the edges, one unit in the last place away.
            (
                proptest::sample::select(edges.to_vec()),
                prop_oneof![Just(1i64), Just(-1)]
            )
                .prop_map(|(e, step)| f64::from_bits(e.to_bits().wrapping_add_signed(step))),
        ]
    }

    fn change() -> impl Strategy<Value = ThresholdChange> {
        prop_oneof![Just(Keep), Just(Clear), any_price().prop_map(Set),]
    }

    fn in_bounds(v: Option<f64>) -> bool {
        v.is_none_or(|v| Thresholds::PRICES.contains(&v))
    }

    fn check(
        result: Result<Thresholds, Error>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<(), TestCaseError> {
        let valid = in_bounds(min)
            && in_bounds(max)
            && !matches!((min, max), (Some(lo), Some(hi)) if lo >= hi);
        match result {
            Ok(t) => {
                prop_assert!(valid, "{min:?} {max:?} accepted");
                prop_assert_eq!((t.min(), t.max()), (min, max));
            }
            Err(err) => {
                prop_assert!(!valid, "{min:?} {max:?} refused: {err}");
                let Error::InvalidArgument { field, .. } = err else {
                    return Err(TestCaseError::fail(format!("{err:?}")));
                };
                // The field named is one that is wrong: out of bounds itself, or the min of a
                // crossed pair.
                let named = if field == MIN_FIELD { min } else { max };
                prop_assert!(field == MIN_FIELD || field == MAX_FIELD);
                prop_assert!(
                    !in_bounds(named) || field == MIN_FIELD,
                    "{field}: {min:?} {max:?}"
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Accepted exactly when each side is within the bounds and min < max; an error names
        /// the side at fault.
        #[test]
        fn new_checks_each_side(min in proptest::option::of(any_price()), max in proptest::option::of(any_price())) {
            check(Thresholds::new(min, max), min, max)?;
        }

        /// An update from valid thresholds obeys the same rules as a registration.
        #[test]
        fn apply_checks_the_result(
            (lo, hi) in (1e-6f64..=1e9, 1e-6f64..=1e9),
            has in (any::<bool>(), any::<bool>()),
            changes in (change(), change()),
        ) {
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let Ok(current) = Thresholds::new(has.0.then_some(lo), has.1.then_some(hi)) else {
                return Ok(()); // lo == hi, both set
            };
            let pick = |now: Option<f64>, change| match change {
                Keep => now,
                Set(v) => Some(v),
                Clear => None,
            };
            let (min, max) = (pick(current.min(), changes.0), pick(current.max(), changes.1));
            check(current.apply(changes.0, changes.1), min, max)?;
        }
    }
}
