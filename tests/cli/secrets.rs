//! Secrets in fks.toml: never echoed in a configuration error whatever their type; the
//! files `fks init` writes are private; a readable fks.toml holding secrets is warned about.

use crate::support::{Sandbox, run_json};
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_secret_is_never_echoed_in_a_config_error_whatever_its_type() {
    let sb = Sandbox::new();
    // (fks.toml, the secret value that must not appear)
    let cases = [
        ("[exchange]\napi_secret = 98765432123\n", "98765432123"),
        ("[exchange]\napi_key = 98765432123.25\n", "98765432123.25"),
        (
            "[exchange]\napi_secret = [\"hunter2hunter2\"]\n",
            "hunter2hunter2",
        ),
        (
            "[exchange]\napi_secret = { k = \"hunter2hunter2\" }\n",
            "hunter2hunter2",
        ),
        (
            "[exchange]\napi_secret = 1979-05-27T07:32:00Z\n",
            "1979-05-27",
        ),
        ("exchange.api_secret = 424242424242\n", "424242424242"),
        (
            "[exchange]\napi_secret = true\nrecv_window_ms = \"x\"\n",
            "api_secret = true",
        ),
        (
            "[notifications.discord]\nwebhook_url = 31337313373\n",
            "31337313373",
        ),
        (
            "[notifications]\ndiscord = { webhook_url = 31337313373 }\n",
            "31337313373",
        ),
        (
            "[notifications.telegram]\nbot_token = 123456789012\nchat_id = 5\n",
            "123456789012",
        ),
        (
            "[notifications.webhook]\nurl = 55555555555\n",
            "55555555555",
        ),
        (
            "[notifications.webhook]\nurl = \"https://h.example/x\"\nsecret = 66666666666\n",
            "66666666666",
        ),
        (
            "[notifications.email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\npassword = 4242424242\n",
            "4242424242",
        ),
        (
            "[[news.sources]]\nname = \"n\"\nkind = \"cryptocompare\"\nurl = \"https://x.example\"\napi_key = 77777777777\n",
            "77777777777",
        ),
    ];
    for (text, secret) in cases {
        sb.write("fks.toml", text);
        let out = sb.fks().args(["-v", "list-data"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stdout} {stderr}");
        assert!(stderr.contains("fks.toml"), "{stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{text}: the secret is shown: {stdout} {stderr}"
        );
    }
    // A .env line that cannot be parsed is not quoted either.
    std::fs::remove_file(sb.path().join("fks.toml")).unwrap();
    sb.write(".env", "BINANCE_API_SECRET=abc def\"hunter2hunter2\n");
    let out = sb.fks().arg("list-data").output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn init_writes_config_and_store_private() {
    let sb = Sandbox::new();
    let (code, v, _) = run_json(sb.fks().env_remove("DATABASE_URL").arg("init"));
    assert_eq!(code, 0, "{v}");
    let (toml, db) = (sb.path().join("fks.toml"), sb.path().join("fks.db"));
    assert_eq!(mode(&toml), 0o600);
    assert_eq!(mode(&db), 0o600);
    // SQLite's -wal and -shm files take the database file's mode.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO kv (key, value, updated_ms) VALUES ('t', 'x', 0)",
        [],
    )
    .unwrap();
    for ext in ["fks.db-wal", "fks.db-shm"] {
        let p = sb.path().join(ext);
        assert!(p.exists(), "{ext} missing");
        assert_eq!(mode(&p), 0o600, "{ext}");
    }
    drop(conn);
    // --force over a world-readable file leaves it private too.
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, _) = run_json(
        sb.fks()
            .env_remove("DATABASE_URL")
            .args(["init", "--force"]),
    );
    assert_eq!(code, 0);
    assert_eq!(mode(&toml), 0o600);
    // A store a job creates (in an existing folder) is private as well.
    let other = sb.path().join("other.db");
    let (code, _, _) = run_json(sb.fks().env("DATABASE_URL", &other).arg("list-data"));
    assert_eq!(code, 0);
    assert_eq!(mode(&other), 0o600);
}

