//! Postgres as it is deployed: TLS only and a password (scram-sha-256), on a private
//! cluster started by the test on its own port; and the connection settings against the
//! shared server.

use crate::support::binance::{self, KlinesResponder};
use crate::support::pgcluster::{self, PASSWORD};
use crate::support::{Sandbox, rt, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;

fn fks(sb: &Sandbox, url: &str, exchange: &str) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("DATABASE_URL", url)
        .env("FKS_BINANCE_BASE_URL", exchange)
        .env("FKS_NOW", (T0 + 48 * H + 5_000).to_string());
    c
}

#[test]
fn tls_only_cluster_with_scram() {
    let Some(cl) = pgcluster::start("") else {
        return;
    };
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(
                binance::series(T0, H, 48, 42_000.0),
                H,
            ))
            .mount(&server),
    );
    let ex = server.uri();

    // require: encrypted, not verified; a sync, then reads.
    let url = cl.url("sslmode=require");
    let (code, v, err) =
        run_json(fks(&sb, &url, &ex).args(["sync-market-data", "--since", &T0.to_string()]));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 48);
    assert!(!err.contains(PASSWORD) && !v.to_string().contains(PASSWORD));
    // The server saw a TLS connection named after the job.
    let log = cl.log();
    assert!(
        log.contains("application_name=fks/sync-market-data") && log.contains("SSL enabled"),
        "{log}"
    );

    // verify-full with the right CA, the password from PGPASSWORD and the mode and CA
    // from PGSSLMODE / PGSSLROOTCERT: the rows are there.
    let out = fks(&sb, &cl.url_without_password(""), &ex)
        .env("PGPASSWORD", PASSWORD)
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", cl.ca())
        .args(["candles", "--symbol", "BTCUSDT", "--timeframe", "1h"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    assert_eq!(csv.lines().count(), 49, "header + 48 candles: {csv}");

    // verify-full in the URL, the CA as a URL parameter.
    let url = cl.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        cl.ca().display()
    ));
    let (code, v, err) = run_json(fks(&sb, &url, &ex).arg("sync-market-data"));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 0);

    // A certificate another CA signed is refused: one line naming host, port and database.
    let url = cl.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        cl.other_ca().display()
    ));
    let (code, v, err) = run_json(fks(&sb, &url, &ex).arg("sync-market-data"));
    assert_eq!(code, 1, "{v} {err}");
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "{err}");
    assert!(
        line.starts_with(&format!(
            "error: cannot connect to postgres at 127.0.0.1:{}/postgres (user postgres, sslmode verify-full)",
            cl.port
        )),
        "{line}"
    );
    assert!(line.contains("invalid peer certificate"), "{line}");
    assert!(
        !line.contains(PASSWORD) && !v.to_string().contains(PASSWORD),
        "{line}"
    );

    // Without TLS the server refuses, and the message says what to do.
    let (code, _, err) = run_json(fks(&sb, &cl.url("sslmode=disable"), &ex).arg("status"));
    assert_eq!(code, 1);
    assert!(
        err.contains("the server accepts only TLS connections: use sslmode=require"),
        "{err}"
    );

    // A wrong password: a clear line, the password never printed.
    let wrong = cl.url("sslmode=require").replace(PASSWORD, "not-the-pw");
    let (code, _, err) = run_json(fks(&sb, &wrong, &ex).arg("status"));
    assert_eq!(code, 1);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains("check the password") && !err.contains("not-the-pw"),
        "{err}"
    );

    // An unknown sslmode is a configuration error (exit 2).
    let (code, _, err) = run_json(fks(&sb, &cl.url("sslmode=strict"), &ex).arg("status"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("use disable, prefer, require, verify-ca or verify-full"),
        "{err}"
    );
}

/// The connect timeout: a server that accepts and never answers is given up on, in one line.
#[test]
fn connect_timeout_is_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sb = Sandbox::new();
    sb.write("fks.toml", "[store]\nconnect_timeout_secs = 1\n");
    let url = format!("postgres://fks:hunter2@127.0.0.1:{port}/prod?sslmode=disable");
    let (code, _, err) = run_json(
        sb.fks()
            .env("DATABASE_URL", &url)
            .args(["--config", "fks.toml", "status"]),
    );
    drop(l);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "cannot connect to postgres at 127.0.0.1:{port}/prod (user fks, sslmode disable): no answer within 1s"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// The statement timeout and application name reach the server's session.
#[test]
fn statement_timeout_and_application_name() {
    let Some(url) = crate::support::pg_database() else {
        return;
    };
    let rt = rt();
    rt.block_on(async {
        use fks::core::store::{OpenOptions, Store, StoreUrl};
        let opts = OpenOptions {
            statement_timeout: std::time::Duration::from_secs(1),
            application_name: Some("fks/run-backtest".into()),
            ..Default::default()
        };
        let s = Store::open_with(&StoreUrl::parse(&url).unwrap(), &opts)
            .await
            .unwrap();
        let r = s
            .query_one(
                "SELECT current_setting('application_name'), current_setting('statement_timeout')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.text(0).unwrap(), "fks/run-backtest");
        assert_eq!(r.text(1).unwrap(), "1s");
        let e = s.query("SELECT pg_sleep(3)", &[]).await.unwrap_err();
        assert!(format!("{e:#}").contains("57014"), "{e:#}");
    });
}
