//! The store's id: 16 random hex characters kept in `kv` (`store_id`), created by migration 9
//! (or here, if it was removed). It tells stores apart, e.g. in archive file names and the
//! archive manifest, so a SQLite store and a Postgres store run from one folder never take
//! each other's files for their own. A copy of a store (a restored backup) shares its id.

use super::Store;
use crate::vals;
use anyhow::{Context, Result};
use std::hash::{BuildHasher, Hasher};

/// The kv key of the store id.
pub const STORE_ID_KEY: &str = "store_id";

/// `n` random hex characters (the standard library's per-process random hash keys, mixed with
/// the time, the process id and a counter: unique, not secret).
pub fn random_hex(n: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

/// This store's id, created if missing.
pub async fn store_id(store: &Store, now_ms: i64) -> Result<String> {
    if let Some(id) = store.kv_get(STORE_ID_KEY).await? {
        return Ok(id);
    }
    store
        .exec(
            "INSERT INTO kv (key, value, updated_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
            vals![STORE_ID_KEY, random_hex(16), now_ms],
        )
        .await?;
    store
        .kv_get(STORE_ID_KEY)
        .await?
        .context("the store id could not be created")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_hex_and_differs() {
        let a = random_hex(16);
        let b = random_hex(16);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(random_hex(40).len(), 40);
    }
}
