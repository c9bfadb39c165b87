//! A wiremock matcher that verifies Binance HMAC-SHA256 signatures on the server side.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use wiremock::{Match, Request};

pub struct SignedBy {
    pub key: String,
    pub secret: String,
}

impl Match for SignedBy {
    fn matches(&self, req: &Request) -> bool {
        let Some(q) = req.url.query() else {
            return false;
        };
        let Some((payload, sig)) = q.rsplit_once("&signature=") else {
            return false;
        };
        let key_ok = req
            .headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok())
            == Some(self.key.as_str());
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        key_ok && hex::encode(mac.finalize().into_bytes()) == sig && payload.contains("timestamp=")
    }
}
