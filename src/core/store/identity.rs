//! The store's id: 8 random base62 characters kept in `kv` under `store_id`, made once per
//! store by [`store_id`], the only place that creates it (on first use: the first archive run
//! or the first order journaled). It tells stores apart:
//! - in archive file names and the archive manifest, so a SQLite store and a Postgres store
//!   archiving into one folder never take each other's files for their own;
//! - as the tag of every client order id fks makes (`fks-<store id><20 random>`, see
//!   `core::execution::ids`), so one store's orders are recognisable on the exchange.
//!
//! A copy of a store (a restored backup) shares its id: nothing relies on it alone for
//! uniqueness (order ids and archive file names carry random parts of their own).

use super::Store;
use crate::vals;
use anyhow::{Context, Result};

/// The kv key of the store id.
pub const STORE_ID_KEY: &str = "store_id";
/// Characters of a store id.
pub const STORE_ID_LEN: usize = 8;

/// The base62 alphabet of store ids and client order ids.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The operating system's random source failed (it practically never does).
#[derive(Debug, thiserror::Error)]
#[error("could not read random bytes from the operating system: {0}")]
pub struct RandomError(String);

/// `n` uniformly random base62 characters from the OS random source (rejection sampling, so
/// no character is likelier than another).
pub fn random_base62(n: usize) -> Result<String, RandomError> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::getrandom(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        // 248 = 4 × 62: bytes at or above it would favour the first characters.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == n {
                break;
            }
            out.push(BASE62[(*b % 62) as usize] as char);
        }
    }
    Ok(out)
}

/// `n` random lowercase hex characters from the OS random source (for names that must stay
/// distinct on case-insensitive file systems too).
pub fn random_hex(n: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    getrandom::getrandom(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    let mut out: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    out.truncate(n);
    Ok(out)
}

/// A new store id: [`STORE_ID_LEN`] random base62 characters.
pub fn new_store_id() -> Result<String, RandomError> {
    random_base62(STORE_ID_LEN)
}

/// Whether `s` has the form of a store id fks makes.
pub fn is_store_id(s: &str) -> bool {
    s.len() == STORE_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// This store's id, created if missing. Two processes may race here: the first write wins
/// and both read it back.
pub async fn store_id(store: &Store, now_ms: i64) -> Result<String> {
    if let Some(id) = store.kv_get(STORE_ID_KEY).await? {
        return Ok(id);
    }
    let id = new_store_id()?;
    store
        .exec(
            "INSERT INTO kv (key, value, updated_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
            vals![STORE_ID_KEY, id.as_str(), now_ms],
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
    fn store_ids_have_the_documented_form_and_differ() {
        let a = new_store_id().unwrap();
        let b = new_store_id().unwrap();
        assert!(is_store_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_store_id("0123456789abcdef"), "16 hex is not the format");
        assert!(!is_store_id("abc-1234"));
    }

    #[test]
    fn random_hex_is_hex_and_differs() {
        let a = random_hex(16).unwrap();
        let b = random_hex(16).unwrap();
        assert_eq!(a.len(), 16);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert_eq!(random_hex(41).unwrap().len(), 41);
    }

    #[tokio::test]
    async fn the_store_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            super::super::StoreUrl::parse(&dir.path().join("s.db").display().to_string()).unwrap();
        let store = Store::open(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            store.kv_get(STORE_ID_KEY).await.unwrap(),
            None,
            "no migration makes it"
        );
        let first = store_id(&store, 1).await.unwrap();
        assert!(is_store_id(&first), "{first}");
        assert_eq!(store_id(&store, 2).await.unwrap(), first);
    }
}
