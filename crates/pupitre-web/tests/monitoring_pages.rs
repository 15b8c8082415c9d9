//! The supervision pages for downtimes, check templates and credentials, over HTTP against a
//! real SQLite file: the lists render, a form creates what the API would, a refused form names
//! its field and keeps what was typed (never a secret), saving a template shows what applying
//! it changed, and a caller without the level gets 403.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use support::{App, start};

use pupitre_web::WebConfig;
use serde_json::{Value, json};

/// A status, the `Location` header (for a redirect) and the body.
struct Answer {
    status: u16,
    location: String,
    body: String,
}

impl App {
    /// A client that does not follow redirects, so that a test sees where a form leads.
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn page(&self, path: &str, token: &str) -> Answer {
        let resp = Self::client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    async fn post_form(&self, path: &str, token: &str, pairs: &[(&str, &str)]) -> Answer {
        let resp = Self::client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(pairs).unwrap())
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            location,
            body: resp.text().await.unwrap(),
        }
    }

    async fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.status()
        );
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null)
    }

    /// An asset in production, tagged `web`, and one TCP check on it.
    async fn host(&self, token: &str, name: &str) -> (i64, i64) {
        let asset = self
            .api(
                "POST",
                "/api/v1/assets",
                token,
                Some(json!({"name": name, "asset_type": "server", "management_ip": "127.0.0.1", "tags": ["web"]})),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let check = self
            .api(
                "POST",
                "/api/v1/checks",
                token,
                Some(json!({"asset_id": asset, "name": "discard", "probe": {"kind": "tcp", "port": 9}, "interval": 3600})),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        (asset, check)
    }
}

#[tokio::test]
async fn the_lists_and_the_new_template_form_render() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    for path in [
        "/monitoring/downtimes",
        "/monitoring/templates",
        "/monitoring/templates/new",
        "/monitoring/credentials",
        "/monitoring/credentials/new",
    ] {
        let a = app.page(path, &admin).await;
        assert_eq!(a.status, 200, "GET {path}");
        assert!(
            a.body.contains("href=\"/monitoring/downtimes\""),
            "GET {path}: the tabs"
        );
        assert!(!a.body.contains("??"), "GET {path}: an untranslated key");
    }
    let a = app.page("/monitoring/downtimes", &admin).await;
    assert!(
        a.body.contains("action=\"/monitoring/downtimes\""),
        "the form"
    );
    let a = app.page("/monitoring/templates/new", &admin).await;
    assert!(
        a.body.contains("&#34;kind&#34;: &#34;ping&#34;")
            || a.body.contains("&quot;kind&quot;: &quot;ping&quot;")
    );
}

#[tokio::test]
async fn a_downtime_made_with_the_form_is_listed_and_deleted_with_its_button() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    let (asset, check) = app.host(&admin, "web-1").await;

    // The host's and the check's pages link to the form, prefilled.
    let host = app
        .page(&format!("/monitoring/hosts/{asset}"), &admin)
        .await;
    assert!(host.body.contains(&format!(
        "/monitoring/downtimes?asset_id={asset}#downtime-new"
    )));
    let form = app
        .page(&format!("/monitoring/downtimes?check_id={check}"), &admin)
        .await;
    assert!(form.body.contains(&format!(
        "name=\"check_id\" type=\"number\" min=\"1\" value=\"{check}\""
    )));

    let asset_s = asset.to_string();
    let check_s = check.to_string();
    let one_off = [
        ("asset_id", asset_s.as_str()),
        ("starts_at", "2026-12-01T22:00:00Z"),
        ("ends_at", "2099-12-02T02:00:00Z"),
        ("comment", "firmware <b>upgrade</b>"),
    ];
    let weekly = [
        ("check_id", check_s.as_str()),
        ("starts_at", "2026-01-01T00:00:00Z"),
        ("ends_at", "2099-01-01T00:00:00Z"),
        ("weekdays", "sat"),
        ("weekdays", "sun"),
        ("start_time", "02:00"),
        ("duration_minutes", "90"),
        ("comment", "weekend backups"),
    ];
    for pairs in [&one_off[..], &weekly[..]] {
        let a = app.post_form("/monitoring/downtimes", &admin, pairs).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location, "/monitoring/downtimes?done=created");
    }

    let list = app.page("/monitoring/downtimes?done=created", &admin).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Created."), "the flash");
    assert!(
        list.body
            .contains(&format!("href=\"/monitoring/hosts/{asset}\">web-1</a>"))
    );
    assert!(list.body.contains(&format!(
        "href=\"/monitoring/checks/{check}\">web-1 — discard</a>"
    )));
    assert!(list.body.contains("2099-12-02T02:00:00Z"));
    assert!(list.body.contains("Saturday, Sunday · 02:00 UTC · 90 min"));
    assert!(list.body.contains("weekend backups"));
    assert!(!list.body.contains("<b>upgrade"), "the comment is escaped");
    assert!(
        list.body.contains("firmware &#60;b&#62;upgrade")
            || list.body.contains("firmware &lt;b&gt;upgrade")
    );

    // The API sees what the form made, and the delete button removes it.
    let api = app.api("GET", "/api/v1/downtimes", &admin, None).await;
    let items = api.as_array().unwrap();
    assert_eq!(items.len(), 2);
    let weekly = items.iter().find(|d| d["check_id"] == check).unwrap();
    assert_eq!(weekly["weekdays"], json!(["sat", "sun"]));
    assert_eq!(weekly["author"], "ops");
    let id = weekly["id"].as_i64().unwrap();
    let a = app
        .post_form(&format!("/monitoring/downtimes/{id}/delete"), &admin, &[])
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(a.location, "/monitoring/downtimes?done=deleted");
    let api = app.api("GET", "/api/v1/downtimes", &admin, None).await;
    assert_eq!(api.as_array().unwrap().len(), 1);
    let list = app.page("/monitoring/downtimes", &admin).await;
    assert!(!list.body.contains("weekend backups"));
}

