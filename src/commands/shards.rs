//! Which symbols a per-symbol job works on, and `--shard K/N`.

use super::Ctx;
use crate::core::market::Symbol;

/// The symbols a per-symbol job works on: the flags, else config; then the shard's share.
pub fn pick_symbols(ctx: &Ctx, flags: &[Symbol], shard: Option<Shard>) -> Vec<Symbol> {
    let mut v: Vec<Symbol> = if flags.is_empty() {
        ctx.settings.symbols().to_vec()
    } else {
        flags.to_vec()
    };
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    if let Some(s) = shard {
        v.retain(|x| s.owns(x.as_str()));
    }
    v
}

/// Parse-time helper for `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: expected K/N such as 1/3"))?;
        let (k, n): (u32, u32) = (
            k.trim()
                .parse()
                .map_err(|_| format!("--shard {s:?}: K is not a number"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("--shard {s:?}: N is not a number"))?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(format!("--shard {s:?}: need 1 <= K <= N"));
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether this shard owns `key` (a stable hash, so every host agrees).
    pub fn owns(&self, key: &str) -> bool {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in key.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        // FNV-1a's low bits spread badly over small N (its prime is 1 mod 3: with N = 3 the
        // usual USDT symbols nearly all fell in two shards); murmur3's finaliser mixes them.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51afd7ed558ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ceb9fe1a85ec53);
        h ^= h >> 33;
        (h % self.n as u64) as u32 == self.k - 1
    }

    /// Whether a run with this `--shard` (or none: everything) works on `key`.
    pub fn keeps(shard: Option<Shard>, key: &str) -> bool {
        shard.is_none_or(|s| s.owns(key))
    }

    pub fn suffix(shard: Option<Shard>) -> String {
        shard
            .map(|s| format!("#{}/{}", s.k, s.n))
            .unwrap_or_default()
    }
}
