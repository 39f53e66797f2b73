//! The only place the central reads the time. Tests and the demo can pin it.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

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
