//! Backend-neutral values and rows.

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v as i64)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v as i64)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(v as i64)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Value::Real(v)
        } else {
            Value::Null
        }
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&Decimal> for Value {
    fn from(v: &Decimal) -> Self {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}
impl From<&crate::core::market::Symbol> for Value {
    fn from(v: &crate::core::market::Symbol) -> Self {
        Value::Text(v.0.clone())
    }
}
impl From<crate::core::market::Timeframe> for Value {
    fn from(v: crate::core::market::Timeframe) -> Self {
        Value::Text(v.as_str().to_string())
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .with_context(|| format!("column {i} out of range"))
    }

    pub fn is_null(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(Value::Null) | None)
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Real(v) => Ok(Some(*v as i64)),
            Value::Text(s) => s
                .parse()
                .map(Some)
                .with_context(|| format!("column {i}: {s:?} is not an integer")),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    pub fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v as f64)),
            Value::Real(v) => Ok(Some(*v)),
            Value::Text(s) => s
                .parse()
                .map(Some)
                .with_context(|| format!("column {i}: {s:?} is not a number")),
        }
    }

    pub fn real(&self, i: usize) -> Result<f64> {
        self.opt_real(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(v.to_string())),
            Value::Real(v) => Ok(Some(v.to_string())),
            Value::Text(s) => Ok(Some(s.clone())),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    pub fn opt_dec(&self, i: usize) -> Result<Option<Decimal>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(Decimal::from(*v))),
            Value::Real(v) => Decimal::try_from(*v)
                .map(Some)
                .with_context(|| format!("column {i}: {v} is not a decimal")),
            Value::Text(s) => parse_decimal(s)
                .map(Some)
                .with_context(|| format!("column {i}")),
        }
    }

    pub fn dec(&self, i: usize) -> Result<Decimal> {
        self.opt_dec(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    pub fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }
}

/// Parse a decimal string exactly (also accepts scientific notation).
pub fn parse_decimal(s: &str) -> Result<Decimal> {
    let t = s.trim();
    if t.is_empty() {
        bail!("empty decimal");
    }
    t.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(t))
        .with_context(|| format!("{s:?} is not a decimal number"))
}
