//! A watch's rules beside its price thresholds: a percent move against the previous close, and
//! a cooldown between its alert e-mails.

use crate::domain::ThresholdChange;
use crate::error::Error;

pub const MOVE_FIELD: &str = "move_percent";
pub const COOLDOWN_FIELD: &str = "cooldown_seconds";

/// Alert when the price has moved this many percent or more, up or down: `0 < x <= 100`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MovePercent(f64);

impl MovePercent {
    /// A move of more than 100 % down is impossible; up, it would mean a rule that never fires
    /// on anything but a data error.
    pub const MAX: f64 = 100.0;

    pub fn parse(raw: f64) -> Result<Self, Error> {
        if !raw.is_finite() {
            return Err(Error::invalid(MOVE_FIELD, "must be a finite number"));
        }
        if raw <= 0.0 || raw > Self::MAX {
            return Err(Error::invalid(
                MOVE_FIELD,
                format!("must be more than 0 and at most {}, got {raw}", Self::MAX),
            ));
        }
        Ok(Self(raw))
    }

    /// The rule after an update (`None`: no such rule). A kept value is not checked again.
    pub fn apply(current: Option<f64>, change: ThresholdChange) -> Result<Option<f64>, Error> {
        match change {
            ThresholdChange::Keep => Ok(current),
            ThresholdChange::Set(v) => Self::parse(v).map(|m| Some(m.get())),
            ThresholdChange::Clear => Ok(None),
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// At most one alert e-mail per watch per this long; zero: no cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cooldown(u32);

impl Cooldown {
    /// A week: longer, and the watch might as well be removed.
    pub const MAX_SECONDS: u32 = 7 * 24 * 3600;

    pub fn parse(seconds: u32) -> Result<Self, Error> {
        if seconds > Self::MAX_SECONDS {
            return Err(Error::invalid(
                COOLDOWN_FIELD,
                format!(
                    "must be at most {} (7 days), got {seconds}",
                    Self::MAX_SECONDS
                ),
            ));
        }
        Ok(Self(seconds))
    }

    /// As stored (`subscriptions.cooldown_ms`); whole seconds, since that is what is set.
    pub fn from_ms(ms: i64) -> Self {
        let seconds = (ms.max(0) / 1000).min(i64::from(Self::MAX_SECONDS));
        Self(u32::try_from(seconds).unwrap_or(Self::MAX_SECONDS))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }

    pub fn as_ms(self) -> i64 {
        i64::from(self.0) * 1000
    }
}

/// A watch's rules other than its thresholds, as a new watch takes them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WatchRules {
    pub move_percent: Option<MovePercent>,
    pub cooldown: Cooldown,
}

impl WatchRules {
    /// From a request's optional fields: absent = no move rule, no cooldown.
    pub fn new(move_percent: Option<f64>, cooldown_seconds: Option<u32>) -> Result<Self, Error> {
        Ok(Self {
            move_percent: move_percent.map(MovePercent::parse).transpose()?,
            cooldown: cooldown_seconds
                .map(Cooldown::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn move_percent(&self) -> Option<f64> {
        self.move_percent.map(MovePercent::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(err: Error) -> &'static str {
        match err {
            Error::InvalidArgument { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_move_is_more_than_zero_and_at_most_a_hundred_percent() {
        for ok in [0.01, 5.0, 100.0, f64::MIN_POSITIVE] {
            assert_eq!(MovePercent::parse(ok).unwrap().get(), ok);
        }
        for bad in [
            0.0,
            -0.0,
            -1.0,
            100.000_001,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(
                field(MovePercent::parse(bad).unwrap_err()),
                MOVE_FIELD,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_move_update_keeps_sets_and_clears() {
        use ThresholdChange::*;
        assert_eq!(MovePercent::apply(Some(3.0), Keep).unwrap(), Some(3.0));
        assert_eq!(MovePercent::apply(None, Set(7.5)).unwrap(), Some(7.5));
        assert_eq!(MovePercent::apply(Some(3.0), Clear).unwrap(), None);
        let err = MovePercent::apply(Some(3.0), Set(0.0)).unwrap_err();
        assert_eq!(field(err), MOVE_FIELD);
    }

    #[test]
    fn a_cooldown_is_at_most_a_week() {
        assert_eq!(Cooldown::parse(0).unwrap(), Cooldown::default());
        assert_eq!(Cooldown::parse(1800).unwrap().as_ms(), 1_800_000);
        assert_eq!(Cooldown::parse(604_800).unwrap().seconds(), 604_800);
        assert_eq!(field(Cooldown::parse(604_801).unwrap_err()), COOLDOWN_FIELD);
        assert_eq!(
            field(Cooldown::parse(u32::MAX).unwrap_err()),
            COOLDOWN_FIELD
        );
    }

    #[test]
    fn a_stored_cooldown_reads_back_in_seconds() {
        for s in [0, 1, 3600, Cooldown::MAX_SECONDS] {
            let c = Cooldown::parse(s).unwrap();
            assert_eq!(Cooldown::from_ms(c.as_ms()), c);
        }
        assert_eq!(Cooldown::from_ms(-5).seconds(), 0);
        assert_eq!(Cooldown::from_ms(i64::MAX).seconds(), Cooldown::MAX_SECONDS);
    }

    #[test]
    fn rules_from_a_request() {
        let none = WatchRules::new(None, None).unwrap();
        assert_eq!((none.move_percent(), none.cooldown.seconds()), (None, 0));
        let set = WatchRules::new(Some(4.0), Some(60)).unwrap();
        assert_eq!(
            (set.move_percent(), set.cooldown.as_ms()),
            (Some(4.0), 60_000)
        );
        assert_eq!(
            field(WatchRules::new(Some(101.0), None).unwrap_err()),
            MOVE_FIELD
        );
        assert_eq!(
            field(WatchRules::new(None, Some(700_000)).unwrap_err()),
            COOLDOWN_FIELD
        );
    }
}
