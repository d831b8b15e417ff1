use crate::error::Error;

/// Optional lower and upper price thresholds: finite, positive, and `min < max` when both are set.
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

fn price(field: &'static str, value: Option<f64>) -> Result<Option<f64>, Error> {
    match value {
        Some(v) if !v.is_finite() => Err(Error::invalid(field, "must be a finite number")),
        Some(v) if v <= 0.0 => Err(Error::invalid(field, format!("must be > 0, got {v}"))),
        other => Ok(other),
    }
}

impl Thresholds {
    pub fn new(min: Option<f64>, max: Option<f64>) -> Result<Self, Error> {
        let min = price(MIN_FIELD, min)?;
        let max = price(MAX_FIELD, max)?;
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo >= hi {
                return Err(Error::invalid(
                    MIN_FIELD,
                    format!("must be less than max_price ({lo} >= {hi})"),
                ));
            }
        }
        Ok(Self { min, max })
    }

    /// The thresholds after an update; validated again as a whole, since a change to one side
    /// can cross the other.
    pub fn apply(self, min: ThresholdChange, max: ThresholdChange) -> Result<Self, Error> {
        let pick = |current: Option<f64>, change: ThresholdChange| match change {
            ThresholdChange::Keep => current,
            ThresholdChange::Set(v) => Some(v),
            ThresholdChange::Clear => None,
        };
        Self::new(pick(self.min, min), pick(self.max, max))
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
    use ThresholdChange::*;

    #[test]
    fn valid_combinations() {
        assert!(Thresholds::new(None, None).is_ok());
        assert!(Thresholds::new(Some(1.0), None).is_ok());
        assert!(Thresholds::new(None, Some(1.0)).is_ok());
        assert!(Thresholds::new(Some(1.0), Some(2.0)).is_ok());
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
    }
}
