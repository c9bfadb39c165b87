//! A private Postgres cluster for one test, on its own port: TLS only (`hostssl` +
//! scram-sha-256), with a CA and server certificate made here by the `openssl` command.
//! The shared server on 5432 is not touched. Returns None, with a printed note, where a
//! cluster cannot be started (no Postgres binaries, no openssl, no `postgres` user).

use std::path::{Path, PathBuf};
use std::process::Command;

pub const PASSWORD: &str = "s3cret-Pa55";

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

impl Cluster {
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    /// A CA that did not sign the server's certificate.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?<query>`.
    pub fn url(&self, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres{q}",
            self.port
        )
    }
    pub fn url_without_password(&self, query: &str) -> String {
        self.url(query).replace(&format!(":{PASSWORD}@"), "@")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = pg(
            &self.bin,
            self.as_postgres,
            "pg_ctl",
            &["-D", path(&data), "-m", "immediate", "-w", "stop"],
        )
        .output();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn pg(bin: &Path, as_postgres: bool, tool: &str, args: &[&str]) -> Command {
    let exe = bin.join(tool);
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe).args(args);
        c
    } else {
        let mut c = Command::new(exe);
        c.args(args);
        c
    }
}

fn skip(why: &str) -> Option<Cluster> {
    eprintln!("note: cannot start a private TLS Postgres cluster ({why}); skipping this test");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The newest installed Postgres' bin folder.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

/// Make the certificates: a CA, a server certificate it signs for 127.0.0.1 and localhost,
/// and a second CA.
fn certificates(dir: &Path) -> bool {
    let ca = |name: &str| {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}-key.pem"),
                "-out",
                &format!("{name}.pem"),
            ],
        )
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .is_ok()
        && ca("ca")
        && ca("other-ca")
        && openssl(
            dir,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
                "server.key", "-out", "server.csr",
            ],
        )
        && openssl(
            dir,
            &[
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
            ],
        )
}

/// Start a TLS-only, scram-sha-256 cluster; extra lines go into postgresql.conf.
pub fn start(extra_conf: &str) -> Option<Cluster> {
    let Some(bin) = pg_bin() else {
        return skip("no /usr/lib/postgresql/*/bin/initdb");
    };
    if !openssl(Path::new("/"), &["version"]) {
        return skip("no openssl command to make certificates");
    }
    // initdb refuses to run as root: run the server as the `postgres` user then.
    let as_postgres = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if as_postgres
        && !Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return skip("running as root and there is no postgres user");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    if !certificates(dir.path()) {
        return skip("openssl could not make the certificates");
    }
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, PASSWORD).expect("write password file");
    if as_postgres {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres", path(dir.path())])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return skip("cannot give the cluster's folder to the postgres user");
        }
    }
    let data = dir.path().join("data");
    let out = pg(
        &bin,
        as_postgres,
        "initdb",
        &[
            "-D",
            path(&data),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            "--pwfile",
            path(&pwfile),
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return skip(&format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Err(e) => return skip(&format!("initdb: {e}")),
    }
    let port = free_port();
    let d = dir.path();
    let conf = format!(
        "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n\
         ssl = on\nssl_cert_file = '{crt}'\nssl_key_file = '{key}'\n\
         password_encryption = 'scram-sha-256'\nlog_connections = on\nfsync = off\n{extra_conf}\n",
        sock = path(d),
        crt = path(&d.join("server.crt")),
        key = path(&d.join("server.key")),
    );
    let mut f = std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
    f.push_str(&conf);
    std::fs::write(data.join("postgresql.conf"), f).expect("write postgresql.conf");
    // TLS only, passwords by SCRAM; the local socket for nobody.
    std::fs::write(
        data.join("pg_hba.conf"),
        "hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .expect("write pg_hba.conf");
    if as_postgres {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres", path(d)])
            .status();
    }
    let _ = Command::new("chmod")
        .args(["600", path(&d.join("server.key"))])
        .status();
    let log = d.join("server.log");
    let out = pg(
        &bin,
        as_postgres,
        "pg_ctl",
        &[
            "-D",
            path(&data),
            "-l",
            path(&log),
            "-w",
            "-t",
            "60",
            "start",
        ],
    )
    .output();
    let cluster = Cluster {
        dir,
        port,
        bin,
        as_postgres,
    };
    match out {
        Ok(o) if o.status.success() => Some(cluster),
        Ok(o) => skip(&format!(
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&o.stderr),
            cluster.log()
        )),
        Err(e) => skip(&format!("pg_ctl: {e}")),
    }
}
