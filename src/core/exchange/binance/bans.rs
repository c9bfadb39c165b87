//! Bans and back-offs per API host, shared by every client of a process and kept in the store
//! so that every fks job of that store honours them.
//!
//! Binance counts request weight and bans per IP across its whole API: a 418 (IP ban) or a
//! 429 whose `Retry-After` is longer than `exchange.max_retry_wait_secs` means no request to
//! that host may be sent until the time given, by any job. The client records what it learns
//! in a [`BanBook`] (one per process, shared by all clients built from it); the job runner
//! [`save`]s new entries to the store's `kv` table when the job ends and [`load`]s stored
//! ones before a job starts. Times are the real wall clock (the exchange's ban is in real
//! time), never `FKS_NOW`.

use crate::core::store::Store;
use crate::vals;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// `kv` key prefix of a stored back-off; the host (`api.binance.com:443`) follows the `@`.
pub const KV_PREFIX: &str = "binance.backoff@";
/// The key older fks versions stored a 418 ban under (no host): honoured for every host.
pub const LEGACY_BAN_KEY: &str = "binance.banned_until_ms";
/// Host name under which an entry applies to every host.
const ANY_HOST: &str = "*";

/// A ban or back-off in force until `until_ms` (ms since the epoch, real time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    pub until_ms: i64,
    /// 418 (IP ban) or 429 (rate limit).
    pub status: u16,
    /// What happened, for the error message (`HTTP 429 on /api/v3/klines, Retry-After 3600s`).
    pub reason: String,
}

#[derive(Debug)]
struct Entry {
    backoff: Backoff,
    /// Learned by this process and not yet stored.
    unsaved: bool,
}

/// Back-offs per host. One per process; clients built with the same book share it.
#[derive(Debug, Default)]
pub struct BanBook {
    hosts: Mutex<HashMap<String, Entry>>,
}

impl BanBook {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The back-off in force for `host` at `now_ms`, if any (the latest-ending one).
    pub fn in_force(&self, host: &str, now_ms: i64) -> Option<Backoff> {
        let m = self.lock();
        [host, ANY_HOST]
            .iter()
            .filter_map(|h| m.get(*h))
            .map(|e| &e.backoff)
            .filter(|b| b.until_ms > now_ms)
            .max_by_key(|b| b.until_ms)
            .cloned()
    }

    /// Every back-off in force at `now_ms`, by host (`*`: every host), sorted by host.
    pub fn all_in_force(&self, now_ms: i64) -> Vec<(String, Backoff)> {
        let mut v: Vec<(String, Backoff)> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.backoff.until_ms > now_ms)
            .map(|(h, e)| (h.clone(), e.backoff.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Record a back-off learned now (to be stored). A later end wins over an earlier one.
    pub fn record(&self, host: &str, b: Backoff) {
        self.merge(host, b, true);
    }

    /// Adopt a back-off read from the store (already stored).
    pub fn adopt(&self, host: &str, b: Backoff) {
        self.merge(host, b, false);
    }

    fn merge(&self, host: &str, b: Backoff, unsaved: bool) {
        let mut m = self.lock();
        match m.get_mut(host) {
            Some(e) if e.backoff.until_ms >= b.until_ms => {}
            Some(e) => {
                e.backoff = b;
                e.unsaved |= unsaved;
            }
            None => {
                m.insert(
                    host.to_string(),
                    Entry {
                        backoff: b,
                        unsaved,
                    },
                );
            }
        }
    }

    /// Entries learned by this process that are not stored yet.
    pub fn unsaved(&self) -> Vec<(String, Backoff)> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.unsaved)
            .map(|(h, e)| (h.clone(), e.backoff.clone()))
            .collect()
    }

    fn mark_saved(&self, host: &str, until_ms: i64) {
        if let Some(e) = self.lock().get_mut(host)
            && e.backoff.until_ms == until_ms
        {
            e.unsaved = false;
        }
    }
}

/// Now on the real wall clock (ms), the clock bans and back-offs are kept in.
pub fn wall_now_ms() -> i64 {
    super::client::now_ms()
}

/// The host a base URL points at, as bans are keyed: `api.binance.com:443`.
pub fn host_key(base_url: &str) -> String {
    match reqwest::Url::parse(base_url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => base_url.to_string(),
    }
}

