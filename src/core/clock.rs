//! "Now" comes from a clock, so tests can fix it. `FKS_NOW` (ms or a date) fixes it for a run.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}
