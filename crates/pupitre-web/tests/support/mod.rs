//! Helpers shared by the inventory test files: a server on loopback over a throw-away
//! SQLite database, the local administrator, and API tokens for fresh accounts.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::net::SocketAddr;

use pupitre_core::model::{Assignment, UserInput};
use pupitre_store::NewUser;
use pupitre_store::testing::TestDb;
use pupitre_web::auth::{Caller, resolve_user};
use pupitre_web::{AppState, WebConfig, ops};

/// A running server: its base URL, a client, its state, and the database it owns.
pub struct App {
    pub base: String,
    pub http: reqwest::Client,
    pub st: AppState,
    pub _db: TestDb,
}

/// Starts a server on 127.0.0.1 over a fresh SQLite database with the built-in profiles, with
/// its supervision engine recording performance data into the metric history.
pub async fn start(config: WebConfig) -> App {
    // The server's warnings (a rejected upload, a failed write) land in the test's output,
    // which nextest shows when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let db = TestDb::sqlite().await;
    db.store.sync_builtin_profiles(0).await.unwrap();
    let vault = std::sync::Arc::new(test_vault());
    let history = pupitre_monitor::history::History::new(
        db.store.clone(),
        pupitre_monitor::history::HistoryConfig {
            flush_every: std::time::Duration::from_millis(50),
            ..pupitre_monitor::history::HistoryConfig::default()
        },
    );
    let (recorder, _recording) = pupitre_monitor::history::recorder(history.clone());
    let agent_waker = std::sync::Arc::new(pupitre_monitor::agent_check::AgentWaker::default());
    let engine = pupitre_monitor::start(
        db.store.clone(),
        pupitre_monitor::EngineConfig {
            vault: Some(vault.clone()),
            agent_waker: agent_waker.clone(),
            ..pupitre_monitor::EngineConfig::default()
        },
        std::sync::Arc::new(recorder),
        std::future::pending(),
    )
    .expect("start the engine");
    let st = AppState::new(db.store.clone(), config)
        .with_engine(engine)
        .with_vault(vault)
        .with_history(history)
        .with_agent_waker(agent_waker);
    tokio::spawn(pupitre_web::ops::incidents::correlator(
        st.clone(),
        std::future::pending(),
    ));
    tokio::spawn(pupitre_web::ops::paging::pager(
        st.clone(),
        std::future::pending(),
    ));
    let app = pupitre_web::router(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    // reqwest is built with `rustls-no-provider` (for the HTTP probe), so a client needs a
    // crypto provider installed first, even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    App {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        st,
        _db: db,
    }
}

impl App {
    /// Calls the API with `token` and a JSON body; the answer's status and JSON (or its text
    /// as a JSON string).
    #[allow(
        dead_code,
        reason = "asset_csv, monitoring_pages and web call the server their own way"
    )]
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// A page as `token`'s owner: a GET, or the POST of a URL-encoded `form`. Redirects are
    /// not followed. The status, the `Location` header (empty without one) and the body.
    #[allow(dead_code, reason = "only the files that test pages use it")]
    pub async fn browse(
        &self,
        path: &str,
        token: &str,
        form: Option<&str>,
    ) -> (u16, String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = format!("{}{path}", self.base);
        let request = match form {
            None => client.get(url),
            Some(body) => client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned()),
        };
        let resp = request.bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location, resp.text().await.unwrap())
    }
}

/// The credentials key of test servers.
pub fn test_vault() -> pupitre_store::vault::Vault {
    pupitre_store::vault::Vault::new(
        &pupitre_store::vault::Vault::parse_key(&"5a".repeat(32)).unwrap(),
    )
}

/// The local administrator over the current entity tree.
pub async fn system(st: &AppState) -> Caller {
    let tree = st
        .store
        .list_entities()
        .await
        .unwrap()
        .iter()
        .map(|e| (e.id, e.parent_id))
        .collect();
    Caller::system(tree)
}

/// A new entity `name` under the root, known to the server's entity tree at once.
#[allow(
    dead_code,
    reason = "asset_csv and monitoring_pages make no entity this way"
)]
pub async fn entity(st: &AppState, name: &str) -> i64 {
    let sys = system(st).await;
    let id = st
        .store
        .create_entity(
            &sys.actor(),
            &pupitre_core::model::EntityInput {
                parent_id: pupitre_core::model::ROOT_ENTITY,
                name: name.into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    st.entity_tree_changed();
    id
}

/// A token for a new account `login` holding `profile` on `entity` and below.
pub async fn token(st: &AppState, login: &str, profile: &str, entity: i64) -> String {
    let profile_id = st
        .store
        .list_profiles()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == profile)
        .unwrap()
        .id;
    let sys = system(st).await;
    let user = st
        .store
        .create_users(
            &sys.actor(),
            &[NewUser {
                input: UserInput {
                    login: login.into(),
                    display_name: login.into(),
                    email: String::new(),
                    phone: String::new(),
                    language: "en".into(),
                    time_zone: "UTC".into(),
                    active: true,
                    entity_id: entity,
                    notify_email: false,
                    notify_sms: false,
                },
                password_hash: None,
                must_change_password: false,
                assignments: vec![Assignment {
                    entity_id: entity,
                    profile_id,
                    recursive: true,
                }],
                teams: vec![],
            }],
        )
        .await
        .unwrap()
        .remove(0);
    let caller = resolve_user(st, user, "test".into()).await.unwrap();
    let (_, secret) = ops::me::create_token(
        st,
        &caller,
        ops::me::CreateToken {
            name: "t".into(),
            expires_in_days: 1,
            levels: None,
        },
    )
    .await
    .unwrap();
    secret
}
