//! Postgres backend (tokio-postgres). Values are bound by the parameter type Postgres infers,
//! so the same `Value`s work for BIGINT, DOUBLE PRECISION, TEXT and NUMERIC columns.

use super::{Row, Value, numbered_placeholders};
use anyhow::{Context, Result};
use bytes::BytesMut;
use rust_decimal::Decimal;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

pub async fn connect(url: &str) -> Result<Client> {
    let shown = super::redact_url(url);
    let cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        crate::core::config::ConfigError(format!(
            "bad postgres URL {shown}: {}",
            one_line_error(&e)
        ))
    })?;
    if matches!(cfg.get_ssl_mode(), tokio_postgres::config::SslMode::Require) {
        return Err(crate::core::config::ConfigError(
            "sslmode=require is not supported by this build; connect over a trusted network or a local socket tunnel"
                .into(),
        )
        .into());
    }
    // One line, and no chain of causes repeating it: the server's message with its
    // detail and hint, or the network error.
    let (client, conn) = cfg.connect(NoTls).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to postgres at {shown}: {}",
            one_line_error(&e)
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!("postgres connection closed: {}", one_line_error(&e));
        }
    });
    Ok(client)
}

/// A tokio-postgres error on one line: the server's message, detail and hint, or the
/// error and its causes (each said once).
fn one_line_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s.replace(['\n', '\r'], " ");
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let t = c.to_string().replace(['\n', '\r'], " ");
        if !parts.iter().any(|p| p.contains(t.as_str())) {
            parts.push(t);
        }
        cur = c.source();
    }
    parts.join(": ")
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::NUMERIC => Decimal::from(*i).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::NUMERIC => Decimal::try_from(*f)?.to_sql(ty, out),
                Type::INT8 => (*f as i64).to_sql(ty, out),
                _ => f.to_string().to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::NUMERIC => super::value::parse_decimal(s)
                    .map_err(|e| e.to_string())?
                    .to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::FLOAT8 => s.parse::<f64>()?.to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

pub async fn batch(c: &Client, sql: &str) -> Result<()> {
    c.batch_execute(sql).await.map_err(describe)
}

pub async fn exec(c: &Client, sql: &str, params: &[Value]) -> Result<u64> {
    let sql = numbered_placeholders(sql);
    c.execute(&sql, &refs(params))
        .await
        .map_err(describe)
        .with_context(|| format!("execute: {sql}"))
}

pub async fn query(c: &Client, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let sql = numbered_placeholders(sql);
    let rows = c
        .query(&sql, &refs(params))
        .await
        .map_err(describe)
        .with_context(|| format!("query: {sql}"))?;
    rows.iter().map(convert_row).collect()
}

fn convert_row(r: &tokio_postgres::Row) -> Result<Row> {
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v as i64)),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v as i64)),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v as i64)),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v as f64)),
            Type::NUMERIC => r
                .try_get::<_, Option<Decimal>>(i)?
                .map(|d| Value::Text(d.to_string())),
            _ => r
                .try_get::<_, Option<String>>(i)
                .with_context(|| format!("column {} ({})", col.name(), col.type_()))?
                .map(Value::Text),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

fn describe(e: tokio_postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => anyhow::anyhow!("postgres: {} ({})", db.message(), db.code().code()),
        None => anyhow::Error::new(e),
    }
}

/// Bulk-load rows with `COPY ... FROM STDIN` (text format) into `table(columns)`.
pub async fn copy_in_text(c: &Client, table: &str, columns: &str, lines: &[u8]) -> Result<u64> {
    use futures_util::SinkExt;
    let sink = c
        .copy_in::<_, bytes::Bytes>(&format!("COPY {table} ({columns}) FROM STDIN"))
        .await
        .map_err(describe)?;
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::copy_from_slice(lines))
        .await
        .map_err(describe)?;
    sink.finish().await.map_err(describe)
}