#[test]
fn a_readable_config_holding_secrets_is_warned_about_on_every_run() {
    let sb = Sandbox::new();
    let toml = sb.write(
        "fks.toml",
        "[exchange]\napi_key = \"k3y-value-123\"\napi_secret = \"s3cr3t-value-456\"\n",
    );
    for m in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(m)).unwrap();
        for _ in 0..2 {
            let (code, v, err) = run_json(sb.fks().arg("list-data"));
            assert_eq!(code, 0, "{v}");
            let warning: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
            assert_eq!(warning.len(), 1, "{m:o}: {err}");
            assert!(
                warning[0].contains("fks.toml")
                    && warning[0].contains("chmod 600")
                    && warning[0].contains("exchange.api_secret")
                    && warning[0].contains("environment"),
                "{err}"
            );
            assert!(
                !err.contains("s3cr3t") && !err.contains("k3y-value"),
                "{err}"
            );
        }
    }
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, _, err) = run_json(sb.fks().arg("list-data"));
    assert!(!err.contains("warning:"), "{err}");
    // A readable file without secrets is fine.
    sb.write("fks.toml", "[market]\ntimeframe = \"1h\"\n");
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, _, err) = run_json(sb.fks().arg("list-data"));
    assert!(!err.contains("warning:"), "{err}");
    // -q silences it.
    sb.write(
        "fks.toml",
        "[notifications.discord]\nwebhook_url = \"https://discord.com/api/webhooks/1/abc\"\n",
    );
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, _, err) = run_json(sb.fks().arg("list-data"));
    assert!(err.contains("notifications.discord.webhook_url"), "{err}");
    let (_, _, err) = run_json(sb.fks().args(["-q", "list-data"]));
    assert!(!err.contains("warning:"), "{err}");
}

/// A Postgres password given in the URL's query (`?password=`, as libpq and tokio-postgres
/// accept it) is as secret as one before the `@`: never in an error, never in the journal's
/// record of the run's arguments.
#[test]
fn a_password_in_the_database_urls_query_is_never_shown_or_journaled() {
    let sb = Sandbox::new();
    const PW: &str = "Hunter2QuerySecret";
    for url in [
        format!("postgres://nobody@127.0.0.1:1/db?password={PW}"),
        format!(
            "postgres://nobody@127.0.0.1:1/db?sslmode=disable&password={PW}&application_name=x"
        ),
        format!("postgresql://nobody:{PW}@127.0.0.1:1/db?password={PW}"),
    ] {
        let out = sb.fks().args(["--db", &url, "list-data"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(PW), "{all}");
        // The connection error names where it tried (host, port, database, user, sslmode:
        // wn-pg's form, no URL), never the password.
        assert!(all.contains("127.0.0.1:1/db"), "{all}");
    }
    // On a real server (trust auth ignores the password), the run's journaled arguments.
    let Some(pg) = crate::support::pg_database() else {
        eprintln!("FKS_TEST_DATABASE_URL not set: the journal half of this test is skipped");
        return;
    };
    let url = format!("{pg}?password={PW}");
    let (code, v, _) = run_json(sb.fks().args(["--db", &url, "init"]));
    assert!(code == 0 || code == 3, "{v}");
    let _ = sb
        .fks()
        .args(["--db", &url, "update-indicators"])
        .output()
        .unwrap();
    let out = sb.fks().args(["--db", &url, "runs"]).output().unwrap();
    let runs = String::from_utf8_lossy(&out.stdout);
    assert!(runs.contains("update-indicators"), "{runs}");
    assert!(!runs.contains(PW), "{runs}");
    let dump = std::process::Command::new("psql")
        .args([pg.as_str(), "-tAc", "SELECT args FROM runs"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&dump.stdout).contains(PW));
}
