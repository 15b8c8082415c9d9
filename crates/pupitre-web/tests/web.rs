//! End-to-end tests of the HTTP layer against a real server on port 0 and a real SQLite
//! file: the route matrix (authentication, permissions, entity isolation), one audit record
//! per mutation, escaping, bad input, and concurrent load.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::http::Method;
use pupitre_core::audit::AuditRecord;
use pupitre_core::credential::{CommunityVersion, CredentialParams};
use pupitre_core::incident::{AlertSource, Grouping, Severity};
use pupitre_core::model::{
    EntityInput, ProfileInput, ROOT_ENTITY, TeamInput, UserInput, UserTemplateInput,
};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{Downtime, LastResult};
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_core::monitoring::status::{Acknowledgement, Context};
use pupitre_core::monitoring::template::ApplyRule;
use pupitre_core::permission::{Access, Domain, Level, Levels};
use pupitre_store::agents::{AgentFacts, Enrolled, NewAgent, NewEnrolment};
use pupitre_store::credentials::CredentialWrite;
use pupitre_store::incidents::{
    Apply, IncidentAction, NewAlertSource, ScheduleInput, Signal, WindowInput,
};
use pupitre_store::monitoring::{NewCheck, ResultWrite, TemplateInput};
use pupitre_store::testing::TestDb;
use pupitre_store::{AuditFilter, NewUser, Page};
use pupitre_web::auth::{Caller, Kind, hash_password, resolve_user, sha256_hex};
use pupitre_web::routes::routes;
use pupitre_web::{AppState, WebConfig, ops};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "a-long-Admin-passphrase";

struct App {
    base: String,
    http: reqwest::Client,
    st: AppState,
    _db: TestDb,
}

/// Accounts and objects the tests act with and on.
#[derive(Clone, Copy)]
struct InvFixture {
    site: i64,
    site_del: i64,
    building: i64,
    building_del: i64,
    room: i64,
    room_del: i64,
    rack: i64,
    rack_del: i64,
    asset: i64,
    asset_other: i64,
    asset_del: i64,
    asset_quarantined: i64,
    relation: i64,
    /// A check in a hard CRITICAL state, not acknowledged.
    check: i64,
    /// The same, acknowledged.
    check_acked: i64,
    check_del: i64,
    downtime: i64,
    template: i64,
    template_del: i64,
    credential: i64,
    credential_del: i64,
    /// An enrolment token of X, and an agent it enrolled.
    enrolment: i64,
    agent: i64,
    /// An agent that enrolled without a token (in the root entity, waiting for approval).
    agent_pending: i64,
    /// A command queued for `agent`.
    command: i64,
    /// An open (triggered) incident of X, a resolved one, and an alert source of X.
    incident: i64,
    incident_resolved: i64,
    alert_source: i64,
    /// X's escalation policy and an on-call schedule of X.
    policy: i64,
    schedule: i64,
    /// A maintenance window of X, and a silence.
    window: i64,
    silence: i64,
    /// A handover of X written by someone else than the fixture's administrator.
    handover: i64,
    /// A runbook on `asset` with an action `restart`; `agent` runs on `asset`, which the open
    /// incident is about.
    runbook: i64,
}

struct Fixture {
    /// Administrator on the whole tree.
    admin: String,
    admin_id: i64,
    /// Administrator of entity Y only: must not reach anything in X.
    other: String,
    /// An operator: no administration rights at all.
    weak: String,
    /// An account with no profile anywhere.
    nobody: String,
    x: i64,
    user_x: i64,
    team_x: i64,
    profile_x: i64,
    template_x: i64,
    /// An entity under X with nothing in it, for deletions.
    empty_x: i64,
    /// Inventory objects in X; the `*_del` ones are empty, for deletions.
    inv: InvFixture,
    token_admin: i64,
    /// A contact method of the administrator's own, and a customised `sms` template.
    method_admin: i64,
    /// The login of `user_x`.
    user_x_login: String,
}

async fn start() -> App {
    start_with(WebConfig::standard()).await
}

async fn start_with(mut config: WebConfig) -> App {
    let db = TestDb::sqlite().await;
    db.store.sync_builtin_profiles(0).await.unwrap();
    config.metrics_token = Some("metrics-secret".into());
    let vault = std::sync::Arc::new(pupitre_store::vault::Vault::new(
        &pupitre_store::vault::Vault::parse_key(&"5a".repeat(32)).unwrap(),
    ));
    let engine = pupitre_monitor::start(
        db.store.clone(),
        pupitre_monitor::EngineConfig {
            vault: Some(vault.clone()),
            ..pupitre_monitor::EngineConfig::default()
        },
        std::sync::Arc::new(pupitre_monitor::NullSink),
        std::future::pending(),
    )
    .expect("start the engine");
    let st = AppState::new(db.store.clone(), config)
        .with_engine(engine)
        .with_vault(vault);
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
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    App {
        base: format!("http://{addr}"),
        http,
        st,
        _db: db,
    }
}

fn system(tree: Vec<(i64, Option<i64>)>) -> Caller {
    Caller::system(tree)
}

impl App {
    async fn tree(&self) -> Vec<(i64, Option<i64>)> {
        self.st
            .store
            .list_entities()
            .await
            .unwrap()
            .iter()
            .map(|e| (e.id, e.parent_id))
            .collect()
    }

    async fn profile_id(&self, name: &str) -> i64 {
        self.st
            .store
            .list_profiles()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap()
            .id
    }

    /// A user without password (no hashing), with one assignment.
    async fn user(&self, login: &str, entity: i64, profile: Option<(i64, i64)>) -> i64 {
        let sys = system(self.tree().await);
        let nu = NewUser {
            input: UserInput {
                login: login.into(),
                display_name: format!("User {login}"),
                email: String::new(),
                phone: String::new(),
                language: "en".into(),
                time_zone: "UTC".into(),
                active: true,
                entity_id: entity,
                notify_email: true,
                notify_sms: false,
            },
            password_hash: None,
            must_change_password: false,
            assignments: profile
                .map(|(p, e)| pupitre_core::model::Assignment {
                    entity_id: e,
                    profile_id: p,
                    recursive: true,
                })
                .into_iter()
                .collect(),
            teams: vec![],
        };
        self.st
            .store
            .create_users(&sys.actor(), &[nu])
            .await
            .unwrap()[0]
            .id
    }

    async fn token_for(&self, user_id: i64) -> (i64, String) {
        let user = self.st.store.get_user(user_id).await.unwrap();
        let caller = resolve_user(&self.st, user, "test".into()).await.unwrap();
        let (t, secret) = ops::me::create_token(
            &self.st,
            &caller,
            ops::me::CreateToken {
                name: "t".into(),
                expires_in_days: 1,
                levels: None,
            },
        )
        .await
        .unwrap();
        (t.id, secret)
    }