#[tokio::test]
async fn a_refused_downtime_form_names_the_field_keeps_the_input_and_writes_nothing() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    let (asset, check) = app.host(&admin, "web-1").await;
    let asset = asset.to_string();
    let check = check.to_string();
    let base = |over: &[(&'static str, &str)]| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = [
            ("asset_id", asset.as_str()),
            ("starts_at", "2026-12-01T22:00:00Z"),
            ("ends_at", "2026-12-02T02:00:00Z"),
            ("comment", "typed by hand"),
        ]
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        pairs.extend(over.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        pairs
    };
    // (what changes in a good form, the field the error must name)
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (base(&[("ends_at", "2026-12-01T21:00:00Z")]), "ends_at"),
        (base(&[("starts_at", "tomorrow")]), "starts_at"),
        (base(&[("asset_id", "web-1")]), "asset_id"),
        (base(&[("asset_id", "999999")]), "asset_id"),
        (base(&[("check_id", &check)]), "asset_id"),
        (base(&[("comment", "")]), "comment"),
        (
            base(&[
                ("weekdays", "sat"),
                ("start_time", "25:00"),
                ("duration_minutes", "60"),
            ]),
            "start_time",
        ),
        (
            base(&[
                ("weekdays", "sat"),
                ("start_time", "02:00"),
                ("duration_minutes", "lots"),
            ]),
            "duration_minutes",
        ),
        (
            base(&[
                ("weekdays", "sat"),
                ("start_time", "02:00"),
                ("duration_minutes", "0"),
            ]),
            "duration_minutes",
        ),
        (
            base(&[("weekdays", "someday"), ("start_time", "02:00")]),
            "weekdays",
        ),
        (base(&[("start_time", "02:00")]), "weekdays"),
    ];
    for (pairs, field) in cases {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let a = app.post_form("/monitoring/downtimes", &admin, &refs).await;
        assert!(
            (400..500).contains(&a.status),
            "{refs:?}: {} {}",
            a.status,
            a.body
        );
        assert!(
            a.body.contains(&format!("<code>{field}</code>")),
            "{refs:?} must name {field}: {}",
            a.body
        );
        assert!(
            a.body.contains(&format!("name=\"{field}\""))
                && a.body.contains("aria-invalid=\"true\""),
            "{refs:?}: the field is marked"
        );
        // What was typed comes back.
        let typed = pairs.iter().find(|(k, _)| k == "comment").unwrap();
        assert!(
            a.body.contains(&format!("value=\"{}\"", typed.1)),
            "{refs:?}: keeps the comment"
        );
    }
    let api = app.api("GET", "/api/v1/downtimes", &admin, None).await;
    assert_eq!(api, json!([]), "a refused form writes nothing");
}

