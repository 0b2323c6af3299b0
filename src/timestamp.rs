//! Points in time as Consentry stores and shows them: RFC 3339 in UTC.
//!
//! Both stores keep timestamps as fixed-width text (`2026-02-02T08:15:00.000000Z`), so
//! that ordering and range filters are plain string comparisons that behave the same on
//! SQLite and PostgreSQL.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A UTC instant with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A value that is not an RFC 3339 date-time.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 date-time such as 2026-02-02T08:15:00Z")]
pub struct InvalidTimestamp(String);

const STORAGE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl Timestamp {
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self::from)
    }

    pub fn parse(text: &str) -> Result<Self, InvalidTimestamp> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from).map_err(|_| InvalidTimestamp(text.to_owned()))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn unix_millis(self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(time::Duration::seconds(seconds)))
    }

    /// This instant moved by an ISO 8601 duration, forwards or backwards, on the calendar:
    /// one month after 31 January is the last day of February.
    pub fn shifted(self, duration: &iso8601::Duration, direction: Direction) -> Self {
        let sign: i64 = match direction {
            Direction::Forward => 1,
            Direction::Back => -1,
        };
        let (months, exact) = match *duration {
            iso8601::Duration::Weeks(weeks) => (0, time::Duration::weeks(i64::from(weeks))),
            iso8601::Duration::YMDHMS { year, month, day, hour, minute, second, millisecond } => (
                i64::from(year) * 12 + i64::from(month),
                time::Duration::days(i64::from(day))
                    + time::Duration::hours(i64::from(hour))
                    + time::Duration::minutes(i64::from(minute))
                    + time::Duration::seconds(i64::from(second))
                    + time::Duration::milliseconds(i64::from(millisecond)),
            ),
        };
        let date = self.0.date();
        let month_index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + sign * months;
        let moved = i32::try_from(month_index.div_euclid(12))
            .ok()
            .zip(u8::try_from(month_index.rem_euclid(12) + 1).ok().and_then(|month| time::Month::try_from(month).ok()))
            .and_then(|(year, month)| {
                let day = date.day().min(time::util::days_in_month(month, year));
                time::Date::from_calendar_date(year, month, day).ok()
            })
            .map_or(self.0, |date| self.0.replace_date(date));
        let shifted = match direction {
            Direction::Forward => moved.saturating_add(exact),
            Direction::Back => moved.saturating_sub(exact),
        };
        Self(shifted)
    }

    /// The fixed-width text stored in the database.
    pub fn to_storage(self) -> String {
        // Only years outside 0000..=9999 cannot take the fixed width; they never occur in
        // learning data, and the plain rendering keeps them readable if they ever do.
        self.0.format(STORAGE_FORMAT).unwrap_or_else(|_| self.0.to_string())
    }
}

/// The time Consentry acts at: the system's, plus an offset that only tests move, so that
/// retention is tested without waiting.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        Timestamp::now().plus_seconds(self.offset_seconds.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance_seconds(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Which way [`Timestamp::shifted`] moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Back,
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        let utc = value.to_offset(UtcOffset::UTC);
        // Microseconds are what both stores keep; dropping the rest keeps round trips exact.
        let micros = utc.microsecond();
        Self(utc.replace_microsecond(micros).unwrap_or(utc))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_storage())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_storage())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Milliseconds as an ISO 8601 duration in seconds, e.g. `PT2011.099S`.
pub fn duration_from_millis(ms: i64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// A whole number of calendar months, for [`Timestamp::shifted`].
pub fn months(count: u32) -> iso8601::Duration {
    iso8601::Duration::YMDHMS { year: 0, month: count, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 }
}

/// An ISO 8601 duration (`P6M`, `PT12M30.5S`, `P2W`), or `None` when the text is not one.
/// The character check comes first because the parser accepts a valid prefix and ignores
/// what follows it.
pub fn parse_duration(text: &str) -> Option<iso8601::Duration> {
    let looks_right = text.len() > 1
        && text.starts_with('P')
        && text[1..].chars().all(|c| c.is_ascii_digit() || "YMWDTHS.".contains(c))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_right { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_text_is_fixed_width_utc_and_round_trips() {
        let parsed = Timestamp::parse("2026-02-02T09:15:00.5+01:00").unwrap();
        assert_eq!(parsed.to_storage(), "2026-02-02T08:15:00.500000Z");
        assert_eq!(Timestamp::parse(&parsed.to_storage()).unwrap(), parsed);
    }

    #[test]
    fn storage_text_orders_like_time() {
        let earlier = Timestamp::parse("2026-02-02T08:15:00Z").unwrap();
        let later = earlier.plus_seconds(1);
        assert!(earlier.to_storage() < later.to_storage());
    }

    #[test]
    fn durations_shift_on_the_calendar() {
        let at = |text: &str| Timestamp::parse(text).unwrap();
        let duration = |text: &str| parse_duration(text).unwrap();
        let end_of_january = at("2026-01-31T10:00:00Z");
        assert_eq!(end_of_january.shifted(&duration("P1M"), Direction::Forward), at("2026-02-28T10:00:00Z"));
        assert_eq!(end_of_january.shifted(&duration("P6M"), Direction::Back), at("2025-07-31T10:00:00Z"));
        assert_eq!(end_of_january.shifted(&duration("P1Y2M"), Direction::Back), at("2024-11-30T10:00:00Z"));
        assert_eq!(end_of_january.shifted(&duration("P2W"), Direction::Back), at("2026-01-17T10:00:00Z"));
        assert_eq!(end_of_january.shifted(&duration("P1DT12H"), Direction::Forward), at("2026-02-01T22:00:00Z"));
    }

    #[test]
    fn text_that_is_not_a_date_time_is_refused() {
        let error = Timestamp::parse("next tuesday").unwrap_err();
        assert!(error.to_string().contains("next tuesday"));
    }
}
