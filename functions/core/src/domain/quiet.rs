//! A user's time zone and quiet hours: alerts that come during the quiet hours are held and
//! mailed as one digest when they end (notify decides; see `notify::delivery`).
//!
//! The time zone database is compiled in (jiff's bundled copy): the function images are
//! `FROM scratch` and carry no `/usr/share/zoneinfo`.

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::error::Error;

pub const TIME_ZONE_FIELD: &str = "time_zone";
pub const QUIET_HOURS_FIELD: &str = "quiet_hours";

/// Minutes in a day: a quiet-hours bound is a minute of the day, `0..MINUTES_PER_DAY`.
const MINUTES_PER_DAY: u16 = 24 * 60;

/// An IANA time zone name the bundled database knows (`Europe/Paris`, `UTC`).
#[derive(Debug, Clone)]
pub struct ZoneName {
    name: String,
    zone: TimeZone,
}

impl PartialEq for ZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl ZoneName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 {
            return Err(Error::invalid(
                field,
                "must be an IANA time zone name such as Europe/Paris or UTC",
            ));
        }
        let zone = TimeZone::get(raw).map_err(|_| {
            Error::invalid(
                field,
                format!("unknown time zone {raw:?}; use an IANA name such as Europe/Paris"),
            )
        })?;
        // The database's own spelling: lookups ignore case, the stored name should not.
        let name = zone.iana_name().unwrap_or(raw).to_owned();
        Ok(Self { name, zone })
    }

    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            zone: TimeZone::UTC,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl Default for ZoneName {
    fn default() -> Self {
        Self::utc()
    }
}

/// Quiet hours: from `start` (included) to `end` (excluded), minutes of the local day; the
/// span may run past midnight (22:00–07:00). `start != end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start_min: u16,
    end_min: u16,
}

