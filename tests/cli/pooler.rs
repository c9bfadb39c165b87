//! Connection poolers: through PgBouncer in transaction mode fks's session advisory locks
//! and prepared statements would break silently, so fks refuses it with a clear error; a
//! session-mode pool works. Debian's `pgbouncer` stands in; skipped with a note without it.

use crate::support::{Sandbox, run_json};
use std::process::{Child, Command, Stdio};

struct Bouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PgBouncer on its own port in front of the shared server, with a transaction-mode and a
/// session-mode database for `db`.
fn bouncer(db: &str) -> Option<Bouncer> {
    let exe = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(exe) = exe else {
        eprintln!(
            "note: pgbouncer is not installed (apt-get install pgbouncer); skipping this test"
        );
        return None;
    };
    let base = std::env::var("FKS_TEST_DATABASE_URL").ok()?;
    let hostport = base.split('@').nth(1)?.split('/').next()?.to_string();
    let (host, port) = hostport.split_once(':').unwrap_or((&hostport, "5432"));
    let dir = tempfile::tempdir().unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path().display();
    std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").unwrap();
    std::fs::write(
        dir.path().join("pgbouncer.ini"),
        format!(
            "[databases]\n\
             txn = host={host} port={port} dbname={db} pool_mode=transaction\n\
             sess = host={host} port={port} dbname={db} pool_mode=session\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {d}/users.txt\nlogfile = {d}/pgbouncer.log\n\
             pidfile = {d}/pgbouncer.pid\nignore_startup_parameters = extra_float_digits,options\n"
        ),
    )
    .unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    // PgBouncer refuses to run as root.
    let mut cmd = if root {
        let _ = Command::new("chown")
            .args(["-R", "postgres", &d.to_string()])
            .status();
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", exe]);
        c
    } else {
        Command::new(exe)
    };
    let child = cmd
        .arg(dir.path().join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let b = Bouncer {
        child,
        port: listen,
        _dir: dir,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", listen)).is_ok() {
            return Some(b);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    eprintln!("note: pgbouncer did not start; skipping this test");
    None
}

#[test]
fn transaction_pooling_is_refused_session_pooling_works() {
    let Some(url) = crate::support::pg_database() else {
        return;
    };
    let db = url.rsplit('/').next().unwrap().to_string();
    let Some(b) = bouncer(&db) else {
        return;
    };
    let sb = Sandbox::new();
    let via = |name: &str| {
        format!(
            "postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable",
            b.port
        )
    };
    let (code, v, err) = run_json(sb.fks().env("DATABASE_URL", via("txn")).arg("status"));
    assert_eq!(code, 2, "{v} {err}");
    assert!(
        err.contains("is a pooler in transaction mode")
            && err.contains("needs a direct connection or a session-mode pool"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, v, err) = run_json(sb.fks().env("DATABASE_URL", via("sess")).arg("status"));
    assert_eq!(code, 0, "{v} {err}");
}
