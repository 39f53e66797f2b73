//! The only place the central reads the time. Tests and the demo can pin it.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use onshi_domain::wareki::push_digits;

/// Japan Standard Time, UTC+9 (no daylight saving).
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

pub trait Clock: Send + Sync {
    fn now_utc(&self) -> DateTime<Utc>;
    fn now_jst(&self) -> DateTime<FixedOffset> {
        self.now_utc().with_timezone(&jst())
    }
    /// Today's date in Japan.
    fn today(&self) -> NaiveDate {
        self.now_jst().date_naive()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock pinned to one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        self.0
    }
}

/// `t` as `YYYYMMDDHHMMSS` (the interface's 処理実行日時), what
/// `t.format("%Y%m%d%H%M%S")` writes, without parsing a format string on every answer.
pub fn compact_time<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    compact_naive(&t.naive_local())
}

/// [`compact_time`] of a local date and time.
pub fn compact_naive(t: &chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let y = t.year();
    // chrono writes a leap second (kept in the nanoseconds) as second 60
    if !(0..=9999).contains(&y) || t.nanosecond() >= 1_000_000_000 {
        return t.format("%Y%m%d%H%M%S").to_string();
    }
    let mut s = String::with_capacity(14);
    for (v, w) in [
        (y as u32, 4),
        (t.month(), 2),
        (t.day(), 2),
        (t.hour(), 2),
        (t.minute(), 2),
        (t.second(), 2),
    ] {
        push_digits(&mut s, v, w);
    }
    s
}

/// `t` as RFC 3339 with milliseconds (`2026-12-03T20:07:30.123+09:00`), what
/// `t.format("%Y-%m-%dT%H:%M:%S%.3f%:z")` writes, without parsing a format string on every
/// history row.
pub fn stamp_millis(t: &DateTime<FixedOffset>) -> String {
    use chrono::{Datelike, Timelike};
    let offset = t.offset().local_minus_utc();
    let l = t.naive_local();
    if !(0..=9999).contains(&l.year()) || l.nanosecond() >= 1_000_000_000 || offset % 60 != 0 {
        return t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
    }
    let mut s = onshi_domain::wareki::format_iso_date(l.date());
    s.reserve(19);
    s.push('T');
    push_digits(&mut s, l.hour(), 2);
    s.push(':');
    push_digits(&mut s, l.minute(), 2);
    s.push(':');
    push_digits(&mut s, l.second(), 2);
    s.push('.');
    push_digits(&mut s, l.nanosecond() / 1_000_000, 3);
    s.push(if offset < 0 { '-' } else { '+' });
    let m = offset.unsigned_abs() / 60;
    push_digits(&mut s, m / 60, 2);
    s.push(':');
    push_digits(&mut s, m % 60, 2);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_hand_written_times_are_what_chrono_writes() {
        let offsets = [
            9 * 3600,
            0,
            -5 * 3600 - 30 * 60,
            14 * 3600,
            5 * 3600 + 45 * 60,
        ];
        // Every field at its edges and in between, and a spread of instants over four
        // centuries (the step is prime to every field's period).
        let mut instants: Vec<i64> = vec![0, 1, 59, 86_399, 951_782_400, 1_798_761_599];
        let mut t = -2_208_988_800i64; // 1900-01-01
        while t < 7_258_118_400 {
            instants.push(t);
            t += 86_400 * 97 + 3_607;
        }
        for secs in instants {
            for nanos in [0, 999_999, 1_000_000, 123_456_789, 999_999_999] {
                for &o in &offsets {
                    let tz = FixedOffset::east_opt(o).unwrap();
                    let t = tz.timestamp_opt(secs, nanos).unwrap();
                    assert_eq!(compact_time(&t), t.format("%Y%m%d%H%M%S").to_string());
                    assert_eq!(
                        stamp_millis(&t),
                        t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
                        "{t:?}"
                    );
                }
            }
        }
        // Outside the four-digit years chrono's own writing is kept.
        let far = jst().with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(compact_time(&far), far.format("%Y%m%d%H%M%S").to_string());
        assert_eq!(
            stamp_millis(&far),
            far.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
        );
        // A leap second (chrono keeps it in the nanoseconds).
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        let leap = Utc.from_utc_datetime(&leap).with_timezone(&jst());
        assert_eq!(
            stamp_millis(&leap),
            leap.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
        );
        assert_eq!(compact_time(&leap), leap.format("%Y%m%d%H%M%S").to_string());
    }
}
