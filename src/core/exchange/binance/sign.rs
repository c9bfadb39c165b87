//! HMAC-SHA256 request signing, alone in this file, and the query-string encoding it signs.
//!
//! Binance signs the exact bytes sent: we build the query string ourselves (percent-encoding
//! everything but RFC 3986 unreserved characters, before signing), sign it, append
//! `signature=<hex>` last, and send that string unchanged.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use crate::core::config::Secret;

/// `hex(HMAC_SHA256(key = secret, msg = payload))`, lowercase.
pub fn sign(secret: &Secret, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Percent-encode a query value: unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay, every
/// other byte of the UTF-8 becomes `%XX` (uppercase hex, as in Binance's examples).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// `name=value&…` in the given order, values percent-encoded.
pub fn query_string<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut q = String::new();
    for (k, v) in params {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&encode_component(k.as_ref()));
        q.push('=');
        q.push_str(&encode_component(v.as_ref()));
    }
    q
}

/// Append `signature=<hex>` (computed over `query` exactly) as the last parameter.
pub fn signed_query(secret: &Secret, query: &str) -> String {
    let sig = sign(secret, query);
    if query.is_empty() {
        format!("signature={sig}")
    } else {
        format!("{query}&signature={sig}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn spot_doc_vector() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                       &recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign(&Secret::new(SPOT_SECRET), payload),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn spot_non_ascii_vector_is_signed_after_percent_encoding() {
        let params = [
            ("symbol", "１２３４５６"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
            ("recvWindow", "5000"),
            ("timestamp", "1499827319559"),
        ];
        let q = query_string(&params);
        assert_eq!(
            q,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT\
             &timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            sign(&Secret::new(SPOT_SECRET), &q),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[test]
    fn futures_doc_vector() {
        let secret =
            Secret::new("2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9");
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC\
                       &recvWindow=5000&timestamp=1591702613943";
        assert_eq!(
            sign(&secret, payload),
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    #[test]
    fn signature_is_appended_last() {
        let s = Secret::new(SPOT_SECRET);
        let q = signed_query(&s, "a=1&b=2");
        assert!(q.starts_with("a=1&b=2&signature="));
        assert_eq!(q.len(), "a=1&b=2&signature=".len() + 64);
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new(SPOT_SECRET);
        assert_eq!(format!("{s}"), "****");
        assert_eq!(format!("{s:?}"), "****");
        assert_eq!(format!("{:?}", Some(s)), "Some(****)");
    }

    #[test]
    fn json_array_values_are_encoded() {
        assert_eq!(
            query_string(&[("symbols", r#"["BTCUSDT","ETHUSDT"]"#)]),
            "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"
        );
    }
}
