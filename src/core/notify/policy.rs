//! Timeouts and rate-limit patience shared by every channel.

use std::time::Duration;

/// Default timeout of one HTTP request or SMTP command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest total time one send waits for rate limits before giving up.
pub const DEFAULT_MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);

/// Timeouts and rate-limit patience shared by every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Timeout of each request (each SMTP command for e-mail).
    pub timeout: Duration,
    /// Longest total time one `send` waits for rate limits; a longer wait is not made and
    /// the send fails with [`NotifyError::RateLimited`].
    pub max_rate_limit_wait: Duration,
    /// How many times one part is tried when the service keeps answering 429.
    pub max_attempts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: DEFAULT_TIMEOUT,
            max_rate_limit_wait: DEFAULT_MAX_RATE_LIMIT_WAIT,
            max_attempts: 5,
        }
    }
}