/// Read the back-offs stored in `store` into `book` (expired ones are skipped).
pub async fn load(store: &Store, book: &BanBook, now_ms: i64) -> Result<()> {
    let rows = store
        .query(
            "SELECT key, value FROM kv WHERE key = ? OR key LIKE ?",
            vals![LEGACY_BAN_KEY, format!("{KV_PREFIX}%")],
        )
        .await
        .context("read stored exchange back-offs")?;
    for r in rows {
        let (key, value) = (r.text(0)?, r.text(1)?);
        let (host, b) = if key == LEGACY_BAN_KEY {
            let Ok(until_ms) = value.trim().parse::<i64>() else {
                continue;
            };
            let b = Backoff {
                until_ms,
                status: 418,
                reason: "HTTP 418: binance banned this IP".into(),
            };
            (ANY_HOST.to_string(), b)
        } else {
            let Some(host) = key.strip_prefix(KV_PREFIX) else {
                continue;
            };
            // A value this version cannot read is ignored rather than blocking every job.
            let Ok(b) = serde_json::from_str::<Backoff>(&value) else {
                tracing::warn!("ignoring unreadable stored back-off {key}: {value:?}");
                continue;
            };
            (host.to_string(), b)
        };
        if b.until_ms > now_ms {
            book.adopt(&host, b);
        }
    }
    Ok(())
}

/// Store what `book` learned in this process (a later stored end is kept).
pub async fn save(store: &Store, book: &BanBook, now_ms: i64) -> Result<()> {
    for (host, b) in book.unsaved() {
        let key = format!("{KV_PREFIX}{host}");
        let stored = store
            .kv_get(&key)
            .await?
            .and_then(|v| serde_json::from_str::<Backoff>(&v).ok());
        if stored.as_ref().is_none_or(|s| s.until_ms < b.until_ms) {
            store
                .kv_set(&key, &serde_json::to_string(&b)?, now_ms)
                .await
                .context("store the exchange back-off")?;
        }
        book.mark_saved(&host, b.until_ms);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(until_ms: i64, status: u16) -> Backoff {
        Backoff {
            until_ms,
            status,
            reason: format!("HTTP {status}"),
        }
    }

    #[test]
    fn the_latest_end_wins_and_expired_ones_are_not_in_force() {
        let book = BanBook::new();
        book.record("a:443", b(1_000, 429));
        book.record("a:443", b(500, 418));
        assert_eq!(book.in_force("a:443", 0), Some(b(1_000, 429)));
        assert_eq!(book.in_force("a:443", 1_000), None);
        assert_eq!(book.in_force("b:443", 0), None, "per host");
        book.adopt(ANY_HOST, b(2_000, 418));
        assert_eq!(book.in_force("b:443", 0), Some(b(2_000, 418)));
        assert_eq!(
            book.unsaved().len(),
            1,
            "adopted entries are already stored"
        );
    }

    #[test]
    fn hosts_are_keyed_with_their_port() {
        assert_eq!(host_key("https://api.binance.com"), "api.binance.com:443");
        assert_eq!(host_key("http://127.0.0.1:9000/"), "127.0.0.1:9000");
        assert_eq!(
            host_key("HTTPS://FAPI.binance.com/"),
            "fapi.binance.com:443"
        );
    }

    #[tokio::test]
    async fn back_offs_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            crate::core::store::StoreUrl::parse(&dir.path().join("t.db").display().to_string())
                .unwrap();
        let store = Store::open(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let book = BanBook::new();
        book.record("h:1", b(10_000, 429));
        save(&store, &book, 0).await.unwrap();
        assert!(book.unsaved().is_empty());
        // An earlier end never overwrites a later stored one.
        let other = BanBook::new();
        other.record("h:1", b(5_000, 429));
        save(&store, &other, 0).await.unwrap();
        store.kv_set(LEGACY_BAN_KEY, "20000", 0).await.unwrap();
        store
            .kv_set("binance.backoff@x:1", "not json", 0)
            .await
            .unwrap();
        let fresh = BanBook::new();
        load(&store, &fresh, 1_000).await.unwrap();
        assert_eq!(
            fresh.in_force("h:1", 1_000).map(|b| b.until_ms),
            Some(20_000)
        );
        assert_eq!(fresh.in_force("h:1", 15_000).map(|b| b.status), Some(418));
        assert_eq!(fresh.in_force("x:1", 1_000).map(|b| b.status), Some(418));
        let later = BanBook::new();
        load(&store, &later, 25_000).await.unwrap();
        assert_eq!(
            later.in_force("h:1", 25_000),
            None,
            "expired entries are skipped"
        );
    }
}