#[tokio::test]
async fn a_template_made_and_changed_with_the_form_shows_what_applying_it_did() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    app.host(&admin, "web-1").await;
    app.host(&admin, "web-2").await;

    let ping = r#"[{"name": "Ping", "probe": {"kind": "ping"}, "host_check": true}]"#;
    let a = app
        .post_form(
            "/monitoring/templates",
            &admin,
            &[
                ("name", "Web servers"),
                ("entity_id", "1"),
                ("asset_types", "server"),
                ("tags", "web"),
                ("recursive", "1"),
                ("checks", ping),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let (path, query) = a.location.split_once('?').unwrap();
    assert_eq!(
        query,
        "done=applied&created=2&updated=0&deleted=0&skipped=0"
    );
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let page = app.page(&a.location, &admin).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Saved and applied. Checks created: 2 · updated: 0 · deleted: 0 · skipped"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Physical server"), "the rule");
    assert!(
        page.body
            .contains(">Ping <span class=\"badge\">host check</span>")
    );

    // The list counts the template's checks and those it gave.
    let list = app.page("/monitoring/templates", &admin).await;
    assert!(list.body.contains(&format!(
        "href=\"/monitoring/templates/{id}\">Web servers</a>"
    )));
    assert!(list.body.contains("<td>1</td><td>2</td>"), "{}", list.body);

    // The edit form holds the checks as the API writes them.
    let edit = app
        .page(&format!("/monitoring/templates/{id}/edit"), &admin)
        .await;
    assert_eq!(edit.status, 200);
    assert!(
        edit.body.contains("&#34;kind&#34;: &#34;ping&#34;")
            || edit.body.contains("&quot;kind&quot;: &quot;ping&quot;")
    );
    assert!(edit.body.contains("<option value=\"server\" selected>"));

    let two = r#"[{"name": "Ping", "probe": {"kind": "ping"}, "host_check": true, "interval": 120},
                  {"name": "HTTP", "probe": {"kind": "http", "url": "http://127.0.0.1:9/"}}]"#;
    let a = app
        .post_form(
            &format!("/monitoring/templates/{id}"),
            &admin,
            &[
                ("name", "Web servers"),
                ("entity_id", "1"),
                ("tags", "web"),
                ("recursive", "1"),
                ("checks", two),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(
        a.location,
        format!("/monitoring/templates/{id}?done=applied&created=2&updated=2&deleted=0&skipped=0")
    );
    let api = app
        .api(
            "GET",
            &format!("/api/v1/check-templates/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(api["checks"][0]["interval"], 120);
    assert_eq!(api["applied_checks"], 4);

    // Bad input comes back with the field named and the text as typed.
    let cases = [
        ("[{\"name\": \"Ping\"", "checks"),
        (
            r#"[{"name": "Ping", "probe": {"kind": "telepathy"}}]"#,
            "checks[0].probe",
        ),
        (
            r#"[{"name": "Ping", "probe": {"kind": "ping"}, "interval": 1}]"#,
            "checks[0].interval",
        ),
        ("[]", "checks"),
    ];
    for (checks, field) in cases {
        let a = app
            .post_form(
                &format!("/monitoring/templates/{id}"),
                &admin,
                &[
                    ("name", "Web servers"),
                    ("entity_id", "1"),
                    ("checks", checks),
                ],
            )
            .await;
        assert!(
            (400..500).contains(&a.status),
            "{checks}: {} {}",
            a.status,
            a.body
        );
        assert!(
            a.body.contains(&format!("<code>{field}")),
            "{checks} must name {field}: {}",
            a.body
        );
        let escaped = checks.replace('"', "&#34;");
        assert!(
            a.body.contains(&escaped) || a.body.contains(&checks.replace('"', "&quot;")),
            "{checks}: the text is kept"
        );
    }
    let a = app
        .post_form(
            "/monitoring/templates",
            &admin,
            &[
                ("name", ""),
                ("entity_id", "1"),
                ("statuses", "lost"),
                ("checks", ping),
            ],
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("<code>name</code>") || a.body.contains("<code>statuses</code>"));

    // Deleting it removes the checks it gave.
    let a = app
        .post_form(&format!("/monitoring/templates/{id}/delete"), &admin, &[])
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(a.location, "/monitoring/templates?done=deleted");
    let checks = app.api("GET", "/api/v1/checks", &admin, None).await;
    assert_eq!(
        checks["items"].as_array().unwrap().len(),
        2,
        "the two manual checks remain"
    );
}

#[tokio::test]
async fn forms_are_hidden_and_posts_refused_below_the_level_the_api_needs() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    let (asset, _) = app.host(&admin, "web-1").await;
    let a = app
        .post_form(
            "/monitoring/templates",
            &admin,
            &[
                ("name", "Web"),
                ("entity_id", "1"),
                ("tags", "web"),
                ("checks", r#"[{"name": "Ping", "probe": {"kind": "ping"}}]"#),
            ],
        )
        .await;
    assert_eq!(a.status, 303);
    let template = a.location.split('?').next().unwrap().to_owned();
    let downtime = app
        .api(
            "POST",
            "/api/v1/downtimes",
            &admin,
            Some(json!({"asset_id": asset, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "comment": "c"})),
        )
        .await["id"]
        .as_i64()
        .unwrap();

    // monitoring=read: sees, changes nothing.
    let viewer = support::token(&app.st, "tech", "Technician", 1).await;
    let list = app.page("/monitoring/downtimes", &viewer).await;
    assert_eq!(list.status, 200);
    assert!(
        !list.body.contains("action=\"/monitoring/downtimes\""),
        "no form"
    );
    assert!(!list.body.contains("/delete"), "no delete button");
    let host = app
        .page(&format!("/monitoring/hosts/{asset}"), &viewer)
        .await;
    assert!(
        !host.body.contains("downtime-new"),
        "no link to a form it cannot use"
    );
    let asset_s = asset.to_string();
    let good = [
        ("asset_id", asset_s.as_str()),
        ("starts_at", "2026-12-01T22:00:00Z"),
        ("ends_at", "2026-12-02T02:00:00Z"),
        ("comment", "c"),
    ];
    assert_eq!(
        app.post_form("/monitoring/downtimes", &viewer, &good)
            .await
            .status,
        403
    );
    assert_eq!(
        app.post_form(
            &format!("/monitoring/downtimes/{downtime}/delete"),
            &viewer,
            &[]
        )
        .await
        .status,
        403
    );

    // monitoring=operate: downtimes yes, templates no.
    let operator = support::token(&app.st, "op", "Operator", 1).await;
    let list = app.page("/monitoring/templates", &operator).await;
    assert_eq!(list.status, 200);
    assert!(
        !list.body.contains("/monitoring/templates/new"),
        "no new button"
    );
    let page = app.page(&template, &operator).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/edit"), "no edit link");
    assert_eq!(
        app.page("/monitoring/templates/new", &operator)
            .await
            .status,
        403
    );
    assert_eq!(
        app.page(&format!("{template}/edit"), &operator)
            .await
            .status,
        403
    );
    let form = [
        ("name", "Mine"),
        ("entity_id", "1"),
        ("checks", r#"[{"name": "Ping", "probe": {"kind": "ping"}}]"#),
    ];
    assert_eq!(
        app.post_form("/monitoring/templates", &operator, &form)
            .await
            .status,
        403
    );
    assert_eq!(app.post_form(&template, &operator, &form).await.status, 403);
    assert_eq!(
        app.post_form(&format!("{template}/delete"), &operator, &[])
            .await
            .status,
        403
    );
    assert_eq!(
        app.post_form("/monitoring/downtimes", &operator, &good)
            .await
            .status,
        303
    );

    // Nothing the refused posts touched changed.
    let api = app
        .api("GET", "/api/v1/check-templates", &admin, None)
        .await;
    assert_eq!(api.as_array().unwrap().len(), 1);
    assert_eq!(api[0]["name"], "Web");
}

/// The value of the first `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_browser_session_posts_the_downtime_form_with_the_page_csrf_token() {
    const PASSWORD: &str = "a-long-Operator-passphrase";
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    let (asset, _) = app.host(&admin, "web-1").await;
    let me = app.api("GET", "/api/v1/me", &admin, None).await;
    let sys = support::system(&app.st).await;
    app.st
        .store
        .set_password(
            &sys.actor(),
            me["user"]["id"].as_i64().unwrap(),
            &pupitre_store::PasswordChange {
                password_hash: pupitre_web::auth::hash_password(PASSWORD).unwrap(),
                must_change: false,
                keep_session: None,
                revoke_tokens: false,
            },
        )
        .await
        .unwrap();
    let http = App::client();
    let login = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    let login_cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_of(&login.text().await.unwrap());
    let session = http
        .post(format!("{}/login", app.base))
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf.as_str()),
                ("login", "ops"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(session.status().as_u16(), 303);
    let cookie = session
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("pupitre_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!(
            "{}/monitoring/downtimes?asset_id={asset}",
            app.base
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    assert!(
        page.contains(&format!(
            "action=\"/monitoring/downtimes\" class=\"grid-form\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
        )),
        "the form carries the session's token"
    );
    let post = |body: String| {
        http.post(format!("{}/monitoring/downtimes", app.base))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let fields = format!(
        "asset_id={asset}&starts_at=2026-12-01T22%3A00%3A00Z&ends_at=2026-12-02T02%3A00%3A00Z&comment=patch"
    );
    let refused = post(fields.clone()).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403, "no token");
    let refused = post(format!("csrf=forged&{fields}")).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403, "a wrong token");
    let api = app.api("GET", "/api/v1/downtimes", &admin, None).await;
    assert_eq!(api, json!([]), "a refused post writes nothing");
    let done = post(format!("csrf={csrf}&{fields}")).await.unwrap();
    assert_eq!(done.status().as_u16(), 303);
    let api = app.api("GET", "/api/v1/downtimes", &admin, None).await;
    assert_eq!(api[0]["comment"], "patch");
}

/// The secrets the credential tests type: none may ever come back in a page.
const AUTH_SECRET: &str = "auth-Secret-4711";
const PRIV_SECRET: &str = "priv-Secret-0815";

/// A form for an SNMPv3 credential as a browser sends it: every input of the form, the
/// other kinds' ones empty.
fn v3_form<'a>(name: &'a str, auth: &'a str, privacy: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("entity_id", "1"),
        ("description", "core <b>switches</b>"),
        ("kind", "snmp_v3"),
        ("version", "2c"),
        ("community", ""),
        ("user", "pupitre"),
        ("level", "authPriv"),
        ("auth_protocol", "sha512"),
        ("auth_password", auth),
        ("priv_protocol", "aes256"),
        ("priv_password", privacy),
        ("login", ""),
        ("password", ""),
    ]
}

impl App {
    /// The id of the credential called `name`, through the API.
    async fn credential_id(&self, token: &str, name: &str) -> i64 {
        let list = self.api("GET", "/api/v1/credentials", token, None).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    }
}

fn assert_no_secret(what: &str, html: &str) {
    for secret in [AUTH_SECRET, PRIV_SECRET, "Community-s3cret"] {
        assert!(!html.contains(secret), "{what} shows a secret");
    }
}

#[tokio::test]
async fn a_credential_made_with_the_form_is_listed_and_its_secrets_never_shown() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;

    let form = app.page("/monitoring/credentials/new", &admin).await;
    assert_eq!(form.status, 200);
    for secret in ["community", "auth_password", "priv_password", "password"] {
        assert!(
            form.body.contains(&format!(
                "name=\"{secret}\" type=\"password\" autocomplete=\"new-password\">"
            )),
            "the {secret} input is a password input, empty"
        );
    }
    assert!(
        !form.body.contains("Leave empty to keep"),
        "nothing to keep yet"
    );

    let a = app
        .post_form(
            "/monitoring/credentials",
            &admin,
            &v3_form("core", AUTH_SECRET, PRIV_SECRET),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location, "/monitoring/credentials?done=created");
    let community = [
        ("name", "lab"),
        ("entity_id", "1"),
        ("kind", "snmp_community"),
        ("version", "1"),
        ("community", "Community-s3cret"),
        ("level", "authPriv"),
        ("user", ""),
        ("password", ""),
    ];
    let a = app
        .post_form("/monitoring/credentials", &admin, &community)
        .await;
    assert_eq!(a.status, 303, "{}", a.body);

    let list = app
        .page("/monitoring/credentials?done=created", &admin)
        .await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Created."), "the flash");
    assert!(list.body.contains("aria-current=\"page\">Credentials</a>"));
    let id = app.credential_id(&admin, "core").await;
    assert!(list.body.contains(&format!(
        "href=\"/monitoring/credentials/{id}/edit\">core</a>"
    )));
    assert!(list.body.contains("SNMPv3 user"));
    assert!(list.body.contains("pupitre · authPriv · sha512 · aes256"));
    assert!(list.body.contains("SNMP v1"));
    assert!(
        list.body.contains("core &#60;b&#62;switches")
            || list.body.contains("core &lt;b&gt;switches"),
        "the description, escaped"
    );
    assert_no_secret("the list", &list.body);

    let edit = app
        .page(&format!("/monitoring/credentials/{id}/edit"), &admin)
        .await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("name=\"user\" value=\"pupitre\""));
    assert!(edit.body.contains("<option value=\"sha512\" selected>"));
    assert!(edit.body.contains("Leave empty to keep the current value."));
    assert_no_secret("the edit form", &edit.body);

    // Saving with the secret inputs empty keeps the sealed secrets as they were.
    let before = app.st.store.get_credential(id).await.unwrap();
    let a = app
        .post_form(
            &format!("/monitoring/credentials/{id}"),
            &admin,
            &v3_form("core", "", ""),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location, "/monitoring/credentials?done=saved");
    let after = app.st.store.get_credential(id).await.unwrap();
    assert!(before.secret.is_some() && before.priv_secret.is_some());
    assert_eq!(after.secret, before.secret, "the authentication password");
    assert_eq!(
        after.priv_secret, before.priv_secret,
        "the privacy password"
    );
    let opened = pupitre_store::credentials::open_secrets(&support::test_vault(), &after).unwrap();
    assert_eq!(opened.auth_password.as_deref(), Some(AUTH_SECRET));
    assert_eq!(opened.priv_password.as_deref(), Some(PRIV_SECRET));

    // A new privacy password replaces that one only.
    let a = app
        .post_form(
            &format!("/monitoring/credentials/{id}"),
            &admin,
            &v3_form("core", "", "a-new-privacy-pass"),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let after = app.st.store.get_credential(id).await.unwrap();
    let opened = pupitre_store::credentials::open_secrets(&support::test_vault(), &after).unwrap();
    assert_eq!(opened.auth_password.as_deref(), Some(AUTH_SECRET));
    assert_eq!(opened.priv_password.as_deref(), Some("a-new-privacy-pass"));

    // Turned into a password: its own user input and secret.
    let lab = app.credential_id(&admin, "lab").await;
    let a = app
        .post_form(
            &format!("/monitoring/credentials/{lab}"),
            &admin,
            &[
                ("name", "lab"),
                ("entity_id", "1"),
                ("kind", "password"),
                ("version", "1"),
                ("user", "ignored-v3-user"),
                ("level", "authPriv"),
                ("login", "monitor"),
                ("password", "Db-s3cret-pass"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let api = app
        .api("GET", &format!("/api/v1/credentials/{lab}"), &admin, None)
        .await;
    assert_eq!(
        (api["kind"].as_str(), api["user"].as_str()),
        (Some("password"), Some("monitor"))
    );
    let edit = app
        .page(&format!("/monitoring/credentials/{lab}/edit"), &admin)
        .await;
    assert!(edit.body.contains("name=\"login\" value=\"monitor\""));
    assert!(!edit.body.contains("Db-s3cret-pass"));
    let list = app.page("/monitoring/credentials", &admin).await;
    assert!(!list.body.contains("Db-s3cret-pass"));
    assert_no_secret("the list", &list.body);
}

#[tokio::test]
async fn a_refused_credential_form_names_the_field_keeps_the_input_but_no_secret() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;

    let mut bad = v3_form("core", "short", PRIV_SECRET);
    bad[6].1 = "nms-user";
    let a = app.post_form("/monitoring/credentials", &admin, &bad).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("<code>auth_password</code>: must be at least 8 characters")
    );
    assert!(a.body.contains(
        "name=\"auth_password\" type=\"password\" autocomplete=\"new-password\" aria-invalid=\"true\">"
    ));
    assert!(a.body.contains("name=\"name\" value=\"core\""));
    assert!(a.body.contains("name=\"user\" value=\"nms-user\""));
    assert!(a.body.contains("<option value=\"snmp_v3\" selected>"));
    assert!(a.body.contains("<option value=\"aes256\" selected>"));
    assert!(
        a.body.contains("core &#60;b&#62;switches") || a.body.contains("core &lt;b&gt;switches")
    );
    assert!(
        !a.body.contains("value=\"short\""),
        "the secret typed is not echoed"
    );
    assert_no_secret("a refused form", &a.body);
    let api = app.api("GET", "/api/v1/credentials", &admin, None).await;
    assert_eq!(api, json!([]), "nothing written");

    // Refused on update too: the secrets stay unechoed and unchanged.
    let a = app
        .post_form(
            "/monitoring/credentials",
            &admin,
            &v3_form("core", AUTH_SECRET, PRIV_SECRET),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = app.credential_id(&admin, "core").await;
    let before = app.st.store.get_credential(id).await.unwrap();
    let mut bad = v3_form("core renamed", AUTH_SECRET, "");
    bad[7].1 = "authNoPriv";
    bad[11].1 = PRIV_SECRET;
    let a = app
        .post_form(&format!("/monitoring/credentials/{id}"), &admin, &bad)
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains("<code>name</code>: must not contain spaces")
    );
    assert!(
        a.body
            .contains("<code>priv_password</code>: is not used by this kind or level")
    );
    assert!(a.body.contains("name=\"name\" value=\"core renamed\""));
    assert!(a.body.contains("<option value=\"authNoPriv\" selected>"));
    assert!(a.body.contains("Leave empty to keep the current value."));
    assert_no_secret("a refused edit", &a.body);
    assert_eq!(app.st.store.get_credential(id).await.unwrap(), before);
}

#[tokio::test]
async fn deleting_a_credential_checks_use_shows_which_and_keeps_it() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    for name in ["lab", "spare"] {
        app.api(
            "POST",
            "/api/v1/credentials",
            &admin,
            Some(json!({"name": name, "kind": "snmp_community", "community": "Community-s3cret"})),
        )
        .await;
    }
    let (asset, _) = app.host(&admin, "sw-1").await;
    app.api(
        "POST",
        "/api/v1/checks",
        &admin,
        Some(json!({"asset_id": asset, "name": "uptime", "interval": 3600,
                    "probe": {"kind": "snmp", "credential": "lab", "mode": "get", "oid": "1.3.6.1.2.1.1.3.0"}})),
    )
    .await;
    let lab = app.credential_id(&admin, "lab").await;
    let a = app
        .post_form(
            &format!("/monitoring/credentials/{lab}/delete"),
            &admin,
            &[],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.body.contains("used by 1 check (sw-1/uptime)"),
        "{}",
        a.body
    );
    assert!(a.body.contains("role=\"alert\""));
    assert!(
        a.body.contains("aria-current=\"page\">Credentials</a>"),
        "the list, around the message"
    );
    assert_no_secret("the refusal", &a.body);
    app.api("GET", &format!("/api/v1/credentials/{lab}"), &admin, None)
        .await;

    let spare = app.credential_id(&admin, "spare").await;
    let a = app
        .post_form(
            &format!("/monitoring/credentials/{spare}/delete"),
            &admin,
            &[],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location, "/monitoring/credentials?done=deleted");
    let list = app
        .page("/monitoring/credentials?done=deleted", &admin)
        .await;
    assert!(list.body.contains("Deleted."));
    assert!(!list.body.contains(">spare<"));
}

