//! Postgres backend (tokio-postgres). Values are bound by the parameter type Postgres infers,
//! so the same `Value`s work for BIGINT, DOUBLE PRECISION, TEXT and NUMERIC columns.

use super::{Row, Value, numbered_placeholders};
use anyhow::{Context, Result};
use bytes::BytesMut;
use rust_decimal::Decimal;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

/// Connect: TLS per `sslmode` (rustls), the password from the URL or `PGPASSWORD`, the
/// connect and statement timeouts and the application name of `opts`. Any failure is one
/// line naming host, port, database and user (never the password).
pub async fn connect(url: &str, opts: &super::OpenOptions) -> Result<Client> {
    use super::pg_tls;
    let shown = super::redact_url(url);
    let tls = pg_tls::split_url(
        url,
        opts.pgsslmode.as_deref(),
        opts.pgsslrootcert.as_deref(),
    )
    .map_err(|e| crate::core::config::ConfigError(format!("postgres URL {shown}: {e}")))?;
    let mut cfg: tokio_postgres::Config =
        tls.driver_url.parse().map_err(|e: tokio_postgres::Error| {
            crate::core::config::ConfigError(format!(
                "bad postgres URL {shown}: {}",
                one_line_error(&e)
            ))
        })?;
    if cfg.get_password().is_none()
        && let Some(pw) = opts.pgpassword.as_deref().filter(|p| !p.is_empty())
    {
        cfg.password(pw);
    }
    if cfg.get_application_name().is_none()
        && let Some(a) = &opts.application_name
    {
        cfg.application_name(a);
    }
    let timeout = cfg
        .get_connect_timeout()
        .copied()
        .unwrap_or(opts.connect_timeout);
    if !opts.connect_timeout.is_zero() && cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(opts.connect_timeout);
    }
    cfg.ssl_mode(match tls.sslmode {
        pg_tls::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        pg_tls::SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let target = describe_target(&cfg, tls.sslmode);
    let fail = |why: String| anyhow::anyhow!("cannot connect to postgres {target}: {why}");
    let tls_config = pg_tls::client_config(&tls)
        .map_err(|e| crate::core::config::ConfigError(format!("postgres {target}: {e}")))?;
    let attempt = async {
        match tls_config {
            None => {
                let (client, conn) = cfg.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::warn!("postgres connection closed: {}", one_line_error(&e));
                    }
                });
                Ok::<_, tokio_postgres::Error>(client)
            }
            Some(c) => {
                let (client, conn) = cfg
                    .connect(pg_tls::MakeRustls(std::sync::Arc::new(c)))
                    .await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::warn!("postgres connection closed: {}", one_line_error(&e));
                    }
                });
                Ok(client)
            }
        }
    };
    let client = if timeout.is_zero() {
        attempt.await
    } else {
        match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => {
                return Err(fail(format!(
                    "no answer within {}s (store.connect_timeout_secs)",
                    timeout.as_secs_f64()
                )));
            }
        }
    }
    .map_err(|e| fail(with_hint(&e, tls.sslmode)))?;
    if !opts.statement_timeout.is_zero() {
        client
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                opts.statement_timeout.as_millis()
            ))
            .await
            .map_err(|e| fail(one_line_error(&e)))?;
    }
    check_session_pooling(&client, &cfg, url, opts, &target).await?;
    Ok(client)
}

/// `host:port/database (user U, sslmode M)` for messages.
fn describe_target(cfg: &tokio_postgres::Config, mode: super::pg_tls::SslMode) -> String {
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("(none)");
    let db = cfg.get_dbname().unwrap_or(user);
    format!(
        "at {host}:{port}/{db} (user {user}, sslmode {})",
        mode.as_str()
    )
}

/// The error, with what to do for the usual TLS mistakes.
fn with_hint(e: &tokio_postgres::Error, mode: super::pg_tls::SslMode) -> String {
    use super::pg_tls::SslMode;
    let mut s = one_line_error(e);
    let db_code = e.as_db_error().map(|d| d.code().code().to_string());
    if mode == SslMode::Disable
        && db_code.as_deref() == Some("28000")
        && s.contains("no encryption")
    {
        s.push_str("; the server accepts only TLS connections: use sslmode=require or verify-full");
    } else if s.contains("invalid peer certificate") {
        s.push_str(
            "; the server's certificate was not signed by the CA in sslrootcert (or the system's roots), or does not name this host (verify-full)",
        );
    } else if s.contains("server does not support TLS") {
        s.push_str("; use sslmode=disable or prefer for a server without TLS");
    } else if db_code.as_deref() == Some("28P01") {
        s.push_str("; check the password in the URL or PGPASSWORD");
    }
    s
}

/// fks holds session advisory locks for its jobs and uses prepared statements: through a
/// pooler in transaction mode (PgBouncer `pool_mode = transaction`, Supavisor's 6543) both
/// break silently. When the server's port is not the one we dialled (a pooler or proxy is in
/// between), a second connection tells: in transaction mode it is handed the same server
/// session as the first, now idle, one.
async fn check_session_pooling(
    client: &Client,
    cfg: &tokio_postgres::Config,
    url: &str,
    opts: &super::OpenOptions,
    target: &str,
) -> Result<()> {
    let row = client
        .query_one("SELECT inet_server_port(), pg_backend_pid()", &[])
        .await
        .map_err(describe)?;
    let server_port: Option<i32> = row.get(0);
    let pid: i32 = row.get(1);
    let dialled = cfg.get_ports().first().copied().unwrap_or(5432);
    let direct = matches!(
        cfg.get_hosts().first(),
        Some(tokio_postgres::config::Host::Tcp(_))
    ) && server_port == Some(i32::from(dialled));
    #[cfg(unix)]
    let direct = direct
        || matches!(
            cfg.get_hosts().first(),
            Some(tokio_postgres::config::Host::Unix(_))
        );
    if direct || opts.pooler_probe_depth > 0 {
        return Ok(());
    }
    let mut probe_opts = opts.clone();
    probe_opts.pooler_probe_depth = 1;
    probe_opts.statement_timeout = std::time::Duration::ZERO;
    let other = Box::pin(connect(url, &probe_opts)).await?;
    let other_pid: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(describe)?
        .get(0);
    if other_pid == pid {
        return Err(crate::core::config::ConfigError(format!(
            "postgres {target} is a pooler in transaction mode (two connections shared one server session): fks holds session advisory locks and prepared statements, so it needs a direct connection or a session-mode pool (PgBouncer pool_mode = session)"
        ))
        .into());
    }
    Ok(())
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