/// `HH:MM`, 00:00–23:59.
fn minute_of_day(field: &'static str, raw: &str) -> Result<u16, Error> {
    let bad = || Error::invalid(field, format!("must be HH:MM (00:00–23:59), got {raw:?}"));
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl QuietHours {
    /// From `HH:MM` local times.
    pub fn parse(start: &str, end: &str) -> Result<Self, Error> {
        let start_min = minute_of_day(QUIET_HOURS_FIELD, start)?;
        let end_min = minute_of_day(QUIET_HOURS_FIELD, end)?;
        Self::new(start_min, end_min)
    }

    fn new(start_min: u16, end_min: u16) -> Result<Self, Error> {
        if start_min == end_min {
            return Err(Error::invalid(
                QUIET_HOURS_FIELD,
                "start and end must differ (quiet hours of no length, or of the whole day)",
            ));
        }
        Ok(Self { start_min, end_min })
    }

    /// As stored (`users.quiet_start_min`, `users.quiet_end_min`): both or neither.
    pub fn from_stored(start: Option<i64>, end: Option<i64>) -> Result<Option<Self>, Error> {
        let bound = |v: i64| {
            u16::try_from(v)
                .ok()
                .filter(|m| *m < MINUTES_PER_DAY)
                .ok_or_else(|| Error::Internal(format!("stored quiet hours bound {v} is invalid")))
        };
        match (start, end) {
            (Some(s), Some(e)) => Self::new(bound(s)?, bound(e)?)
                .map(Some)
                .map_err(|e| Error::Internal(format!("stored quiet hours are invalid: {e}"))),
            _ => Ok(None),
        }
    }

    pub fn start_min(self) -> u16 {
        self.start_min
    }

    pub fn end_min(self) -> u16 {
        self.end_min
    }

    /// `HH:MM` of a bound.
    pub fn format(minute: u16) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    fn contains(self, minute: u16) -> bool {
        if self.start_min < self.end_min {
            (self.start_min..self.end_min).contains(&minute)
        } else {
            minute >= self.start_min || minute < self.end_min
        }
    }

    /// `None` when `now_ms` is outside the quiet hours in `zone`; inside, the instant they end
    /// (Unix ms), when what was held is mailed. A local end time that a daylight-saving change
    /// skips is taken as the instant after the gap; one it repeats, as the next of the two.
    pub fn hold_until(self, zone: &ZoneName, now_ms: i64) -> Option<i64> {
        let now = Timestamp::from_millisecond(now_ms)
            .ok()?
            .to_zoned(zone.zone.clone());
        let minute =
            u16::from(now.hour().unsigned_abs()) * 60 + u16::from(now.minute().unsigned_abs());
        if !self.contains(minute) {
            return None;
        }
        let end = Time::new(
            i8::try_from(self.end_min / 60).ok()?,
            i8::try_from(self.end_min % 60).ok()?,
            0,
            0,
        )
        .ok()?;
        // The end is later today, unless the span runs past midnight and we are before it.
        let date = if minute < self.end_min {
            now.date()
        } else {
            now.date().tomorrow().ok()?
        };
        let local = DateTime::from_parts(date, end);
        let ambiguous = zone.zone.to_ambiguous_zoned(local);
        let at = ambiguous.clone().compatible().ok()?;
        // An end in the hour the clocks repeat (going back) happens twice; in the second pass
        // of that hour its first occurrence is already past, and the second is the end.
        let at = if at.timestamp() <= now.timestamp() {
            ambiguous.later().ok()?
        } else {
            at
        };
        Some(at.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            ZoneName::parse("tz", "Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
        assert_eq!(ZoneName::parse("tz", " UTC ").unwrap().as_str(), "UTC");
        for bad in ["", "Mars/Olympus", "CET+1", &"A".repeat(65)] {
            let err = ZoneName::parse("time_zone", bad).unwrap_err().to_string();
            assert!(err.contains("time_zone"), "{bad}: {err}");
        }
    }

    #[test]
    fn quiet_hours_parse_hh_mm() {
        let q = QuietHours::parse("22:00", "07:30").unwrap();
        assert_eq!((q.start_min(), q.end_min()), (1320, 450));
        assert_eq!(QuietHours::format(q.end_min()), "07:30");
        for (s, e) in [
            ("22:00", "22:00"),
            ("24:00", "07:00"),
            ("7:00", "08:00"),
            ("07:60", "08:00"),
            ("x", "08:00"),
            ("", ""),
        ] {
            let err = QuietHours::parse(s, e).unwrap_err().to_string();
            assert!(err.contains("quiet_hours"), "{s}-{e}: {err}");
        }
    }

    #[test]
    fn stored_bounds_are_both_or_neither() {
        assert_eq!(QuietHours::from_stored(None, None).unwrap(), None);
        assert_eq!(QuietHours::from_stored(Some(60), None).unwrap(), None);
        assert!(QuietHours::from_stored(Some(60), Some(60)).is_err());
        assert!(QuietHours::from_stored(Some(1440), Some(60)).is_err());
        assert!(QuietHours::from_stored(Some(-1), Some(60)).is_err());
        assert_eq!(
            QuietHours::from_stored(Some(60), Some(120)).unwrap(),
            Some(QuietHours::parse("01:00", "02:00").unwrap())
        );
    }

    #[test]
    fn hold_until_the_end_of_the_quiet_hours_in_the_users_zone() {
        let paris = ZoneName::parse("tz", "Europe/Paris").unwrap();
        let utc = ZoneName::utc();
        let night = QuietHours::parse("22:00", "07:00").unwrap();
        let lunch = QuietHours::parse("12:00", "13:30").unwrap();
        let cases: &[(&str, QuietHours, &ZoneName, &str, Option<&str>)] = &[
            // Past midnight, before it: ends tomorrow morning.
            (
                "before midnight",
                night,
                &utc,
                "2026-11-27T23:10:00Z",
                Some("2026-11-28T07:00:00Z"),
            ),
            (
                "after midnight",
                night,
                &utc,
                "2026-11-28T03:00:00Z",
                Some("2026-11-28T07:00:00Z"),
            ),
            (
                "start included",
                night,
                &utc,
                "2026-11-27T22:00:00Z",
                Some("2026-11-28T07:00:00Z"),
            ),
            ("end excluded", night, &utc, "2026-11-28T07:00:00Z", None),
            ("daytime", night, &utc, "2026-11-28T12:00:00Z", None),
            (
                "same-day span",
                lunch,
                &utc,
                "2026-11-28T12:59:00Z",
                Some("2026-11-28T13:30:00Z"),
            ),
            (
                "same-day span, outside",
                lunch,
                &utc,
                "2026-11-28T11:59:00Z",
                None,
            ),
            // Paris is UTC+1 in winter: 22:30 UTC is 23:30 local.
            (
                "winter zone",
                night,
                &paris,
                "2026-11-27T22:30:00Z",
                Some("2026-11-28T06:00:00Z"),
            ),
            (
                "winter zone, outside",
                night,
                &paris,
                "2026-11-27T20:30:00Z",
                None,
            ),
            // UTC+2 in summer.
            (
                "summer zone",
                night,
                &paris,
                "2026-07-01T20:30:00Z",
                Some("2026-07-02T05:00:00Z"),
            ),
            // The night clocks go forward (2026-03-29, 02:00 → 03:00 in Paris).
            (
                "over a DST change",
                night,
                &paris,
                "2026-03-28T23:00:00Z",
                Some("2026-03-29T05:00:00Z"),
            ),
        ];
        for (what, quiet, zone, now, want) in cases {
            let got = quiet.hold_until(zone, ms(now));
            assert_eq!(got, want.map(ms), "{what}");
        }
    }

    #[test]
    fn an_end_inside_a_repeated_hour_is_its_next_occurrence() {
        // Paris, 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:00–03:00 local happens
        // twice (00:00–01:00 UTC, then 01:00–02:00 UTC).
        let paris = ZoneName::parse("tz", "Europe/Paris").unwrap();
        let quiet = QuietHours::parse("22:00", "02:30").unwrap();
        let cases = [
            // The evening before: the first 02:30.
            ("2026-10-24T21:00:00Z", "2026-10-25T00:30:00Z"),
            // 02:10 the first time: the first 02:30, twenty minutes on.
            ("2026-10-25T00:10:00Z", "2026-10-25T00:30:00Z"),
            // 02:10 the second time: the first 02:30 is past; the second one.
            ("2026-10-25T01:10:00Z", "2026-10-25T01:30:00Z"),
        ];
        for (now, want) in cases {
            assert_eq!(quiet.hold_until(&paris, ms(now)), Some(ms(want)), "{now}");
        }
    }

    #[test]
    fn an_end_inside_a_skipped_hour_is_the_instant_after_it() {
        let paris = ZoneName::parse("tz", "Europe/Paris").unwrap();
        // 02:30 does not exist in Paris on 2026-03-29; 01:00 local is 00:00 UTC.
        let quiet = QuietHours::parse("00:00", "02:30").unwrap();
        let got = quiet
            .hold_until(&paris, ms("2026-03-29T00:00:00Z"))
            .unwrap();
        assert_eq!(got, ms("2026-03-29T01:30:00Z"));
    }
}