#[tokio::test]
async fn a_technician_sees_credentials_but_cannot_change_them() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", 1).await;
    let a = app
        .post_form(
            "/monitoring/credentials",
            &admin,
            &v3_form("core", AUTH_SECRET, PRIV_SECRET),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = app.credential_id(&admin, "core").await;
    let before = app.st.store.get_credential(id).await.unwrap();

    let tech = support::token(&app.st, "tech", "Technician", 1).await;
    let list = app.page("/monitoring/credentials", &tech).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(">core<"));
    assert!(
        !list.body.contains("/monitoring/credentials/new"),
        "no new button"
    );
    assert!(!list.body.contains("/edit"), "no edit link");
    assert!(!list.body.contains("/delete"), "no delete button");
    for path in [
        "/monitoring/credentials/new".to_owned(),
        format!("/monitoring/credentials/{id}/edit"),
    ] {
        assert_eq!(app.page(&path, &tech).await.status, 403, "GET {path}");
    }
    for path in [
        "/monitoring/credentials".to_owned(),
        format!("/monitoring/credentials/{id}"),
        format!("/monitoring/credentials/{id}/delete"),
    ] {
        let a = app
            .post_form(
                &path,
                &tech,
                &v3_form("mine", "another-pass-1", "another-pass-2"),
            )
            .await;
        assert_eq!(a.status, 403, "POST {path}");
    }
    assert_eq!(app.st.store.get_credential(id).await.unwrap(), before);
    let api = app.api("GET", "/api/v1/credentials", &admin, None).await;
    assert_eq!(api.as_array().unwrap().len(), 1);
}