    async fn fixture(&self) -> Fixture {
        let sys = system(self.tree().await);
        let actor = sys.actor();
        let s = &self.st.store;
        let x = s
            .create_entity(
                &actor,
                &EntityInput {
                    parent_id: ROOT_ENTITY,
                    name: format!("X{}", rand_suffix()),
                    comment: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        let y = s
            .create_entity(
                &actor,
                &EntityInput {
                    parent_id: ROOT_ENTITY,
                    name: format!("Y{}", rand_suffix()),
                    comment: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        let admin_profile = self.profile_id("Administrator").await;
        let operator = self.profile_id("Operator").await;
        let sfx = rand_suffix();
        let admin_id = self
            .user(
                &format!("admin{sfx}"),
                ROOT_ENTITY,
                Some((admin_profile, ROOT_ENTITY)),
            )
            .await;
        let change = pupitre_store::PasswordChange {
            password_hash: hash_password(ADMIN_PASSWORD).unwrap(),
            must_change: false,
            keep_session: None,
            revoke_tokens: false,
        };
        s.set_password(&actor, admin_id, &change).await.unwrap();
        let other_id = self
            .user(&format!("other{sfx}"), y, Some((admin_profile, y)))
            .await;
        let weak_id = self
            .user(
                &format!("weak{sfx}"),
                ROOT_ENTITY,
                Some((operator, ROOT_ENTITY)),
            )
            .await;
        let user_x = self.user(&format!("userx{sfx}"), x, None).await;
        let team_x = s
            .create_team(
                &actor,
                &TeamInput {
                    name: format!("Team{sfx}"),
                    description: String::new(),
                    entity_id: x,
                    members: vec![user_x],
                },
            )
            .await
            .unwrap()
            .id;
        let profile_x = s
            .create_profile(
                &actor,
                &ProfileInput {
                    name: format!("Custom{sfx}"),
                    description: String::new(),
                    levels: Levels::default().with(Domain::Jobs, Level::Read),
                    assigned_only: false,
                    entity_id: x,
                },
            )
            .await
            .unwrap()
            .id;
        let template_x = s
            .create_user_template(
                &actor,
                &UserTemplateInput {
                    name: format!("Tpl{sfx}"),
                    entity_id: x,
                    profile_id: operator,
                    recursive: false,
                    team_id: Some(team_x),
                    language: "fr".into(),
                    time_zone: "Europe/Paris".into(),
                    notify_email: true,
                    notify_sms: false,
                },
            )
            .await
            .unwrap()
            .id;
        let empty_x = s
            .create_entity(
                &actor,
                &EntityInput {
                    parent_id: x,
                    name: format!("Empty{sfx}"),
                    comment: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        // The fixture wrote entities behind the server's back: drop its cached tree.
        self.st.entity_tree_changed();
        let (token_admin, admin) = self.token_for(admin_id).await;
        let sys = system(self.tree().await);
        let method_admin = s
            .create_contact_method(
                &sys.actor(),
                &pupitre_store::notify::NewContactMethod {
                    user_id: admin_id,
                    kind: "email".into(),
                    label: "work".into(),
                    address: format!("admin{sfx}@example.com"),
                    secret: None,
                },
            )
            .await
            .unwrap()
            .id;
        s.put_message_template(&sys.actor(), "sms", "", "P{{ incident.priority }}")
            .await
            .unwrap();
        let (_, other) = self.token_for(other_id).await;
        let (_, weak) = self.token_for(weak_id).await;
        let nobody_id = self.user(&format!("nobody{sfx}"), ROOT_ENTITY, None).await;
        let (_, nobody) = self.token_for(nobody_id).await;
        Fixture {
            admin,
            admin_id,
            other,
            weak,
            nobody,
            x,
            user_x,
            team_x,
            profile_x,
            template_x,
            empty_x,
            inv: self.inventory_fixture(x, &sfx).await,
            token_admin,
            method_admin,
            user_x_login: format!("userx{sfx}"),
        }
    }

    async fn inventory_fixture(&self, x: i64, sfx: &str) -> InvFixture {
        use pupitre_core::inventory::*;
        let sys = system(self.tree().await);
        let a = sys.actor();
        let s = &self.st.store;
        let site_in = |name: &str| SiteInput {
            entity_id: x,
            name: format!("{name}{sfx}"),
            address: String::new(),
            time_zone: "UTC".into(),
            comment: String::new(),
        };
        let site = s.create_site(&a, &site_in("Site")).await.unwrap().id;
        let site_del = s.create_site(&a, &site_in("Empty site")).await.unwrap().id;
        let building_in = |name: &str| BuildingInput {
            site_id: site,
            entity_id: x,
            name: name.into(),
            comment: String::new(),
        };
        let building = s.create_building(&a, &building_in("B1")).await.unwrap().id;
        let building_del = s.create_building(&a, &building_in("B2")).await.unwrap().id;
        let room_in = |name: &str| RoomInput {
            site_id: site,
            building_id: Some(building),
            entity_id: x,
            name: name.into(),
            grid_rows: 2,
            grid_cols: 4,
            power_capacity_w: None,
            cooling_capacity_w: None,
            notes: String::new(),
        };
        let room = s.create_room(&a, &room_in("R1")).await.unwrap().id;
        let room_del = s.create_room(&a, &room_in("R2")).await.unwrap().id;
        let rack_in = |name: &str| RackInput {
            room_id: room,
            entity_id: x,
            name: name.into(),
            height_u: 42,
            grid_row: None,
            grid_col: None,
            max_power_w: None,
            comment: String::new(),
        };
        let rack = s.create_rack(&a, &rack_in("A01")).await.unwrap().id;
        let rack_del = s.create_rack(&a, &rack_in("A02")).await.unwrap().id;
        let mut asset_in = AssetInput::new(x, AssetType::Server, &format!("srv{sfx}"));
        asset_in.rack_id = Some(rack);
        asset_in.rack_u = Some(1);
        let asset = s.create_asset(&a, &asset_in).await.unwrap().id;
        let asset_other = s
            .create_asset(
                &a,
                &AssetInput::new(x, AssetType::Database, &format!("db{sfx}")),
            )
            .await
            .unwrap()
            .id;
        let asset_del = s
            .create_asset(
                &a,
                &AssetInput::new(x, AssetType::Laptop, &format!("lap{sfx}")),
            )
            .await
            .unwrap()
            .id;
        let mut q = AssetInput::new(x, AssetType::Server, &format!("unknown{sfx}"));
        q.quarantined = true;
        let asset_quarantined = s.create_asset(&a, &q).await.unwrap().id;
        let relation = s
            .create_relation(
                &a,
                &RelationInput {
                    kind: RelationKind::RunsOn,
                    from_id: asset_other,
                    to_id: asset,
                    from_port: String::new(),
                    to_port: String::new(),
                    cable_id: String::new(),
                    comment: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        let new_check = |name: &str| NewCheck {
            asset_id: asset,
            definition: check_definition(CheckDefinitionInput {
                name: format!("{name}{sfx}"),
                probe: ProbeSpec::Tcp {
                    host: "127.0.0.1".into(),
                    port: 9,
                    send: String::new(),
                    expect: String::new(),
                },
                interval_s: 3600,
                retry_interval_s: 60,
                timeout_s: 2,
                max_attempts: 1,
                warning: String::new(),
                critical: String::new(),
                notifications_enabled: true,
                entity_id: x,
            })
            .unwrap(),
            host_check: false,
            heartbeat_hash: None,
        };
        let mut ids = Vec::new();
        for name in ["discard", "discard acked", "discard gone"] {
            let record = s.create_check(&a, &new_check(name)).await.unwrap();
            let mut status = record.status.clone();
            status.apply(State::Critical, 10, &Context::NORMAL);
            s.save_results(&[ResultWrite {
                check_id: record.check.id,
                status,
                last: LastResult {
                    at: 10,
                    output: "TCP CRITICAL - connection refused".into(),
                    ..LastResult::default()
                },
                acknowledgement_removed: false,
                events: Vec::new(),
            }])
            .await
            .unwrap();
            ids.push(record.check.id);
        }
        let (check, check_acked, check_del) = (ids[0], ids[1], ids[2]);
        let ack = Acknowledgement {
            author: "admin".into(),
            comment: "known".into(),
            expires_at: None,
        };
        s.acknowledge(&a, check_acked, &ack, State::Critical)
            .await
            .unwrap();
        let downtime = s
            .create_downtime(
                &a,
                &Downtime {
                    id: 0,
                    entity_id: x,
                    asset_id: Some(asset),
                    check_id: None,
                    starts_at: 0,
                    ends_at: i64::MAX / 2,
                    recurrence: None,
                    time_zone: "UTC".into(),
                    offsets: Default::default(),
                    author: "admin".into(),
                    comment: "forever".into(),
                },
            )
            .await
            .unwrap()
            .id;
        let template_in = |name: &str| TemplateInput {
            name: format!("{name}{sfx}"),
            entity_id: x,
            rule: ApplyRule {
                tags: vec![format!("matches-nothing-{sfx}")],
                ..ApplyRule::in_production()
            },
            checks: vec![new_check("ping").definition],
            host_check: None,
        };
        let template = s.create_template(&a, &template_in("T")).await.unwrap();
        let template_del = s.create_template(&a, &template_in("T gone")).await.unwrap();
        let (template, template_del) = (template.template.id, template_del.template.id);
        let credential_in = |name: &str| CredentialWrite {
            name: format!("{name}{sfx}"),
            entity_id: x,
            description: String::new(),
            params: CredentialParams::SnmpCommunity {
                version: CommunityVersion::V2c,
            },
            secret: Some("v1.00000000.sealed".into()),
            priv_secret: None,
        };
        let credential = s
            .create_credential(&a, &credential_in("switches"))
            .await
            .unwrap()
            .id;
        let credential_del = s
            .create_credential(&a, &credential_in("unused"))
            .await
            .unwrap()
            .id;
        let enrolment_token = format!("pen_fixture{sfx}");
        let enrolment = s
            .create_enrolment(
                &a,
                &NewEnrolment {
                    entity_id: x,
                    label: format!("fixture {sfx}"),
                    token_hash: sha256_hex(&enrolment_token),
                    prefix: "pen_fixture".into(),
                    max_uses: 5,
                    expires_at: a.at + 3_600_000,
                },
            )
            .await
            .unwrap()
            .id;
        let new_agent = |n: &str| NewAgent {
            facts: AgentFacts {
                name: format!("{n}{sfx}"),
                machine_id: format!("{n}{sfx}"),
                version: "0.1.0".into(),
                ..AgentFacts::default()
            },
            secret_hash: sha256_hex(&format!("pag_{n}{sfx}")),
            config: "{}".into(),
        };
        let enrolled = |e: Enrolled| match e {
            Enrolled::Agent(agent) => agent.id,
            Enrolled::Refused(why) => panic!("{why}"),
        };
        let agent = enrolled(
            s.enrol_agent(&a, Some(&sha256_hex(&enrolment_token)), &new_agent("agent"))
                .await
                .unwrap(),
        );
        let agent_pending = enrolled(
            s.enrol_agent(&a, None, &new_agent("pending"))
                .await
                .unwrap(),
        );
        let command = s
            .queue_command(&a, agent, "exec", r#"{"argv":["/bin/true"]}"#)
            .await
            .unwrap()
            .id;
        s.set_agent_asset(agent, asset).await.unwrap();
        let incident = |key: String, asset_id: Option<i64>| async move {
            let signal = Signal {
                source: "webhook".into(),
                source_id: None,
                entity_id: Some(x),
                key: key.clone(),
                firing: true,
                severity: "critical".into(),
                summary: format!("{key} <down>"),
                details: Default::default(),
                links: Vec::new(),
                asset_id,
                check_id: None,
                service: String::new(),
                at: a.at,
                notify: true,
                unreachable: false,
            };
            s.push_signals(&[signal], a.at).await.unwrap();
            let item = s.inbox(1).await.unwrap().remove(0);
            let apply = Apply {
                inbox_id: item.id,
                signal: item.signal.unwrap(),
                source: AlertSource::Webhook,
                severity: Severity::Critical,
                entity_id: x,
                grouping: Some(Grouping::Open {
                    group_key: format!("key:{key}"),
                }),
                suppressed: String::new(),
                reopen: None,
                title: format!("{key} <down>"),
                absorb: Vec::new(),
            };
            s.apply_signal(&apply, a.at)
                .await
                .unwrap()
                .incident_id
                .unwrap()
        };
        let incident_open = incident(format!("fixture-open{sfx}"), Some(asset)).await;
        let incident_resolved = incident(format!("fixture-resolved{sfx}"), None).await;
        let runbook = s
            .create_runbook(
                &a,
                &pupitre_store::runbooks::RunbookInput {
                    entity_id: x,
                    target_kind: "asset".into(),
                    target: asset.to_string(),
                    title: format!("srv{sfx} down"),
                    body: "# Restart it".into(),
                    actions: r#"[{"name":"restart","label":"","argv":["/bin/true"],"user":"","timeout_s":60,"automatic":false}]"#.into(),
                    note: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        s.act_on_incident(&a, incident_resolved, &IncidentAction::Resolve)
            .await
            .unwrap();
        let alert_source = s
            .create_alert_source(
                &a,
                &NewAlertSource {
                    entity_id: x,
                    name: format!("prometheus{sfx}"),
                    kind: AlertSource::Alertmanager,
                    token_hash: sha256_hex(&format!("pal_fixture{sfx}")),
                    prefix: "pal_fixture".into(),
                },
            )
            .await
            .unwrap()
            .id;
        // The policy sits in an entity of its own under X, so that X has none to replace.
        let oncall_entity = s
            .create_entity(
                &a,
                &EntityInput {
                    parent_id: x,
                    name: format!("Oncall{sfx}"),
                    comment: String::new(),
                },
            )
            .await
            .unwrap()
            .id;
        self.st.entity_tree_changed();
        let policy = s
            .put_policy(
                &a,
                oncall_entity,
                &format!("policy{sfx}"),
                r#"{"steps":[{"targets":[{"schedule_id":1}],"delay_minutes":5}],"repeat":0}"#,
            )
            .await
            .unwrap()
            .id;
        let schedule = s
            .create_schedule(
                &a,
                &ScheduleInput {
                    entity_id: x,
                    name: format!("astreinte{sfx}"),
                    time_zone: "Europe/Paris".into(),
                    definition: r#"{"layers":[{"name":"nights","users":[1],"rotation":"weekly","start":"2026-11-30T19:00","restrictions":[{"kind":"daily","from":"19:00","to":"08:00"}],"skip_holidays":false}],"holidays":{"france":true,"alsace_moselle":false,"extra":[]}}"#.into(),
                },
            )
            .await
            .unwrap()
            .id;
        let window = s
            .create_window(
                &a,
                &WindowInput {
                    entity_id: x,
                    title: format!("upgrade{sfx}"),
                    starts_at: a.at + 86_400_000,
                    duration_minutes: 60,
                    time_zone: "Europe/Paris".into(),
                    rrule: String::new(),
                    scope: format!(r#"{{"asset_ids":[{asset}]}}"#),
                    intervention: "{}".into(),
                },
            )
            .await
            .unwrap()
            .id;
        let silence = s
            .create_silence(
                &a,
                x,
                r#"[{"name":"alertname","op":"=","value":"DiskFull"}]"#,
                a.at,
                a.at + 3_600_000,
                "disks being replaced",
            )
            .await
            .unwrap()
            .id;
        let handover = s
            .create_handover(&a, x, a.at - 3_600_000, "{}", "quiet night")
            .await
            .unwrap()
            .id;
        InvFixture {
            runbook,
            handover,
            silence,
            window,
            policy,
            schedule,
            incident: incident_open,
            incident_resolved,
            alert_source,
            command,
            enrolment,
            agent,
            agent_pending,
            site,
            site_del,
            building,
            building_del,
            room,
            room_del,
            rack,
            rack_del,
            asset,
            asset_other,
            asset_del,
            asset_quarantined,
            relation,
            check,
            check_acked,
            check_del,
            downtime,
            template,
            template_del,
            credential,
            credential_del,
        }
    }

    async fn audit(&self) -> Vec<AuditRecord> {
        let tree = self.tree().await;
        let f = AuditFilter {
            visible: tree.iter().map(|t| t.0).collect(),
            global: true,
            ..Default::default()
        };
        self.st
            .store
            .list_audit(
                &f,
                Page {
                    after: None,
                    limit: 100_000,
                },
            )
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Body>,
    ) -> (u16, String) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match body {
            Some(Body::Json(v)) => req = req.json(v),
            Some(Body::Form(pairs)) => {
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(serde_urlencoded::to_string(pairs).unwrap())
            }
            Some(Body::Csv(text)) => {
                req = req.header("content-type", "text/csv").body(text.clone())
            }
            None => {}
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}", N.fetch_add(1, Ordering::Relaxed))
}

#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
    Csv(String),
}

fn form(pairs: &[(&str, &str)]) -> Body {
    Body::Form(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn inventory_id(def_path: &str, method: &Method, inv: &InvFixture) -> i64 {
    let del = *method == Method::DELETE;
    let pick = |keep: i64, gone: i64| if del { gone } else { keep };
    let page_delete = def_path.ends_with("/delete");
    match def_path {
        "/inventory/assets/{id}/approve" => inv.asset_quarantined,
        "/inventory/relations/{id}/delete" => inv.relation,
        p if p.starts_with("/inventory/assets/") && page_delete => inv.asset_del,
        p if p.starts_with("/inventory/assets/") => inv.asset,
        p if p.starts_with("/inventory/sites/") => inv.site_del,
        p if p.starts_with("/inventory/buildings/") => inv.building_del,
        p if p.starts_with("/inventory/rooms/") && page_delete => inv.room_del,
        p if p.starts_with("/inventory/rooms/") => inv.room,
        p if p.starts_with("/inventory/racks/") && page_delete => inv.rack_del,
        p if p.starts_with("/inventory/racks/") => inv.rack,
        p if p.starts_with("/api/v1/sites/") => pick(inv.site, inv.site_del),
        p if p.starts_with("/api/v1/buildings/") => pick(inv.building, inv.building_del),
        p if p.starts_with("/api/v1/rooms/") => pick(inv.room, inv.room_del),
        p if p.starts_with("/api/v1/racks/") => pick(inv.rack, inv.rack_del),
        "/api/v1/assets/{id}/approve" => inv.asset_quarantined,
        p if p.starts_with("/api/v1/assets/") => pick(inv.asset, inv.asset_del),
        p if p.starts_with("/api/v1/relations/") => inv.relation,
        "/api/v1/checks/{id}/acknowledgement" if del => inv.check_acked,
        "/monitoring/checks/{id}/unacknowledge" => inv.check_acked,
        p if p.starts_with("/monitoring/checks/") => inv.check,
        p if p.starts_with("/monitoring/hosts/") => inv.asset,
        p if p.starts_with("/monitoring/downtimes/") => inv.downtime,
        p if p.starts_with("/monitoring/templates/") && page_delete => inv.template_del,
        p if p.starts_with("/monitoring/templates/") => inv.template,
        p if p.starts_with("/monitoring/credentials/") && page_delete => inv.credential_del,
        p if p.starts_with("/monitoring/credentials/") => inv.credential,
        p if p.starts_with("/api/v1/checks/") => pick(inv.check, inv.check_del),
        p if p.starts_with("/api/v1/downtimes/") => inv.downtime,
        p if p.starts_with("/api/v1/check-templates/") => pick(inv.template, inv.template_del),
        p if p.starts_with("/api/v1/credentials/") => pick(inv.credential, inv.credential_del),
        "/api/v1/agents/{id}/approve" | "/monitoring/agents/{id}/approve" => inv.agent_pending,
        p if p.starts_with("/monitoring/agents/") => inv.agent,
        p if p.starts_with("/monitoring/agent-enrolments/") => inv.enrolment,
        p if p.starts_with("/api/v1/agents/") => inv.agent,
        p if p.starts_with("/api/v1/agent-enrolments/") => inv.enrolment,
        p if p.starts_with("/api/v1/agent-commands/") => inv.command,
        p if p.starts_with("/monitoring/agent-commands/") => inv.command,
        p if p.starts_with("/api/v1/runbooks/") || p.starts_with("/incidents/runbooks/") => {
            inv.runbook
        }
        "/api/v1/incidents/{id}/reopen"
        | "/incidents/{id}/reopen"
        | "/api/v1/incidents/{id}/review"
        | "/incidents/{id}/review" => inv.incident_resolved,
        p if p.starts_with("/api/v1/incidents/") => inv.incident,
        p if p.starts_with("/incidents/sources/") => inv.alert_source,
        p if p.starts_with("/incidents/silences/") => inv.silence,
        p if p.starts_with("/maintenance/") => inv.window,
        p if p.starts_with("/oncall/schedules/") => inv.schedule,
        p if p.starts_with("/oncall/policies/") => inv.policy,
        p if p.starts_with("/incidents/") => inv.incident,
        p if p.starts_with("/api/v1/alert-sources/") => inv.alert_source,
        p if p.starts_with("/api/v1/escalation-policies/") => inv.policy,
        p if p.starts_with("/api/v1/schedules/") => inv.schedule,
        p if p.starts_with("/api/v1/maintenance-windows/") => inv.window,
        p if p.starts_with("/api/v1/silences/") => inv.silence,
        p if p.starts_with("/api/v1/handovers/") || p.starts_with("/shiftlog/handovers/") => {
            inv.handover
        }
        _ => 0,
    }
}

/// The concrete path and a valid request body for each registered route.
fn concrete(def_path: &str, method: &Method, fx: &Fixture) -> (String, Option<Body>) {
    let id = match def_path {
        p if p.starts_with("/api/v1/users/") || p.starts_with("/admin/users/") => fx.user_x,
        p if p.starts_with("/api/v1/teams/") || p.starts_with("/admin/teams/") => fx.team_x,
        p if p.starts_with("/api/v1/profiles/") || p.starts_with("/admin/profiles/") => {
            fx.profile_x
        }
        p if p.starts_with("/admin/entities/") && p.ends_with("/delete") => fx.empty_x,
        p if p.starts_with("/api/v1/entities/") && *method == Method::DELETE => fx.empty_x,
        p if p.starts_with("/api/v1/entities/") || p.starts_with("/admin/entities/") => fx.x,
        p if p.starts_with("/api/v1/user-templates/") || p.starts_with("/admin/templates/") => {
            fx.template_x
        }
        p if p.starts_with("/api/v1/me/tokens/") || p.starts_with("/settings/tokens/") => {
            fx.token_admin
        }
        p if p.starts_with("/api/v1/me/contact-methods/")
            || p.starts_with("/settings/notifications/methods/") =>
        {
            fx.method_admin
        }
        _ => inventory_id(def_path, method, &fx.inv),
    };
    let path = def_path
        .replace("{id}", &id.to_string())
        .replace("{*path}", "x.txt")
        // The `sms` template is the customised one there is to reset.
        .replace(
            "{kind}",
            if def_path.ends_with("/reset") || *method == Method::DELETE {
                "sms"
            } else {
                "chat"
            },
        );
    // The confirmation page names the runbook's action to run.
    let path = if def_path == "/incidents/{id}/actions/confirm" {
        format!("{path}?runbook={}&action=restart", fx.inv.runbook)
    } else {
        path
    };
    let x = fx.x.to_string();
    let sfx = rand_suffix();
    let body = match (method.as_str(), def_path) {
        ("GET", _) | ("DELETE", _) => None,
        ("POST", "/api/v1/users") => Some(Body::Json(
            json!({"login": format!("new{sfx}"), "display_name": "New user", "email": "new@example.com", "entity_id": fx.x, "password": "a-good-long-password"}),
        )),
        ("POST", "/api/v1/users/import") => Some(Body::Csv(format!(
            "login,display_name,email,entity_id\nimp{sfx},Imported,imp@example.com,{x}\n"
        ))),
        ("PATCH", "/api/v1/users/{id}") => Some(Body::Json(
            json!({"display_name": "Renamed", "phone": "+33 1 23 45 67 89"}),
        )),
        ("POST", "/api/v1/users/{id}/password") => {
            Some(Body::Json(json!({"password": "another-long-password"})))
        }
        ("PUT", "/api/v1/users/{id}/assignments") => Some(Body::Json(
            json!([{"entity_id": fx.x, "profile_id": fx.profile_x, "recursive": false}]),
        )),
        ("POST", "/api/v1/user-templates") => Some(Body::Json(
            json!({"name": format!("T{sfx}"), "entity_id": fx.x, "profile_id": fx.profile_x, "language": "fr", "time_zone": "Europe/Paris"}),
        )),
        ("PATCH", "/api/v1/user-templates/{id}") => Some(Body::Json(
            json!({"name": format!("T{sfx}"), "language": "en"}),
        )),
        ("POST", "/api/v1/teams") => Some(Body::Json(
            json!({"name": format!("Team {sfx}"), "description": "night shift", "entity_id": fx.x}),
        )),
        ("PATCH", "/api/v1/teams/{id}") => Some(Body::Json(json!({"description": "day shift"}))),
        ("POST", "/api/v1/profiles") => Some(Body::Json(
            json!({"name": format!("P{sfx}"), "description": "custom", "entity_id": fx.x, "levels": {"jobs": "operate"}}),
        )),
        ("PATCH", "/api/v1/profiles/{id}") => Some(Body::Json(json!({"description": "changed"}))),
        ("POST", "/api/v1/entities") => Some(Body::Json(
            json!({"parent_id": fx.x, "name": format!("Site {sfx}"), "comment": "lyon"}),
        )),
        ("PATCH", "/api/v1/entities/{id}") => Some(Body::Json(json!({"comment": "updated"}))),
        ("POST", "/api/v1/sites") => Some(Body::Json(
            json!({"name": format!("Lyon {sfx}"), "entity_id": fx.x, "address": "1 quai", "time_zone": "Europe/Paris"}),
        )),
        ("PATCH", "/api/v1/sites/{id}") => Some(Body::Json(json!({"comment": "updated"}))),
        ("POST", "/api/v1/buildings") => Some(Body::Json(
            json!({"name": format!("B{sfx}"), "site_id": fx.inv.site}),
        )),
        ("PATCH", "/api/v1/buildings/{id}") => Some(Body::Json(json!({"comment": "north"}))),
        ("POST", "/api/v1/rooms") => Some(Body::Json(
            json!({"name": format!("Room {sfx}"), "site_id": fx.inv.site, "grid_rows": 3, "grid_cols": 5, "notes": "2N"}),
        )),
        ("PATCH", "/api/v1/rooms/{id}") => Some(Body::Json(json!({"notes": "N+1"}))),
        ("POST", "/api/v1/racks") => Some(Body::Json(
            json!({"name": format!("Rack {sfx}"), "room_id": fx.inv.room, "height_u": 47, "grid_row": 2, "grid_col": 3}),
        )),
        ("PATCH", "/api/v1/racks/{id}") => Some(Body::Json(json!({"max_power_w": 8000}))),
        ("POST", "/api/v1/assets") => Some(Body::Json(
            json!({"name": format!("web{sfx}"), "asset_type": "server", "entity_id": fx.x, "hostname": format!("web{sfx}.example.com"), "serial": format!("SN{sfx}"), "management_ip": "10.0.0.9", "purchase_cost": "1499.90", "rack_id": fx.inv.rack, "rack_u": 10}),
        )),
        ("POST", "/api/v1/assets/import") => Some(Body::Csv(format!(
            "asset_type,name,serial,notes\nserver,imported{sfx},CSV{sfx},\"from a, quoted\"\"file\"\"\"\n"
        ))),
        ("PATCH", "/api/v1/assets/{id}") => Some(Body::Json(
            json!({"notes": "replaced PSU", "status": "in_maintenance", "rack_u": 20}),
        )),
        ("POST", "/api/v1/relations") => Some(Body::Json(
            json!({"kind": "connected_to", "from_id": fx.inv.asset, "to_id": fx.inv.asset_other, "from_port": "eth0", "to_port": "Gi1/0/1", "cable_id": format!("C{sfx}")}),
        )),
        ("POST", "/api/v1/checks") => Some(Body::Json(
            json!({"asset_id": fx.inv.asset, "entity_id": fx.x, "name": format!("SSH {sfx}"), "probe": {"kind": "tcp", "port": 22, "expect": "SSH-"}, "interval": 120, "retry_interval": 30, "timeout": 5, "max_attempts": 4, "warning": "1", "critical": "2", "notifications": false, "host_check": false}),
        )),
        ("PUT", "/api/v1/checks/{id}") => Some(Body::Json(
            json!({"asset_id": fx.inv.asset, "entity_id": fx.x, "name": format!("discard renamed {sfx}"), "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 9}, "interval": 600, "retry_interval": 60, "timeout": 3, "max_attempts": 2, "warning": "0.5", "critical": "1", "notifications": true, "host_check": true}),
        )),
        ("POST", "/api/v1/checks/{id}/acknowledgement") => Some(Body::Json(
            json!({"comment": "vendor ticket 4711", "expires_in_minutes": 60}),
        )),
        ("POST", "/api/v1/check-templates") => Some(Body::Json(
            json!({"name": format!("Template {sfx}"), "entity_id": fx.x, "tags": [format!("nothing-{sfx}")], "checks": [{"name": "SSH", "probe": {"kind": "tcp", "port": 22}}]}),
        )),
        ("PUT", "/api/v1/check-templates/{id}") => Some(Body::Json(
            json!({"name": format!("Renamed template {sfx}"), "entity_id": fx.x, "tags": [format!("nothing-{sfx}")], "checks": [{"name": "SSH", "probe": {"kind": "tcp", "port": 2222}}]}),
        )),
        ("POST", "/monitoring/checks/{id}/acknowledge") => Some(form(&[
            ("comment", "looking into it"),
            ("expires_in_minutes", "30"),
        ])),
        ("POST", "/monitoring/downtimes") => Some(form(&[
            ("asset_id", &fx.inv.asset.to_string()),
            ("starts_at", "2026-12-01T22:00:00Z"),
            ("ends_at", "2027-06-01T00:00:00Z"),
            ("weekdays", "sat"),
            ("weekdays", "sun"),
            ("start_time", "02:00"),
            ("duration_minutes", "90"),
            ("comment", "weekend backups"),
        ])),
        ("POST", "/monitoring/templates") => Some(form(&[
            ("name", &format!("Form template {sfx}")),
            ("entity_id", &x),
            ("tags", &format!("nothing-{sfx}")),
            ("recursive", "1"),
            (
                "checks",
                r#"[{"name": "SSH", "probe": {"kind": "tcp", "port": 22}}]"#,
            ),
        ])),
        ("POST", "/monitoring/templates/{id}") => Some(form(&[
            ("name", &format!("Form renamed template {sfx}")),
            ("entity_id", &x),
            ("tags", &format!("nothing-{sfx}")),
            (
                "checks",
                r#"[{"name": "SSH", "probe": {"kind": "tcp", "port": 2222}}]"#,
            ),
        ])),
        ("POST", "/monitoring/credentials") => Some(form(&[
            ("name", &format!("form-core-{sfx}")),
            ("entity_id", &x),
            ("description", "core switches"),
            ("kind", "snmp_v3"),
            ("version", "2c"),
            ("user", "pupitre"),
            ("level", "authPriv"),
            ("auth_protocol", "sha512"),
            ("auth_password", "form-auth-secret-1"),
            ("priv_protocol", "aes256"),
            ("priv_password", "form-priv-secret-1"),
            ("community", ""),
            ("login", ""),
            ("password", ""),
        ])),
        ("POST", "/monitoring/credentials/{id}") => Some(form(&[
            ("name", &format!("form-renamed-{sfx}")),
            ("entity_id", &x),
            ("description", "lab"),
            ("kind", "password"),
            ("version", "2c"),
            ("user", ""),
            ("level", "authPriv"),
            ("auth_protocol", "sha256"),
            ("auth_password", ""),
            ("priv_protocol", "aes128"),
            ("priv_password", ""),
            ("community", ""),
            ("login", "monitor"),
            ("password", "form-db-secret-1"),
        ])),
        ("POST", "/api/v1/agent-enrolments") => Some(Body::Json(
            json!({"entity_id": fx.x, "label": format!("rack B{sfx}"), "max_uses": 20, "valid_hours": 48}),
        )),
        ("POST", "/api/v1/agents/{id}/approve") => Some(Body::Json(json!({"entity_id": fx.x}))),
        ("POST", "/monitoring/agents/{id}/approve") => Some(form(&[("entity_id", &x)])),
        ("POST", "/monitoring/agent-enrolments") => Some(form(&[
            ("label", &format!("rack C{sfx}")),
            ("entity_id", &x),
            ("max_uses", "3"),
            ("valid_hours", "12"),
        ])),
        ("POST", "/api/v1/agents/{id}/commands") => Some(Body::Json(
            json!({"argv": ["/usr/bin/uptime"], "timeout_s": 30}),
        )),
        ("POST", "/monitoring/agents/{id}/commands") => Some(form(&[
            ("argv", "/usr/bin/uptime\n"),
            ("timeout_s", "30"),
            ("env", "LC_ALL=C"),
        ])),
        ("POST", "/monitoring/agents/{id}/config") => Some(form(&[
            ("interval_s", "15"),
            ("top_processes", "4"),
            ("buffer_mib", "32"),
            ("cpu", "1"),
            ("memory", "1"),
            ("log_name", "auth"),
            ("log_path", "/var/log/auth.log"),
            ("log_pattern", "Failed password"),
            ("log_name", ""),
            ("log_path", ""),
            ("log_pattern", ""),
        ])),
        ("POST", "/api/v1/incidents/{id}/notes") => {
            Some(Body::Json(json!({"text": "power cable <reseated>"})))
        }
        ("PUT", "/api/v1/incidents/{id}/assignee") => {
            Some(Body::Json(json!({"assignee_id": fx.user_x})))
        }
        ("POST", "/incidents/{id}/notes") => Some(form(&[("text", "fan replaced")])),
        ("PUT", "/api/v1/incidents/{id}/review") => {
            Some(Body::Json(json!({"cause": "a failed PSU",
            "impact": "40 min without the API", "actions": "order a spare PSU"})))
        }
        ("POST", "/incidents/{id}/review") => Some(form(&[
            ("cause", "a <failed> PSU"),
            ("impact", ""),
            ("actions", "spare"),
        ])),
        ("POST", "/api/v1/escalation-policies") => Some(Body::Json(json!({"entity_id": fx.x,
            "name": format!("production {sfx}"), "repeat": 2,
            "steps": [{"targets": [{"user_id": fx.user_x}], "delay_minutes": 10}]}))),
        ("POST", "/api/v1/schedules") | ("PUT", "/api/v1/schedules/{id}") => {
            Some(Body::Json(json!({
            "entity_id": fx.x, "name": format!("weekends {sfx}"), "time_zone": "Europe/Paris",
            "layers": [{"name": "weekends", "users": [fx.user_x], "rotation": "weekly",
                "start": "2026-12-05T00:00",
                "restrictions": [{"kind": "weekly", "from": "sat 00:00", "to": "mon 00:00"}]}]})))
        }
        ("POST", "/api/v1/maintenance-windows") | ("PUT", "/api/v1/maintenance-windows/{id}") => {
            Some(Body::Json(
                json!({"entity_id": fx.x, "name": format!("firmware {sfx}"),
                "starts_at": "2026-12-20T01:00:00Z", "duration_minutes": 90,
                "rrule": "FREQ=MONTHLY;BYDAY=3SU", "scope": {"asset_ids": [fx.inv.asset]},
                "intervention": {"who": "night", "vendor": "Acme"}}),
            ))
        }
        ("POST", "/api/v1/shift-log") => Some(Body::Json(json!({"entity_id": fx.x,
            "category": "call", "text": format!("vendor called back {sfx}")}))),
        ("POST", "/api/v1/handovers") => Some(Body::Json(json!({"entity_id": fx.x,
            "note": format!("watch the backups {sfx}")}))),
        ("POST", "/shiftlog") => Some(form(&[
            ("entity_id", &x),
            ("category", "note"),
            ("text", "<b>quiet</b>"),
        ])),
        ("POST", "/shiftlog/handover") => Some(form(&[("entity_id", &x), ("note", "all calm")])),
        ("POST", "/api/v1/silences") => Some(Body::Json(json!({"entity_id": fx.x,
            "matchers": [{"name": "service", "op": "=", "value": "backup"}],
            "ends_at": jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 48 * 3600)
                .unwrap()
                .to_string(),
            "comment": format!("backup rework {sfx}")}))),
        ("POST", "/api/v1/schedules/{id}/overrides") => {
            Some(Body::Json(json!({"user_id": fx.user_x,
            "starts_at": "2026-12-24T18:00:00Z", "ends_at": "2026-12-26T08:00:00Z"})))
        }
        ("POST", "/api/v1/alert-sources") => Some(Body::Json(
            json!({"name": format!("hooks {sfx}"), "entity_id": fx.x, "kind": "webhook"}),
        )),
        ("POST", "/incidents/sources") => Some(form(&[
            ("name", &format!("am {sfx}")),
            ("entity_id", &x),
            ("kind", "alertmanager"),
        ])),
        ("PUT", "/api/v1/agents/{id}/config") => {
            Some(Body::Json(json!({"interval_s": 10, "top_processes": 3})))
        }
        ("POST", "/api/v1/credentials") => Some(Body::Json(
            json!({"name": format!("core-{sfx}"), "entity_id": fx.x, "description": "core switches", "kind": "snmp_v3", "user": "pupitre", "level": "authPriv", "auth_protocol": "sha512", "auth_password": "auth-secret-1", "priv_protocol": "aes256", "priv_password": "priv-secret-1"}),
        )),
        ("PUT", "/api/v1/credentials/{id}") => Some(Body::Json(
            json!({"name": format!("renamed-{sfx}"), "entity_id": fx.x, "description": "lab", "kind": "snmp_community", "version": "1", "community": "s3cret-community"}),
        )),
        ("POST", "/api/v1/downtimes") => Some(Body::Json(
            json!({"asset_id": fx.inv.asset, "starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T02:30:00Z", "comment": "firmware upgrade"}),
        )),
        ("PATCH", "/api/v1/me") => Some(Body::Json(json!({"phone": "0102030405"}))),
        ("POST", "/api/v1/me/password") => Some(Body::Json(
            json!({"current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-passphrase"}),
        )),
        ("POST", "/api/v1/runbooks") => Some(Body::Json(json!({"entity_id": fx.x,
            "target_kind": "service", "target": format!("billing {sfx}"), "name": format!("Billing {sfx}"),
            "body": "# Billing\n\nRestart the queue.", "note": "first"}))),
        ("PUT", "/api/v1/runbooks/{id}") => Some(Body::Json(json!({"entity_id": fx.x,
            "target_kind": "asset", "target": fx.inv.asset.to_string(), "name": format!("srv down {sfx}"),
            "body": "# Restart it\n\nThen check the logs.", "note": "logs",
            "actions": [{"name": "restart", "argv": ["/bin/true"]}, {"name": "logs", "argv": ["/usr/bin/tail", "/var/log/syslog"]}]}))),
        ("POST", "/api/v1/incidents/{id}/actions") => Some(Body::Json(
            json!({"runbook_id": fx.inv.runbook, "action": "restart", "confirm": true}),
        )),
        ("POST", "/incidents/{id}/actions") => Some(form(&[
            ("runbook_id", &fx.inv.runbook.to_string()),
            ("action", "restart"),
            ("confirm", "yes"),
        ])),
        ("POST", "/maintenance") | ("POST", "/maintenance/{id}") => Some(form(&[
            ("name", &format!("<i>firmware</i> {sfx}")),
            ("entity_id", &x),
            ("starts_at", "2026-12-20T01:00"),
            ("time_zone", "Europe/Paris"),
            ("duration_minutes", "90"),
            ("rrule", "FREQ=MONTHLY;BYDAY=3SU"),
            ("asset_ids", &fx.inv.asset.to_string()),
            ("check_ids", ""),
            ("tags", "db"),
            ("who", "night"),
            ("what", "firmware"),
            ("vendor", "Acme"),
            ("description", "BIOS 2.1"),
        ])),
        ("POST", "/oncall/schedules") | ("POST", "/oncall/schedules/{id}") => Some(form(&[
            ("name", &format!("nights {sfx}")),
            ("entity_id", &x),
            ("time_zone", "Europe/Paris"),
            ("france", "1"),
            ("extra", "2026-12-24"),
            ("layer_name", "nights"),
            ("layer_users", &fx.user_x_login),
            ("layer_rotation", "weekly"),
            ("layer_shift_hours", ""),
            ("layer_start", "2026-11-30T19:00"),
            ("layer_skip_holidays", "no"),
            ("layer_restriction", "daily"),
            ("layer_from", "19:00"),
            ("layer_to", "08:00"),
            ("layer_restriction2", ""),
            ("layer_from2", ""),
            ("layer_to2", ""),
        ])),
        ("POST", "/oncall/schedules/{id}/overrides") => Some(form(&[
            ("user", &fx.user_x_login),
            ("starts_at", "2026-12-24T18:00"),
            ("ends_at", "2026-12-26T08:00"),
        ])),
        ("POST", "/oncall/policy") => Some(form(&[
            ("entity_id", &x),
            ("name", &format!("production {sfx}")),
            ("step_targets", &fx.user_x_login),
            ("step_delay", "10"),
            ("step_targets", ""),
            ("step_delay", "15"),
            ("repeat", "1"),
        ])),
        ("POST", "/incidents/silences") => Some(form(&[
            ("entity_id", &x),
            ("matcher_name", "alertname"),
            ("matcher_op", "=~"),
            ("matcher_value", "Disk.*"),
            ("matcher_name", ""),
            ("matcher_op", "="),
            ("matcher_value", ""),
            ("hours", "4"),
            ("comment", "<b>disks</b> being swapped"),
        ])),
        ("POST", "/incidents/runbooks") | ("POST", "/incidents/runbooks/{id}") => Some(form(&[
            ("entity_id", &x),
            ("target_kind", "asset"),
            ("target", &fx.inv.asset.to_string()),
            ("name", &format!("srv {sfx}")),
            ("body", "# Steps"),
            ("action_name", "restart"),
            ("action_label", "Restart"),
            ("action_argv", "/bin/systemctl\nrestart\nnginx"),
            ("action_user", ""),
            ("action_timeout_s", "60"),
            ("action_automatic", "no"),
            ("note", "form"),
        ])),
        ("POST", "/api/v1/me/contact-methods") => Some(Body::Json(
            json!({"kind": "email", "label": format!("home {sfx}"), "address": format!("home{sfx}@example.com")}),
        )),
        ("POST", "/settings/notifications/methods") => Some(form(&[
            ("kind", "sms"),
            ("label", "mobile"),
            ("target", "+33612345678"),
        ])),
        ("PUT", "/api/v1/me/notification-rules") => Some(Body::Json(json!({
            "rules": [{"contact_method_id": fx.method_admin, "urgency": "high", "delay_minutes": 2}],
            "quiet_hours": {"start": "22:00", "end": "07:00"}, "digest_after": 4}))),
        ("POST", "/settings/notifications/rules") => Some(form(&[
            ("urgency", "low"),
            ("method", &fx.method_admin.to_string()),
            ("delay", "10"),
            ("quiet_start", ""),
            ("quiet_end", ""),
            ("quiet_zone", ""),
            ("digest_after", "7"),
        ])),
        ("PUT", "/api/v1/notification-templates/{kind}") => Some(Body::Json(
            json!({"subject": format!("[{sfx}] {{{{ incident.title }}}}"), "body": "{{ incident.url }}"}),
        )),
        ("POST", "/api/v1/notification-templates/{kind}/preview") => {
            Some(Body::Json(json!({"body": "{{ incident.url }}"})))
        }
        ("POST", "/incidents/templates/{kind}") => Some(form(&[
            ("action", "save"),
            ("subject", "{{ incident.title }}"),
            ("body", "{{ incident.url }}"),
        ])),
        ("POST", "/api/v1/me/tokens") => {
            Some(Body::Json(json!({"name": "ci", "expires_in_days": 30})))
        }
        ("POST", "/api/v1/me/logout-everywhere") => Some(Body::Json(json!({}))),
        ("POST", "/inventory/assets/new") => Some(form(&[
            ("name", &format!("form-srv{sfx}")),
            ("asset_type", "server"),
            ("entity_id", &x),
            ("hostname", "form.example.com"),
            (
                "interfaces",
                "eth0 | 00:11:22:33:44:55 | 10.1.1.1 | 12 | 1000",
            ),
            ("attributes", "firmware = 1.2"),
            ("tags", "prod, web"),
        ])),
        ("POST", "/inventory/assets/{id}") => Some(form(&[
            ("name", "renamed by form"),
            ("asset_type", "server"),
            ("entity_id", &x),
            ("status", "in_maintenance"),
            ("full_depth", "1"),
        ])),
        ("POST", "/inventory/assets/{id}/relations") => Some(form(&[
            ("kind", "powered_by"),
            ("other", &fx.inv.asset_other.to_string()),
        ])),
        ("POST", "/inventory/sites/{id}") => Some(form(&[
            ("name", &format!("Edited site {sfx}")),
            ("time_zone", "UTC"),
            ("address", "2 rue"),
        ])),
        ("POST", "/inventory/buildings/{id}") => {
            Some(form(&[("name", &format!("Edited building {sfx}"))]))
        }
        ("POST", "/inventory/rooms/{id}") => Some(form(&[
            ("name", &format!("Edited room {sfx}")),
            ("grid_rows", "3"),
            ("grid_cols", "4"),
        ])),
        ("POST", "/inventory/racks/{id}") => Some(form(&[
            ("name", &format!("Edited rack {sfx}")),
            ("height_u", "48"),
        ])),
        ("POST", "/inventory/sites") => Some(form(&[
            ("name", &format!("Form site {sfx}")),
            ("entity_id", &x),
            ("time_zone", "Europe/Paris"),
        ])),
        ("POST", "/inventory/buildings") => Some(form(&[
            ("name", &format!("Form building {sfx}")),
            ("site_id", &fx.inv.site.to_string()),
        ])),
        ("POST", "/inventory/rooms") => Some(form(&[
            ("name", &format!("Form room {sfx}")),
            ("site_id", &fx.inv.site.to_string()),
            ("grid_rows", "2"),
            ("grid_cols", "2"),
        ])),
        ("POST", "/inventory/racks") => Some(form(&[
            ("name", &format!("Form rack {sfx}")),
            ("room_id", &fx.inv.room.to_string()),
            ("height_u", "42"),
        ])),
        ("POST", "/admin/users/new") => Some(form(&[
            ("login", &format!("form{sfx}")),
            ("display_name", "Form user"),
            ("entity_id", &x),
            ("password", "a-good-long-password"),
        ])),
        ("POST", "/admin/users/import") => Some(form(&[(
            "csv",
            &format!("login,display_name\nfimp{sfx},Form import\n"),
        )])),
        ("POST", "/admin/users/{id}") => Some(form(&[
            ("login", &format!("userx-renamed{sfx}")),
            ("display_name", "Renamed by form"),
            ("entity_id", &x),
            ("language", "fr"),
            ("time_zone", "Europe/Paris"),
            ("active", "1"),
        ])),
        ("POST", "/admin/users/{id}/assignments") => Some(form(&[
            ("profile_id", &fx.profile_x.to_string()),
            ("entity_id", &x),
        ])),
        ("POST", "/admin/teams") => Some(form(&[
            ("name", &format!("Form team {sfx}")),
            ("entity_id", &x),
        ])),
        ("POST", "/admin/teams/{id}") => Some(form(&[
            ("name", "Renamed team"),
            ("description", "d"),
            ("entity_id", &x),
        ])),
        ("POST", "/admin/profiles") => Some(form(&[
            ("name", &format!("Form profile {sfx}")),
            ("entity_id", &x),
            ("level_jobs", "read"),
        ])),
        ("POST", "/admin/profiles/{id}") => Some(form(&[
            ("name", &format!("Renamed profile {sfx}")),
            ("entity_id", &x),
            ("level_jobs", "operate"),
        ])),
        ("POST", "/admin/entities") => Some(form(&[
            ("parent_id", &x),
            ("name", &format!("Form site {sfx}")),
        ])),
        ("POST", "/admin/entities/{id}") => Some(form(&[
            ("parent_id", "1"),
            ("name", "Renamed entity"),
            ("comment", "c"),
        ])),
        ("POST", "/admin/templates") => Some(form(&[
            ("name", &format!("Form tpl {sfx}")),
            ("profile_id", &fx.profile_x.to_string()),
            ("entity_id", &x),
            ("time_zone", "UTC"),
        ])),
        ("POST", "/settings") => Some(form(&[
            ("display_name", "Me"),
            ("language", "fr"),
            ("time_zone", "Europe/Paris"),
        ])),
        ("POST", "/settings/tokens") => {
            Some(form(&[("name", "from form"), ("expires_in_days", "7")]))
        }
        ("POST", "/password") => Some(form(&[
            ("current_password", ADMIN_PASSWORD),
            ("new_password", "a-brand-new-passphrase"),
            ("confirm_password", "a-brand-new-passphrase"),
        ])),
        ("POST", _) => Some(form(&[])),
        _ => None,
    };
    (path, body)
}

/// Public routes are few and named here, so that a new one is a deliberate choice.
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/login",
    "/static/app.css",
    "/static/app.js",
    "/static/favicon.svg",
    "/public/{*path}",
    "/api/v1/inventory/agent",
    "/static/draw.css",
    "/api/v1/heartbeat/{token}",
    "/api/v1/agent/enrol",
    "/api/v1/agent/samples",
    "/api/v1/agent/poll",
    "/api/v1/agent/inventory",
    "/api/v1/agent/progress",
    "/api/v1/alerts/alertmanager",
    "/api/v1/alerts/webhook",
    "/a/{token}",
];

#[tokio::test]
async fn route_matrix_denies_anonymous_unprivileged_and_other_entities() {
    let app = start().await;
    let fx = app.fixture().await;
    let mut checked = 0;
    for def in routes() {
        let (path, body) = concrete(def.path, &def.method, &fx);
        let what = format!("{} {}", def.method, def.path);
        if def.access == Access::Public {
            assert!(
                PUBLIC.contains(&def.path),
                "{what} is public but not in the PUBLIC list"
            );
            continue;
        }
        // Anonymous.
        let (status, _) = app.send(&def.method, &path, None, body.as_ref()).await;
        match def.kind {
            Kind::Api => assert_eq!(status, 401, "{what} anonymous"),
            Kind::Page => assert_eq!(status, 303, "{what} anonymous should redirect to /login"),
        }
        // A profile without the domain's permission.
        // A profile without the route's permission: an operator for administration routes,
        // an account with no profile at all for every domain route.
        if let Access::Domain(domain, _) = def.access {
            let mut refused = vec![&fx.nobody];
            if domain == Domain::Administration {
                refused.push(&fx.weak);
            }
            for token in refused {
                let before = app.audit().await.len();
                let (status, _) = app
                    .send(&def.method, &path, Some(token), body.as_ref())
                    .await;
                assert_eq!(status, 403, "{what} without permission");
                assert_eq!(
                    app.audit().await.len(),
                    before,
                    "{what}: a refused request writes nothing"
                );
            }
        }
        // Another entity's administrator, on an object of entity X.
        if def.path.contains("{id}") {
            let before = app.audit().await.len();
            let (status, text) = app
                .send(&def.method, &path, Some(&fx.other), body.as_ref())
                .await;
            assert!(
                status == 404 || status == 403,
                "{what} from another entity: {status} {text}"
            );
            assert_eq!(
                app.audit().await.len(),
                before,
                "{what}: a refused request writes nothing"
            );
        }
        checked += 1;
    }
    assert!(checked > 60, "only {checked} routes checked");
    // The public list does not hide anything: each one exists.
    for p in PUBLIC {
        assert!(
            routes().iter().any(|d| d.path == *p),
            "{p} is not a route any more"
        );
    }
}

/// POSTs that change nothing (a preview renders a template it is sent): nothing to audit.
const READ_ONLY_POSTS: &[&str] = &["/api/v1/notification-templates/{kind}/preview"];

/// Request fields that are not stored as such (the token's lifetime becomes `expires_at`).
const INPUT_ONLY: &[&str] = &[
    "expires_in_days",
    "expires_in_minutes",
    "valid_hours",
    // A launch's confirmation.
    "confirm",
];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // The audit log records an absent value as empty.
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[tokio::test]
async fn every_mutating_route_leaves_exactly_one_audit_record_with_its_values() {
    let app = start().await;
    let mut checked = 0;
    for def in routes() {
        if def.method == Method::GET
            || def.access == Access::Public
            || READ_ONLY_POSTS.contains(&def.path)
        {
            continue;
        }
        let fx = app.fixture().await;
        let (path, body) = concrete(def.path, &def.method, &fx);
        let what = format!("{} {}", def.method, def.path);
        // The object as it was, for the `before` values.
        let api_get = path.starts_with("/api/v1/") && def.path.ends_with("{id}");
        let before_obj: Option<Value> = if api_get {
            let (s, text) = app.send(&Method::GET, &path, Some(&fx.admin), None).await;
            (s == 200).then(|| serde_json::from_str(&text).unwrap())
        } else {
            None
        };
        let before = app.audit().await;
        let (status, text) = app
            .send(&def.method, &path, Some(&fx.admin), body.as_ref())
            .await;
        assert!(status < 400, "{what} as admin: {status} {text}");
        let after = app.audit().await;
        assert_eq!(
            after.len(),
            before.len() + 1,
            "{what} must leave exactly one audit record; response {status} {text}"
        );
        let rec = &after[0];
        assert_eq!(rec.actor_id, Some(fx.admin_id), "{what}: audit actor");
        if let Some(Body::Json(Value::Object(map))) = &body {
            for (k, v) in map {
                let Some(v) = scalar(v) else { continue };
                if INPUT_ONLY.contains(&k.as_str()) {
                    continue;
                }
                if k.contains("password") || k == "community" {
                    assert!(
                        !rec.event
                            .changes
                            .iter()
                            .any(|c| c.after.as_deref() == Some(v.as_str())),
                        "{what}: a secret leaked into the audit log"
                    );
                    continue;
                }
                // A replacement (PUT) repeats fields it does not change.
                let unchanged = before_obj
                    .as_ref()
                    .and_then(|o| o.get(k))
                    .and_then(scalar)
                    .is_some_and(|b| b == v);
                if unchanged && def.method == Method::PUT {
                    continue;
                }
                let change = rec.event.changes.iter().find(|c| c.field == *k);
                let change = change.unwrap_or_else(|| {
                    panic!(
                        "{what}: no audited change for `{k}` in {:?}",
                        rec.event.changes
                    )
                });
                assert_eq!(
                    change.after.as_deref(),
                    Some(v.as_str()),
                    "{what}: after value of {k}"
                );
                if let Some(obj) = &before_obj {
                    assert_eq!(
                        change.before,
                        obj.get(k).and_then(scalar),
                        "{what}: before value of {k}"
                    );
                }
            }
        }
        // Forms are not held to the field-by-field comparison above (their inputs are text,
        // named for people), but a secret typed in one is no more audited than in JSON.
        if let Some(Body::Form(pairs)) = &body {
            let record = format!("{:?}", rec.event);
            for (k, v) in pairs {
                if (k.contains("password") || k == "community") && !v.is_empty() {
                    assert!(
                        !record.contains(v.as_str()),
                        "{what}: the secret `{k}` leaked into the audit log"
                    );
                }
            }
        }
        // DELETE on a token revokes it (it stays listed, revoked): only true deletions here.
        if rec.event.action.ends_with(".delete") {
            assert!(
                rec.event.changes.iter().all(|c| c.after.is_none()),
                "{what}: a deletion has no after values"
            );
            if let Some(obj) = &before_obj {
                let name = obj.get("name").or(obj.get("login")).and_then(scalar);
                let field = if obj.get("login").is_some() {
                    "login"
                } else {
                    "name"
                };
                let change = rec.event.changes.iter().find(|c| c.field == field).unwrap();
                assert_eq!(change.before, name, "{what}: before value on deletion");
            }
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} mutating routes checked");
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    let app = start().await;
    let fx = app.fixture().await;
    let (status, text) = app
        .send(&Method::GET, "/api/v1/openapi.json", Some(&fx.admin), None)
        .await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    for def in routes()
        .iter()
        .filter(|d| d.path.starts_with("/api/v1/") && d.path != "/api/v1/openapi.json")
    {
        let m = def.method.as_str().to_lowercase();
        assert!(
            doc["paths"][def.path][&m].is_object(),
            "{} {} missing from the OpenAPI document",
            def.method,
            def.path
        );
        let op = &doc["paths"][def.path][&m];
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if def.path.contains("{id}") {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "id" && p["in"] == "path"),
                "{} {}: the id parameter is not declared",
                def.method,
                def.path
            );
        }
        for p in &params {
            let in_path = p["name"]
                .as_str()
                .is_some_and(|name| def.path.contains(&format!("{{{name}}}")));
            if in_path {
                assert_eq!(
                    p["in"], "path",
                    "{} {}: {}",
                    def.method, def.path, p["name"]
                );
            } else {
                assert_eq!(
                    p["in"], "query",
                    "{} {}: {} must be a query parameter",
                    def.method, def.path, p["name"]
                );
            }
        }
        assert!(
            op["responses"]["4XX"].is_object(),
            "{} {}: the error envelope is not documented",
            def.method,
            def.path
        );
    }
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    let app = start().await;
    let fx = app.fixture().await;
    let x = fx.x;
    let cases: Vec<(Method, &str, Body, u16, &str)> = vec![
        (
            Method::POST,
            "/api/v1/users",
            Body::Csv("{\"login\": ".into()),
            415,
            "",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "a", "display_name": 5})),
            422,
            "display_name",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "a", "display_name": "A", "shoe_size": 44})),
            422,
            "shoe_size",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "a", "display_name": "A", "entity_id": 9999})),
            422,
            "entity_id",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(
                json!({"login": "a", "display_name": "A", "assignments": [{"entity_id": x, "profile_id": 9999}]}),
            ),
            422,
            "assignments[0].profile_id",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(
                json!({"login": "a", "display_name": "A", "assignments": [{"entity_id": 9999, "profile_id": fx.profile_x}]}),
            ),
            422,
            "assignments[0].entity_id",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "a", "display_name": "A", "time_zone": "Mars/Olympus"})),
            422,
            "time_zone",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "a", "display_name": "A", "password": "short"})),
            422,
            "password",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Body::Json(json!({"login": "<b>", "display_name": "A"})),
            422,
            "login",
        ),
        (
            Method::PATCH,
            "/api/v1/teams/999999",
            Body::Json(json!({"name": "x"})),
            404,
            "",
        ),
        (
            Method::POST,
            "/api/v1/profiles",
            Body::Json(json!({"name": "P", "levels": {"jobs": "superuser"}})),
            422,
            "levels.jobs",
        ),
        (
            Method::POST,
            "/api/v1/users/import",
            Body::Csv("login,display_name,hat\na,A,red\n".into()),
            422,
            "column hat",
        ),
        (
            Method::POST,
            "/api/v1/users/import",
            Body::Csv("login,display_name\nok1,A\nok1,B\n".into()),
            422,
            "row 2: login",
        ),
        (
            Method::GET,
            "/api/v1/users?limit=100000",
            Body::Json(json!(null)),
            422,
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/users?cursor=zzz",
            Body::Json(json!(null)),
            422,
            "cursor",
        ),
        (
            Method::GET,
            "/api/v1/users?active=maybe",
            Body::Json(json!(null)),
            422,
            "active",
        ),
    ];
    for (method, path, body, want, field) in cases {
        let users_before = app.st.store.count_users().await.unwrap();
        let audit_before = app.audit().await.len();
        let body = if method == Method::GET {
            None
        } else {
            Some(&body)
        };
        let (status, text) = app.send(&method, path, Some(&fx.admin), body).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        if !field.is_empty() {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["error"]["field"].as_str(),
                Some(field),
                "{method} {path}: {text}"
            );
            assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        }
        assert_eq!(
            app.st.store.count_users().await.unwrap(),
            users_before,
            "{method} {path} wrote a user"
        );
        assert_eq!(
            app.audit().await.len(),
            audit_before,
            "{method} {path} wrote an audit record"
        );
    }
    // Malformed JSON, invalid UTF-8 in a CSV, a duplicate login, an oversized body.
    let raw = |ct: &'static str, bytes: Vec<u8>| {
        app.http
            .post(format!("{}/api/v1/users", app.base))
            .bearer_auth(&fx.admin)
            .header("content-type", ct)
            .body(bytes)
    };
    let r = raw("application/json", b"{\"login\": ".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
    let r = app
        .http
        .post(format!("{}/api/v1/users/import", app.base))
        .bearer_auth(&fx.admin)
        .header("content-type", "text/csv")
        .body(b"login,display_name\nab\xff\xfe,Bad\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "line 2");
    let existing = app.st.store.get_user(fx.user_x).await.unwrap().login;
    let (s, text) = app
        .send(
            &Method::POST,
            "/api/v1/users",
            Some(&fx.admin),
            Some(&Body::Json(
                json!({"login": existing.to_uppercase(), "display_name": "Dup"}),
            )),
        )
        .await;
    assert_eq!(s, 409, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["field"],
        "login"
    );
    // Path and method mistakes use the same envelope.
    let (s, text) = app
        .send(&Method::GET, "/api/v1/users/abc", Some(&fx.admin), None)
        .await;
    assert_eq!(s, 404, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["field"],
        "id"
    );
    let (s, html) = app
        .send(&Method::GET, "/admin/users/abc", Some(&fx.admin), None)
        .await;
    assert_eq!(s, 404);
    assert!(html.contains("<html"), "a page answers with a page: {html}");
    let (s, text) = app
        .send(&Method::PUT, "/api/v1/users", Some(&fx.admin), None)
        .await;
    assert_eq!(s, 405, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        "method_not_allowed"
    );
    let big = vec![b'a'; 3 * 1024 * 1024];
    let r = raw("application/json", big).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

#[tokio::test]
async fn markup_and_sql_metacharacters_round_trip_and_are_escaped_on_every_page() {
    let app = start().await;
    let fx = app.fixture().await;
    let evil = "<img src=x onerror=alert(1)> Robert'); DROP TABLE users;--";
    let (s, text) = app
        .send(
            &Method::PATCH,
            "/api/v1/me",
            Some(&fx.admin),
            Some(&Body::Json(json!({"display_name": evil}))),
        )
        .await;
    assert_eq!(s, 200, "{text}");
    let (s, text) = app
        .send(
            &Method::PATCH,
            &format!("/api/v1/users/{}", fx.user_x),
            Some(&fx.admin),
            Some(&Body::Json(json!({"display_name": evil}))),
        )
        .await;
    assert_eq!(s, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["display_name"], evil, "text comes back intact");
    // Every other free-text field that pages show carries markup too.
    let more = [
        (
            format!("/api/v1/teams/{}", fx.team_x),
            json!({"name": format!("{evil} team"), "description": evil}),
        ),
        (
            format!("/api/v1/entities/{}", fx.x),
            json!({"name": format!("{evil} entity"), "comment": evil}),
        ),
        (
            format!("/api/v1/profiles/{}", fx.profile_x),
            json!({"name": format!("{evil} profile"), "description": evil}),
        ),
        (
            format!("/api/v1/user-templates/{}", fx.template_x),
            json!({"name": format!("{evil} template")}),
        ),
    ];
    for (path, body) in more {
        let (s, text) = app
            .send(
                &Method::PATCH,
                &path,
                Some(&fx.admin),
                Some(&Body::Json(body.clone())),
            )
            .await;
        assert_eq!(s, 200, "PATCH {path}: {text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back["name"], body["name"],
            "PATCH {path}: text comes back intact"
        );
    }
    let mut pages = 0;
    for def in routes()
        .iter()
        .filter(|d| d.method == Method::GET && d.kind == Kind::Page && d.access != Access::Public)
    {
        let (path, _) = concrete(def.path, &def.method, &fx);
        let (status, html) = app.send(&Method::GET, &path, Some(&fx.admin), None).await;
        assert_eq!(status, 200, "GET {path}");
        assert!(
            !html.contains("<img src=x"),
            "GET {path} shows the display name unescaped"
        );
        assert!(
            html.contains("&#60;img src=x") || html.contains("&lt;img src=x"),
            "GET {path} does not show the display name"
        );
        assert!(!html.contains("??"), "GET {path} has an untranslated key");
        pages += 1;
    }
    assert!(pages > 20, "{pages} pages checked");
}

#[tokio::test]
async fn login_sessions_csrf_and_throttling() {
    let app = start().await;
    let fx = app.fixture().await;
    let login = app.st.store.get_user(fx.admin_id).await.unwrap().login;
    let login_once = |password: &'static str| {
        let app = &app;
        let login = login.clone();
        async move {
            let page = app
                .http
                .get(format!("{}/login", app.base))
                .send()
                .await
                .unwrap();
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
            app.http
                .post(format!("{}/login", app.base))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    serde_urlencoded::to_string([
                        ("csrf", csrf.as_str()),
                        ("login", login.as_str()),
                        ("password", password),
                    ])
                    .unwrap(),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let ok = login_once(ADMIN_PASSWORD).await;
    assert_eq!(ok.status().as_u16(), 303);
    let session = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("pupitre_session="))
        .unwrap()
        .to_owned();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let cookie = session.split(';').next().unwrap().to_owned();
    let me = app
        .http
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    // A browser write without the CSRF token is refused.
    let w = app
        .http
        .patch(format!("{}/api/v1/me", app.base))
        .header("cookie", &cookie)
        .json(&json!({"phone": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status().as_u16(), 403);
    let w = app
        .http
        .post(format!("{}/settings", app.base))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("display_name=x&language=en&time_zone=UTC")
        .send()
        .await
        .unwrap();
    assert_eq!(w.status().as_u16(), 403);
    // Log out everywhere ends the session.
    let html = app
        .http
        .get(format!("{}/settings", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let out = app
        .http
        .post(format!("{}/settings/logout-everywhere", app.base))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let me = app
        .http
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 401);
    // Five failures lock the account for the window, even with the right password.
    for _ in 0..5 {
        assert_eq!(login_once("wrong-password").await.status().as_u16(), 401);
    }
    assert_eq!(login_once(ADMIN_PASSWORD).await.status().as_u16(), 429);
    let failures = app
        .audit()
        .await
        .iter()
        .filter(|r| r.event.action == "session.login_failed")
        .count();
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn tokens_carry_a_subset_of_rights_and_expire_or_revoke() {
    let app = start().await;
    let fx = app.fixture().await;
    let (s, text) = app
        .send(
            &Method::POST,
            "/api/v1/me/tokens",
            Some(&fx.admin),
            Some(&Body::Json(
                json!({"name": "ro", "expires_in_days": 1, "levels": {"administration": "read"}}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let ro = v["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.send(&Method::GET, "/api/v1/users", Some(&ro), None)
            .await
            .0,
        200
    );
    let (s, _) = app
        .send(
            &Method::POST,
            "/api/v1/teams",
            Some(&ro),
            Some(&Body::Json(json!({"name": "no"}))),
        )
        .await;
    assert_eq!(s, 403, "a read-only token cannot write");
    let listed = app
        .send(&Method::GET, "/api/v1/me/tokens", Some(&fx.admin), None)
        .await
        .1;
    assert!(!listed.contains(&ro), "the secret is never listed");
    let (s, _) = app
        .send(
            &Method::POST,
            "/api/v1/me/tokens",
            Some(&fx.weak),
            Some(&Body::Json(
                json!({"name": "up", "expires_in_days": 1, "levels": {"administration": "manage"}}),
            )),
        )
        .await;
    assert_eq!(s, 422, "a token cannot exceed its owner's rights");
    let id = v["token"]["id"].as_i64().unwrap();
    assert_eq!(
        app.send(
            &Method::DELETE,
            &format!("/api/v1/me/tokens/{id}"),
            Some(&fx.admin),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.send(&Method::GET, "/api/v1/users", Some(&ro), None)
            .await
            .0,
        401
    );
    assert_eq!(
        app.send(&Method::GET, "/api/v1/users", Some("pup_not_a_token"), None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn users_by_template_and_bulk_csv_with_dry_run() {
    let app = start().await;
    let fx = app.fixture().await;
    let (s, text) = app.send(&Method::POST, "/api/v1/users", Some(&fx.admin), Some(&Body::Json(json!({"login": "tpl.user", "display_name": "From template", "template_id": fx.template_x})))).await;
    assert_eq!(s, 201, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["initial_password"].as_str().unwrap().len() >= 16);
    assert_eq!(v["user"]["entity_id"], fx.x);
    assert_eq!(v["user"]["language"], "fr");
    assert_eq!(v["user"]["must_change_password"], true);
    let id = v["user"]["id"].as_i64().unwrap();
    let a: Value = serde_json::from_str(
        &app.send(
            &Method::GET,
            &format!("/api/v1/users/{id}/assignments"),
            Some(&fx.admin),
            None,
        )
        .await
        .1,
    )
    .unwrap();
    assert_eq!(a[0]["profile_id"], app.profile_id("Operator").await);
    let team: Value = serde_json::from_str(
        &app.send(
            &Method::GET,
            &format!("/api/v1/teams/{}", fx.team_x),
            Some(&fx.admin),
            None,
        )
        .await
        .1,
    )
    .unwrap();
    assert!(team["member_ids"].as_array().unwrap().contains(&json!(id)));
    let csv = "login,display_name,email,profile_id,entity_id\nc1,Csv One,c1@example.com,,\nc2,Csv Two,,{p},{x}\n".replace("{p}", &fx.profile_x.to_string()).replace("{x}", &fx.x.to_string());
    let before = app.st.store.count_users().await.unwrap();
    let (s, text) = app
        .send(
            &Method::POST,
            "/api/v1/users/import?dry_run=true",
            Some(&fx.admin),
            Some(&Body::Csv(csv.clone())),
        )
        .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["created"], 2);
    assert_eq!(
        app.st.store.count_users().await.unwrap(),
        before,
        "a dry run writes nothing"
    );
    let (s, text) = app
        .send(
            &Method::POST,
            "/api/v1/users/import",
            Some(&fx.admin),
            Some(&Body::Csv(csv)),
        )
        .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(app.st.store.count_users().await.unwrap(), before + 2);
}

#[tokio::test]
async fn fifty_concurrent_clients_create_and_read_users_without_errors() {
    let app = start().await;
    let fx = app.fixture().await;
    let mut tasks = Vec::new();
    for c in 0..50 {
        let http = app.http.clone();
        let base = app.base.clone();
        let token = fx.admin.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for i in 0..4 {
                let r = http.post(format!("{base}/api/v1/users")).bearer_auth(&token).json(&json!({"login": format!("load{c}-{i}"), "display_name": format!("Load {c} {i}")})).send().await.unwrap();
                if r.status().as_u16() != 201 {
                    errors.push(format!("create: {} {}", r.status(), r.text().await.unwrap_or_default()));
                    continue;
                }
                let id = r.json::<Value>().await.unwrap()["user"]["id"].as_i64().unwrap();
                let r = http.get(format!("{base}/api/v1/users/{id}")).bearer_auth(&token).send().await.unwrap();
                if r.status().as_u16() != 200 {
                    errors.push(format!("read: {}", r.status()));
                }
                let r = http.get(format!("{base}/api/v1/users?limit=50")).bearer_auth(&token).send().await.unwrap();
                if r.status().as_u16() != 200 {
                    errors.push(format!("list: {}", r.status()));
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    let users = app.st.store.count_users().await.unwrap();
    assert!(users >= 200, "{users}");
}

#[tokio::test]
async fn health_readiness_metrics_and_headers() {
    let app = start().await;
    let fx = app.fixture().await;
    let r = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(app.send(&Method::GET, "/healthz", None, None).await.0, 200);
    app.send(&Method::GET, "/api/v1/users", Some(&fx.admin), None)
        .await;
    assert_eq!(app.send(&Method::GET, "/metrics", None, None).await.0, 401);
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth("metrics-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "pupitre_http_requests_total{method=\"GET\",route=\"/api/v1/users\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(text.contains("pupitre_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/users\",le=\"+Inf\"}"));
    assert!(text.contains("pupitre_db_connections{state=\"open\"}"));
    assert!(text.contains("pupitre_build_info{"));
    let r = app
        .http
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let _: BTreeMap<(), ()> = BTreeMap::new();
}

#[tokio::test]
async fn sub_administrators_cannot_raise_their_rights_or_take_over_accounts() {
    let app = start().await;
    let fx = app.fixture().await;
    let sys = system(app.tree().await);
    let actor = sys.actor();
    let s = &app.st.store;
    let e = s
        .create_entity(
            &actor,
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "Site E".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let e1 = s
        .create_entity(
            &actor,
            &EntityInput {
                parent_id: e,
                name: "Room E1".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let x2 = s
        .create_entity(
            &actor,
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "Site X2".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    app.st.entity_tree_changed();
    let admin_p = app.profile_id("Administrator").await;
    // `sub` administers E itself, not what is below it, and X2.
    let sub_id = app.user("sub", e, None).await;
    let direct = |entity_id| pupitre_core::model::Assignment {
        entity_id,
        profile_id: admin_p,
        recursive: false,
    };
    s.set_assignments(&actor, sub_id, &[direct(e), direct(x2)])
        .await
        .unwrap();
    let (_, sub) = app.token_for(sub_id).await;
    // `boss` is a root administrator whose home entity is E.
    let boss = app.user("boss", e, Some((admin_p, ROOT_ENTITY))).await;

    let json_req = |m: Method, path: String, body: Value| (m, path, Some(Body::Json(body)));
    let refused = [
        json_req(
            Method::PUT,
            format!("/api/v1/users/{sub_id}/assignments"),
            json!([{"entity_id": e, "profile_id": admin_p, "recursive": true}]),
        ),
        json_req(
            Method::POST,
            "/api/v1/users".into(),
            json!({"login": "helper", "display_name": "H", "entity_id": e, "assignments": [{"entity_id": e, "profile_id": admin_p, "recursive": true}]}),
        ),
        json_req(
            Method::POST,
            format!("/api/v1/users/{boss}/password"),
            json!({"password": "taken-over-passphrase"}),
        ),
        json_req(
            Method::PATCH,
            format!("/api/v1/users/{boss}"),
            json!({"email": "sub@evil.example"}),
        ),
        (Method::DELETE, format!("/api/v1/users/{boss}"), None),
        json_req(
            Method::PATCH,
            format!("/api/v1/entities/{x2}"),
            json!({"parent_id": e}),
        ),
    ];
    for (method, path, body) in &refused {
        let before = app.audit().await.len();
        let (status, text) = app.send(method, path, Some(&sub), body.as_ref()).await;
        assert!(
            matches!(status, 403 | 404 | 409),
            "{method} {path} by a sub-administrator: {status} {text}"
        );
        assert_eq!(
            app.audit().await.len(),
            before,
            "{method} {path} wrote something"
        );
    }
    // What sub may do: a non-recursive assignment on E.
    let (status, text) = app.send(&Method::POST, "/api/v1/users", Some(&sub), Some(&Body::Json(json!({"login": "helper", "display_name": "H", "entity_id": e, "assignments": [{"entity_id": e, "profile_id": admin_p}]})))).await;
    assert_eq!(status, 201, "{text}");
    // The root administrator may reset boss.
    let (status, _) = app
        .send(
            &Method::POST,
            &format!("/api/v1/users/{boss}/password"),
            Some(&fx.admin),
            Some(&Body::Json(json!({}))),
        )
        .await;
    assert_eq!(status, 200);

    // A custom profile of E can only be assigned within E, and sub cannot raise it.
    let (status, text) = app
        .send(
            &Method::POST,
            "/api/v1/profiles",
            Some(&fx.admin),
            Some(&Body::Json(
                json!({"name": "Site viewer", "entity_id": e, "levels": {"jobs": "read"}}),
            )),
        )
        .await;
    assert_eq!(status, 201, "{text}");
    let p: i64 = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, text) = app
        .send(
            &Method::PUT,
            &format!("/api/v1/users/{}/assignments", fx.user_x),
            Some(&fx.admin),
            Some(&Body::Json(
                json!([{"entity_id": ROOT_ENTITY, "profile_id": p}]),
            )),
        )
        .await;
    assert_eq!(status, 422, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["field"],
        "assignments[0].entity_id"
    );
    let all_manage: BTreeMap<&str, &str> =
        Domain::ALL.iter().map(|d| (d.key(), "manage")).collect();
    let (status, text) = app
        .send(
            &Method::PATCH,
            &format!("/api/v1/profiles/{p}"),
            Some(&sub),
            Some(&Body::Json(json!({"levels": all_manage}))),
        )
        .await;
    assert_eq!(
        status, 403,
        "a profile reaching E1, where sub has no rights: {text}"
    );
    let _ = e1;
}

#[tokio::test]
async fn teams_and_assignments_do_not_reveal_other_entities() {
    let app = start().await;
    let fx = app.fixture().await;
    let sys = system(app.tree().await);
    let s = &app.st.store;
    // A team of X also holds the `other` administrator's colleague from Y.
    let y_user = app.user("y-colleague", ROOT_ENTITY, None).await;
    let team = s.get_team(fx.team_x).await.unwrap();
    let members = [team.members.clone(), vec![y_user]].concat();
    s.update_team(
        &sys.actor(),
        fx.team_x,
        &TeamInput {
            name: team.name.clone(),
            description: String::new(),
            entity_id: fx.x,
            members,
        },
    )
    .await
    .unwrap();
    // An administrator of X only sees X's members; renaming the team keeps the others.
    let x_admin = app
        .user(
            "x-admin",
            fx.x,
            Some((app.profile_id("Administrator").await, fx.x)),
        )
        .await;
    let (_, tok) = app.token_for(x_admin).await;
    let (status, text) = app
        .send(
            &Method::GET,
            &format!("/api/v1/teams/{}", fx.team_x),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["member_ids"], json!([fx.user_x]), "{text}");
    let (status, text) = app
        .send(
            &Method::PATCH,
            &format!("/api/v1/teams/{}", fx.team_x),
            Some(&tok),
            Some(&Body::Json(json!({"name": "Renamed by X"}))),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        s.get_team(fx.team_x)
            .await
            .unwrap()
            .members
            .contains(&y_user),
        "hidden members stay"
    );
    // Filtering users by a team the caller cannot see is refused.
    let (status, _) = app
        .send(
            &Method::GET,
            &format!("/api/v1/users?team_id={}", fx.team_x),
            Some(&fx.other),
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn administrators_cannot_lock_themselves_out() {
    let app = start().await;
    let fx = app.fixture().await;
    let me = fx.admin_id;
    let cases = [
        (
            Method::PUT,
            format!("/api/v1/users/{me}/assignments"),
            Some(Body::Json(json!([]))),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{me}/password"),
            Some(Body::Json(json!({}))),
        ),
        (Method::DELETE, format!("/api/v1/users/{me}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{me}"),
            Some(Body::Json(json!({"active": false}))),
        ),
    ];
    for (method, path, body) in cases {
        let (status, text) = app
            .send(&method, &path, Some(&fx.admin), body.as_ref())
            .await;
        assert!(
            matches!(status, 409 | 422),
            "{method} {path}: {status} {text}"
        );
    }
    assert_eq!(
        app.send(&Method::GET, "/api/v1/users", Some(&fx.admin), None)
            .await
            .0,
        200,
        "still an administrator"
    );
}
