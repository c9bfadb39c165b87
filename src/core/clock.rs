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

/// `FKS_NOW` (ms since the epoch, a date or RFC 3339) fixes "now" for a run: for replaying a
/// day, and for tests of daily boundaries.
pub fn from_env(
    env: &dyn crate::core::config::Env,
) -> anyhow::Result<Option<std::sync::Arc<dyn Clock>>> {
    match env.var("FKS_NOW") {
        None => Ok(None),
        Some(v) => {
            let ms = crate::core::time::parse_time(&v)
                .map_err(|e| crate::core::config::ConfigError(format!("FKS_NOW: {e}")))?;
            Ok(Some(std::sync::Arc::new(FixedClock(ms))))
        }
    }
}
