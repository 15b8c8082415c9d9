//! The `pupitre` binary as a user runs it: first start, login with the printed password,
//! configuration errors, migrations on PostgreSQL, the admin commands, graceful shutdown,
//! and the headless-browser smoke test.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pupitre_store::testing::TestDb;

mod support;

use support::{BIN, Server, admin_token, client};

/// Logs in through the HTML form; returns the response to the form post.
async fn form_login(base: &str, login: &str, password: &str) -> reqwest::Response {
    let http = client();
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let body = format!(
        "csrf={csrf}&login={login}&password={}",
        password.replace('!', "%21")
    );
    http.post(format!("{base}/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_the_schema_and_an_admin_whose_printed_password_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[], &[]);
    assert!(
        dir.path().join("pupitre-data/pupitre.db").exists(),
        "the default data directory holds the SQLite file"
    );
    let line = server
        .lines
        .iter()
        .find(|l| l.contains("first administrator"))
        .unwrap()
        .clone();
    let password = line
        .split("password `")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap()
        .to_owned();
    let ready = client()
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let r = form_login(&server.base, "admin", &password).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        "/password",
        "a printed password must be changed at first login"
    );
    // The credentials key is made once, for its owner's eyes only.
    let key_path = dir.path().join("pupitre-data/credentials.key");
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(key.trim().len(), 64, "{key:?}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(server.stop().success(), "SIGTERM ends pupitre cleanly");
    // A second start keeps the data and prints no new password.
    let mut again = Server::start(dir.path(), &[], &[]);
    assert!(
        !again
            .lines
            .iter()
            .any(|l| l.contains("first administrator")),
        "{:?}",
        again.lines
    );
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key);
    assert!(again.stop().success());
}

#[tokio::test]
async fn admin_password_from_the_environment_and_tokens_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[],
        &[("PUPITRE_ADMIN_PASSWORD", "env-Admin-passphrase")],
    );
    let r = form_login(&server.base, "admin", "env-Admin-passphrase").await;
    assert_eq!(r.headers()["location"], "/");
    let token = admin_token(dir.path(), "ci");
    assert!(token.starts_with("pup_"));
    let me = client()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let out = Command::new(BIN)
        .args([
            "admin",
            "users",
            "create",
            "--login",
            "night.op",
            "--display-name",
            "Night operator",
            "--profile",
            "operator",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let password = text
        .split("initial password (change at first login): ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        form_login(&server.base, "night.op", &password)
            .await
            .headers()["location"],
        "/password"
    );
    let out = Command::new(BIN)
        .args(["admin", "users", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("night.op"));
    let out = Command::new(BIN)
        .args([
            "admin",
            "users",
            "create",
            "--login",
            "night.op",
            "--display-name",
            "Again",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login: is already taken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["admin", "users", "reset-password", "--login", "night.op"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("new password: ")
    );
    assert!(server.stop().success());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[],
        &[("PUPITRE_ADMIN_PASSWORD", "term-Admin-passphrase")],
    );
    let out = Command::new(BIN)
        .args([
            "admin", "tokens", "create", "--login", "admin", "--name", "t",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // An import whose rows carry passwords takes a while: each one is hashed with Argon2id.
    let mut csv = String::from("login,display_name,password\n");
    for i in 0..40 {
        csv.push_str(&format!("slow{i},Slow {i},a-long-enough-password-{i}\n"));
    }
    let request = tokio::spawn({
        let base = server.base.clone();
        async move {
            client()
                .post(format!("{base}/api/v1/users/import"))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    assert!(server.stop().success());
    assert_eq!(
        request.await.unwrap().unwrap(),
        200,
        "the in-flight import completed before the server stopped"
    );
    eprintln!(
        "stopped {} ms after SIGTERM",
        stopping.elapsed().as_millis()
    );
    // And its rows were committed.
    let out = Command::new(BIN)
        .args(["admin", "users", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .matches("slow")
            .count(),
        40
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pupitre.toml"),
        "listen = \"127.0.0.1:0\"\nlisen = 1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", "pupitre.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lisen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["serve"])
        .env("PUPITRE_LISTN", "x")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUPITRE_LISTN"));
    let out = Command::new(BIN)
        .args(["serve", "--listen", "nowhere"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen:"));
}

/// Runs `pupitre` in `dir`; returns success, stdout and stderr.
fn pupitre(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn inventory_export_import_into_a_fresh_data_dir_and_show() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(
        a.path().join("in.csv"),
        "asset_type,name,Serial No,Junk,hostname,notes,interfaces,attr:firmware,tags\n\
         server,web01,SN-1,x,web01.example.com,\"two, \"\"quoted\"\"\nlines\",\"[{\"\"name\"\":\"\"eth0\"\",\"\"mac\"\":\"\"00-1A-2B-3C-4D-5E\"\"}]\",2.1,\"prod,web\"\n\
         switch,sw01,SN-2,y,,,,,\n\
         licence,Office 365,,z,office.example.com,,,,\n",
    )
    .unwrap();
    let map = ["--map", "Serial No=serial", "--map", "Junk="];
    let (ok, out, err) = pupitre(
        a.path(),
        &[&["inventory", "import", "in.csv", "--dry-run"][..], &map].concat(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("row 2: create web01"), "{out}");
    assert!(out.contains("3 would be created"), "{out}");
    let (ok, out, err) = pupitre(
        a.path(),
        &[&["inventory", "import", "in.csv"][..], &map].concat(),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("3 rows: 3 created, 0 updated, 0 unchanged"),
        "{out}"
    );
    let (ok, out, _) = pupitre(
        a.path(),
        &[&["inventory", "import", "in.csv"][..], &map].concat(),
    );
    assert!(ok);
    assert!(out.contains("0 created, 0 updated, 3 unchanged"), "{out}");

    let (ok, _, err) = pupitre(a.path(), &["inventory", "export", "--output", "a.csv"]);
    assert!(ok, "{err}");
    let first = std::fs::read_to_string(a.path().join("a.csv")).unwrap();
    assert!(first.starts_with("asset_type,name,entity,"), "{first}");
    let file = a.path().join("a.csv");
    let (ok, out, err) = pupitre(b.path(), &["inventory", "import", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("3 created"), "{out}");
    let (ok, second, _) = pupitre(b.path(), &["inventory", "export"]);
    assert!(ok);
    assert_eq!(
        first, second,
        "export, import elsewhere, export: the same file"
    );

    let (ok, out, err) = pupitre(b.path(), &["inventory", "show", "SN-1"]);
    assert!(ok, "{err}");
    for want in [
        "web01 (asset 1)",
        "web01.example.com",
        "eth0  00:1a:2b:3c:4d:5e",
        "firmware = 2.1",
        "0 installed",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let (ok, out, _) = pupitre(b.path(), &["inventory", "show", "office.example.com"]);
    assert!(ok && out.starts_with("Office 365"), "{out}");
    let (ok, _, err) = pupitre(b.path(), &["inventory", "show", "nothing-like-this"]);
    assert!(!ok && err.contains("no asset"), "{err}");

    // Row errors: a non-zero exit, each error with its row and column, nothing written.
    std::fs::write(
        b.path().join("bad.csv"),
        "asset_type,name,serial,interfaces\nserver,ok,SN-9,\nserver,bad,SN-10,\"[{\"\"mac\"\":\"\"zz\"\"}]\"\n",
    )
    .unwrap();
    let (ok, _, err) = pupitre(b.path(), &["inventory", "import", "bad.csv"]);
    assert!(!ok);
    assert!(
        err.contains("row 3, column interfaces: interfaces[0].mac"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    let (_, after, _) = pupitre(b.path(), &["inventory", "export"]);
    assert_eq!(after, second);
}

#[tokio::test]
async fn migrate_and_serve_on_postgresql() {
    let db = TestDb::postgres().await;
    // TestDb migrated the schema already; a fresh one shows `migrate` applying it.
    let fresh = TestDb::postgres().await;
    let url = fresh.url();
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 migration(s) applied"),
        "TestDb had migrated it"
    );
    drop(fresh);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &["--database-url", &db.url()],
        &[("PUPITRE_ADMIN_PASSWORD", "pg-Admin-passphrase")],
    );
    assert!(
        !dir.path().join("pupitre-data").exists(),
        "PostgreSQL needs no data directory"
    );
    let r = form_login(&server.base, "admin", "pg-Admin-passphrase").await;
    assert_eq!(r.headers()["location"], "/");
    assert!(server.stop().success());
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

#[tokio::test]
async fn browser_smoke_test_in_english_and_french() {
    let dir = browser_dir();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium (apt-get install chromium; .ci/run does it)"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        // The pinned playwright-core comes from the npm registry; it downloads no browser.
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &[],
        &[("PUPITRE_ADMIN_PASSWORD", "smoke-Admin-Passw0rd!")],
    );
    let out = tokio::process::Command::new("node")
        .arg("smoke.js")
        .current_dir(&dir)
        .env("BASE_URL", &server.base)
        .env("LOGIN", "admin")
        .env("PASSWORD", "smoke-Admin-Passw0rd!")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser smoke test failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    assert!(server.stop().success());
}
