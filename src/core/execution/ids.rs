//! Client order ids (`newClientOrderId`): random, made once per order when it is journaled.
//!
//! Why random: an id must never repeat, across runs, across stores, and across a store and its
//! restored backup. Ids derived from what the order is (account, run, symbol, side …) repeat
//! whenever those repeat — run ids start at 1 in every fresh store, and a backup restored on
//! another host replays the same run ids — and then asking the exchange for "our" order after
//! a lost answer finds another store's order and books it as ours. So each order gets 119 bits
//! from the operating system's random source when it is written to the journal, and the
//! journal row is committed **before** the request is sent: a retry of that order (the client
//! resending after a failed connection, a later run reconciling it) reuses the stored id, and
//! never makes a new one.
//!
//! Format: `fks-` + the store's 8-character tag + 20 random base62 characters, 32 characters
//! in all. Only `[0-9A-Za-z-]`: inside both of Binance's documented patterns (spot
//! `^[a-zA-Z0-9-_]{1,36}$`, USDⓈ-M `^[\.A-Z\:/a-z0-9_-]{1,36}$`). The store tag (from the
//! store id kept in the store, see [`store_tag`]) makes the orders of one store recognisable on
//! the exchange; uniqueness rests on the random part alone, since a restored backup carries
//! the original's store id.

use crate::core::store::identity::{self, BASE62};
pub use crate::core::store::identity::{RandomError, random_base62};
use sha2::{Digest, Sha256};

/// Prefix of every client order id fks makes (so its orders are recognisable on the exchange).
pub const CLIENT_ORDER_ID_PREFIX: &str = "fks-";
/// Binance's maximum length of `newClientOrderId`.
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 36;
/// Length of the store tag in an id: a store id's.
pub const STORE_TAG_LEN: usize = identity::STORE_ID_LEN;
/// Random base62 characters per id (20 × log2(62) ≈ 119 bits).
pub const RANDOM_LEN: usize = 20;

/// The 8-character tag of a store id in client order ids: the id itself when it has the form
/// fks makes ([`identity::store_id`]), else derived from it (a store id written by hand in
/// another form, e.g. a UUID, still gives a stable tag of the allowed characters).
pub fn store_tag(store_id: &str) -> String {
    if identity::is_store_id(store_id) {
        return store_id.to_string();
    }
    let digest = Sha256::digest(store_id.as_bytes());
    digest
        .iter()
        .take(STORE_TAG_LEN)
        .map(|b| BASE62[(*b % 62) as usize] as char)
        .collect()
}

/// A new client order id for the store with tag `store_tag`: `fks-<tag><20 random>`.
pub fn new_client_order_id(store_tag: &str) -> Result<String, RandomError> {
    Ok(format!(
        "{CLIENT_ORDER_ID_PREFIX}{store_tag}{}",
        random_base62(RANDOM_LEN)?
    ))
}

/// Whether `id` is allowed by both of Binance's patterns (spot `^[a-zA-Z0-9-_]{1,36}$`,
/// futures `^[\.A-Z\:/a-z0-9_-]{1,36}$`), i.e. `^[a-zA-Z0-9-_]{1,36}$`.
pub fn is_valid_client_order_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ORDER_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn ids_have_the_documented_shape() {
        let tag = store_tag(&identity::new_store_id().unwrap());
        let id = new_client_order_id(&tag).unwrap();
        assert_eq!(id.len(), 4 + STORE_TAG_LEN + RANDOM_LEN);
        assert!(id.len() <= MAX_CLIENT_ORDER_ID_LEN);
        assert!(id.starts_with(&format!("fks-{tag}")), "{id}");
        assert!(is_valid_client_order_id(&id), "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "only characters both patterns allow: {id}"
        );
    }

    #[test]
    fn ids_never_repeat_even_for_the_same_store() {
        let tag = "AbCd1234";
        let ids: BTreeSet<String> = (0..20_000)
            .map(|_| new_client_order_id(tag).unwrap())
            .collect();
        assert_eq!(ids.len(), 20_000);
    }

    #[test]
    fn random_characters_are_spread_over_the_whole_alphabet() {
        let s = random_base62(62 * 400).unwrap();
        let mut counts: BTreeMap<char, usize> = BTreeMap::new();
        for c in s.chars() {
            *counts.entry(c).or_default() += 1;
        }
        assert_eq!(counts.len(), 62, "every base62 character appears");
        // 400 expected each; a biased modulo would give the first 8 about 25 % more.
        for (c, n) in counts {
            assert!((250..=550).contains(&n), "{c}: {n}");
        }
    }

    #[test]
    fn store_tags_are_stable_and_of_allowed_characters() {
        assert_eq!(store_tag("Zz09aBcD"), "Zz09aBcD");
        let uuid = "4f0c8f2e-6b1d-4c2a-9a57-0d6b8f3c2e11";
        assert_eq!(store_tag(uuid), store_tag(uuid));
        assert_eq!(store_tag(uuid).len(), STORE_TAG_LEN);
        assert!(store_tag(uuid).bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(store_tag(uuid), store_tag("another store"));
        assert!(!is_valid_client_order_id(""));
        assert!(!is_valid_client_order_id("has space"));
        assert!(!is_valid_client_order_id(&"a".repeat(37)));
    }

    proptest! {
        #[test]
        fn any_store_id_gives_a_valid_id(store_id in ".{0,80}") {
            let id = new_client_order_id(&store_tag(&store_id)).unwrap();
            prop_assert!(is_valid_client_order_id(&id));
            prop_assert_eq!(id.len(), 32);
        }
    }
}
