//! Serde helpers for `f64` values that may be NaN or infinite.
//!
//! Indicator state must come back from the store bit for bit, or a resumed run would
//! differ from a full recomputation in the last digit. Two things get in the way with
//! JSON: it has no NaN or infinity (serde_json writes them as `null` and then refuses
//! to read `null` back into an `f64`), and serde_json's default number parser is not
//! correctly rounded (off by one ulp now and then, unless its `float_roundtrip`
//! feature is on). So these helpers write every `f64` as a JSON *string*: Rust's
//! shortest round-trip decimal form (read back with Rust's correctly rounded parser),
//! or `"NaN"`, `"inf"`, `"-inf"`. Reading also accepts plain numbers and `null` (NaN).

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An `f64` that survives a JSON round trip bit for bit (NaN payloads aside).
#[derive(Debug, Clone, Copy)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else {
            // Display is the shortest decimal that parses back to the same f64,
            // and prints infinities as "inf" / "-inf".
            s.collect_str(&v)
        }
    }
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Float;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, null, or a string holding a number, \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
        Ok(Float(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
        Ok(Float(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
        Ok(Float(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
        // Rust's parser is correctly rounded and reads "NaN", "inf", "-inf",
        // "infinity" (any case) too.
        v.trim()
            .parse::<f64>()
            .map(Float)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Float, E> {
        Ok(Float(f64::NAN))
    }

    fn visit_none<E: de::Error>(self) -> Result<Float, E> {
        Ok(Float(f64::NAN))
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

/// `#[serde(with = "float_serde")]` for a single `f64` field.
pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    Float(*v).serialize(s)
}

/// See [`serialize`].
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Float::deserialize(d).map(|f| f.0)
}

/// `#[serde(with = "float_serde::vec")]` for a `Vec<f64>` field.
pub(crate) mod vec {
    use super::Float;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| Float(*x)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Float>::deserialize(d)?
            .into_iter()
            .map(|f| f.0)
            .collect())
    }
}
