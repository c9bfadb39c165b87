//! Request-weight budget shared by every request of one client (and its clones).
//!
//! Binance counts weight per IP in fixed one-minute windows and reports the running total in
//! `x-mbx-used-weight-1m`. Before each request we reserve its weight; if that would take the
//! minute past 90 % of the limit we sleep until the window rolls over, so fks slows down
//! before the limit instead of collecting 429s (and then a 418 ban).
//!
//! Window boundaries come from the server's `Date` header when present (second resolution,
//! rounded so that we wait slightly too long rather than too short), else from the local
//! clock corrected by the server-time offset. Elapsed time is measured with
//! `tokio::time::Instant`, so tests can run the budget under paused time.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct WeightBudget {
    limit: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Weight used in the current window: the max of the last header seen in it and what this
    /// client reserved since.
    used: u32,
    /// The last `x-mbx-used-weight-1m` value seen.
    last_header: Option<u32>,
    window_end: Option<Instant>,
    /// Everyone waits until then (set by a 429's `Retry-After`).
    pause_until: Option<Instant>,
    throttled: u64,
}

impl State {
    fn roll(&mut self, now: Instant, wall_now_ms: i64) {
        match self.window_end {
            None => self.window_end = Some(now + to_boundary(wall_now_ms)),
            Some(end) if now >= end => {
                self.used = 0;
                let mut end = end;
                while end <= now {
                    end += MINUTE;
                }
                self.window_end = Some(end);
            }
            Some(_) => {}
        }
    }
}

fn to_boundary(wall_now_ms: i64) -> Duration {
    Duration::from_millis((60_000 - wall_now_ms.rem_euclid(60_000)) as u64)
}

impl WeightBudget {
    pub fn new(limit_per_minute: u32) -> Self {
        WeightBudget {
            limit: limit_per_minute,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Throttle threshold: 90 % of the limit.
    pub fn threshold(&self) -> u32 {
        (self.limit as u64 * 9 / 10) as u32
    }

    pub fn used(&self) -> u32 {
        self.lock().used
    }

    pub fn last_header(&self) -> Option<u32> {
        self.lock().last_header
    }

    /// How many times a request had to wait for the next window.
    pub fn throttled(&self) -> u64 {
        self.lock().throttled
    }

    /// Reserve `weight` for a request about to be sent, first waiting out a 429 pause and,
    /// when the window is nearly used up, the rest of the window. Returns the time waited.
    #[cfg(test)]
    pub async fn acquire(&self, weight: u32, wall_now_ms: impl Fn() -> i64) -> Duration {
        self.acquire_within(weight, wall_now_ms, Duration::MAX)
            .await
            .unwrap_or_else(|w| w)
    }

    /// Like `acquire`, but a 429 pause longer than `max_wait` is not waited: `Err` gives how
    /// long it would have been (nothing is reserved), so the caller can stop instead of
    /// holding its job's lock through it. Waiting for the next minute of the weight budget is
    /// always waited out: it is a normal short wait, at most one minute by construction.
    pub async fn acquire_within(
        &self,
        weight: u32,
        wall_now_ms: impl Fn() -> i64,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        let started = Instant::now();
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                if let Some(p) = s.pause_until.filter(|p| *p > now) {
                    if p - now > max_wait {
                        return Err(p - now);
                    }
                    Some(p - now)
                } else {
                    s.roll(now, wall_now_ms());
                    if s.used == 0 || s.used.saturating_add(weight) <= self.threshold() {
                        s.used = s.used.saturating_add(weight);
                        None
                    } else {
                        s.throttled += 1;
                        let end = s.window_end.expect("roll sets the window");
                        tracing::info!(
                            used = s.used,
                            weight,
                            limit = self.limit,
                            wait_ms = (end - now).as_millis() as u64,
                            "request weight near the limit; waiting for the next minute"
                        );
                        // The window ends at most a minute from now (`roll`, `observe`).
                        Some((end - now).min(MINUTE + Duration::from_secs(1)))
                    }
                }
            };
            match wait {
                None => return Ok(started.elapsed()),
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Record a response's `x-mbx-used-weight-1m` and, when known, the second-of-minute of its
    /// `Date` header.
    pub fn observe(&self, used: u32, server_second: Option<u32>, wall_now_ms: i64) {
        let mut s = self.lock();
        let now = Instant::now();
        s.roll(now, wall_now_ms);
        s.last_header = Some(used);
        let new_end = match server_second {
            Some(sec) => now + Duration::from_secs(60 - u64::from(sec.min(59))),
            None => now + to_boundary(wall_now_ms),
        };
        match s.window_end {
            // The server is already in the next minute: its count replaces ours.
            Some(end) if new_end > end + Duration::from_secs(30) => s.used = used,
            _ => s.used = s.used.max(used),
        }
        s.window_end = Some(new_end);
    }

    /// After a 429: nobody sends anything for `d`.
    pub fn pause(&self, d: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + d;
        s.pause_until = Some(s.pause_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_next_minute_near_the_limit() {
        let b = WeightBudget::new(100);
        assert_eq!(b.threshold(), 90);
        // Local clock 12:00:10.000; nothing known yet → no wait.
        let wall = 10_000;
        assert_eq!(b.acquire(2, || wall).await, Duration::ZERO);
        // The server says 89 used, at second 30 of its minute.
        b.observe(89, Some(30), wall);
        assert_eq!(b.used(), 89);
        // 89 + 1 = 90 is still allowed, then 90 + 2 is not: wait the 30 s left.
        assert_eq!(b.acquire(1, || wall).await, Duration::ZERO);
        let waited = b.acquire(2, || wall).await;
        assert_eq!(waited, Duration::from_secs(30));
        assert_eq!(b.throttled(), 1);
        // New window: only this request's weight is counted.
        assert_eq!(b.used(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_wait_is_waited_whatever_the_retry_limit_and_a_long_pause_is_not() {
        let b = WeightBudget::new(100);
        b.observe(95, Some(10), 10_000);
        // 50 s to the next minute, far more than a 1 s retry limit: still waited, once.
        let w = b
            .acquire_within(2, || 10_000, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(w, Duration::from_secs(50));
        // A 429 pause longer than the limit is not waited: its length is returned.
        b.pause(Duration::from_secs(120));
        assert_eq!(
            b.acquire_within(2, || 70_000, Duration::from_secs(30))
                .await,
            Err(Duration::from_secs(120))
        );
        // One within the limit is.
        let b = WeightBudget::new(100);
        b.pause(Duration::from_secs(3));
        assert_eq!(
            b.acquire_within(2, || 0, Duration::from_secs(30)).await,
            Ok(Duration::from_secs(3))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn local_clock_sets_the_window_without_a_date_header() {
        let b = WeightBudget::new(10);
        let wall = 59_500; // half a second before the minute ends
        b.observe(9, None, wall);
        let waited = b.acquire(1, || wall).await;
        assert_eq!(waited, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_everyone() {
        let b = WeightBudget::new(6000);
        b.pause(Duration::from_secs(3));
        assert_eq!(b.acquire(1, || 0).await, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_from_the_next_minute_replaces_the_count() {
        let b = WeightBudget::new(100);
        b.observe(95, Some(59), 0); // our window ends in 1 s
        b.observe(3, Some(0), 0); // server already in the next minute
        assert_eq!(b.used(), 3);
        assert_eq!(b.acquire(2, || 0).await, Duration::ZERO);
    }
}
