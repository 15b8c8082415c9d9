//! The server's commands (`serve`, `migrate`, `admin`, `inventory`, `checks`, `metrics`), built
//! with the `server` feature (on by default); an agent-only build leaves them out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pupitre_store::{Page, Store, UserFilter};
use pupitre_web::auth::Caller;
use pupitre_web::ops;

use crate::config::{self, RawConfig};
use crate::{checks, inventory, metrics, serve, vault};

#[derive(Subcommand, Debug)]
pub(crate) enum ServerCommand {
    /// Run the web UI, the REST API and the engines.
    Serve(Common),
    /// Apply pending database migrations and exit.
    Migrate(Common),
    /// Administer accounts and tokens directly in the database.
    Admin {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Export, import and look up assets directly in the database, as the local
    /// administrator.
    Inventory {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: inventory::InventoryCommand,
    },
    /// List checks and problems, run a check once, acknowledge problems, directly in the
    /// database, as the local administrator.
    Checks {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: checks::ChecksCommand,
    },
    /// Load samples into the metric history, print its sizes.
    Metrics {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: metrics::MetricsCommand,
    },
}

/// Options shared by every command that opens the database. Each overrides the same key
/// from the configuration file and the environment.
#[derive(Args, Debug, Default)]
pub(crate) struct Common {
    /// Configuration file (TOML). Also `PUPITRE_CONFIG`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Directory for the embedded database and local state [default: ./pupitre-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, global = true)]
    listen: Option<String>,
    /// `postgres://user@host/db` to use PostgreSQL instead of the embedded SQLite.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Directory served read-only under /public/.
    #[arg(long, global = true)]
    public_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `pupitre=debug` [default: info].
    #[arg(long, global = true)]
    log: Option<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AdminCommand {
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum UsersCommand {
    /// Create an account; prints its initial password unless --password-stdin is given.
    Create {
        /// Login of the new account (letters, digits, . _ - @ ' +).
        #[arg(long)]
        login: String,
        /// Name shown in the interface.
        #[arg(long)]
        display_name: String,
        /// E-mail address for notifications.
        #[arg(long, default_value = "")]
        email: String,
        /// Profile name, e.g. "Operator" [default: none].
        #[arg(long)]
        profile: Option<String>,
        /// Entity id for the profile and the account [default: 1, the root].
        #[arg(long, default_value_t = 1)]
        entity: i64,
        /// The profile also applies to the entity's children.
        #[arg(long)]
        recursive: bool,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (random unless --password-stdin) and end the account's sessions.
    ResetPassword {
        /// Login of the account.
        #[arg(long)]
        login: String,
        /// Read the new password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
}

#[derive(Subcommand, Debug)]
pub(crate) enum TokensCommand {
    /// Create an API token for an account; prints the secret once.
    Create {
        /// Login of the account the token acts for (with at most its rights).
        #[arg(long)]
        login: String,
        /// A name to tell the token apart, e.g. "backup-script".
        #[arg(long)]
        name: String,
        /// Days until the token expires (1–366).
        #[arg(long, default_value_t = 90)]
        expires_days: i64,
    },
}

fn resolve(common: &Common) -> anyhow::Result<config::Config> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let file = common
        .config
        .clone()
        .or_else(|| env.get("PUPITRE_CONFIG").map(PathBuf::from));
    let flags = RawConfig {
        data_dir: common.data_dir.clone(),
        listen: common.listen.clone(),
        database_url: common.database_url.clone(),
        public_dir: common.public_dir.clone(),
        log: common.log.clone(),
        ..RawConfig::default()
    };
    config::load(file.as_deref(), env, flags)?.resolve()
}

/// Opens the database, creating the SQLite directory, and applies migrations.
pub(crate) async fn open_store(cfg: &config::Config) -> anyhow::Result<Arc<dyn Store>> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                cfg.data_dir.display()
            )
        })?;
    }
    let store = pupitre_store::open(&cfg.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                config::redact_url(&cfg.database_url)
            )
        })?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    store
        .sync_builtin_profiles(pupitre_web::state::now_ms())
        .await?;
    Ok(store)
}

/// Runs one of the server's commands.
pub(crate) async fn run(command: ServerCommand) -> anyhow::Result<std::process::ExitCode> {
    let done = match command {
        ServerCommand::Serve(common) => {
            let cfg = resolve(&common)?;
            crate::init_logging(&cfg.log);
            serve::serve(cfg).await
        }
        ServerCommand::Migrate(common) => {
            let cfg = resolve(&common)?;
            crate::init_logging(&cfg.log);
            let store = pupitre_store::open(&cfg.database_url).await?;
            let n = store.migrate().await?;
            store
                .sync_builtin_profiles(pupitre_web::state::now_ms())
                .await?;
            println!("{n} migration(s) applied; schema is current");
            store.close().await;
            Ok(())
        }
        ServerCommand::Admin { common, command } => {
            let cfg = resolve(&common)?;
            crate::init_logging("warn");
            let store = open_store(&cfg).await?;
            let result = admin(&cfg, store.clone(), command).await;
            store.close().await;
            result
        }
        ServerCommand::Inventory { common, command } => {
            let cfg = resolve(&common)?;
            crate::init_logging("warn");
            let store = open_store(&cfg).await?;
            let st = pupitre_web::AppState::new(store.clone(), cfg.web());
            let result = match local_caller(store.as_ref()).await {
                Ok(system) => inventory::run(&st, &system, command).await,
                Err(e) => Err(e),
            };
            store.close().await;
            result
        }
        ServerCommand::Checks { common, command } => {
            return Ok(checks_command(&common, command).await);
        }
        ServerCommand::Metrics { common, command } => {
            let cfg = resolve(&common)?;
            crate::init_logging("warn");
            let store = open_store(&cfg).await?;
            let result = metrics::run(&cfg, store.clone(), command).await;
            store.close().await;
            result
        }
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

/// `pupitre checks …`, which prints its own errors: its exit code is the plugin's for `run`.
async fn checks_command(common: &Common, command: checks::ChecksCommand) -> std::process::ExitCode {
    let failure = command.failure_code();
    let result = async {
        let cfg = resolve(common)?;
        crate::init_logging("warn");
        let store = open_store(&cfg).await?;
        let mut st = pupitre_web::AppState::new(store.clone(), cfg.web());
        if let Some(vault) = vault::open(&cfg, false)? {
            st = st.with_vault(vault);
        }
        let result = match local_caller(store.as_ref()).await {
            Ok(system) => checks::run(&st, &system, command).await,
            Err(e) => Err(e),
        };
        store.close().await;
        result
    }
    .await;
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        failure
    })
}

/// The local administrator: every right on every entity, audited as `system` from `local`.
async fn local_caller(store: &dyn Store) -> anyhow::Result<Caller> {
    let tree = store
        .list_entities()
        .await?
        .iter()
        .map(|e| (e.id, e.parent_id))
        .collect();
    Ok(Caller::system(tree))
}

fn read_stdin_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_owned())
}

async fn admin(
    cfg: &config::Config,
    store: Arc<dyn Store>,
    command: AdminCommand,
) -> anyhow::Result<()> {
    let st = pupitre_web::AppState::new(store.clone(), cfg.web());
    let system = local_caller(store.as_ref()).await?;
    let err = |e: pupitre_web::error::AppError| anyhow::anyhow!("{e}");
    match command {
        AdminCommand::Users(UsersCommand::Create {
            login,
            display_name,
            email,
            profile,
            entity,
            recursive,
            password_stdin,
        }) => {
            let mut assignments = Vec::new();
            if let Some(name) = profile {
                let p = store
                    .list_profiles()
                    .await?
                    .into_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(&name));
                let Some(p) = p else {
                    bail!("--profile: no profile named `{name}`")
                };
                assignments.push(ops::users::AssignmentInput {
                    entity_id: entity,
                    profile_id: p.id,
                    recursive,
                });
            }
            let password = if password_stdin {
                Some(read_stdin_password()?)
            } else {
                None
            };
            let req = ops::users::CreateUser {
                login,
                display_name,
                email,
                entity_id: Some(entity),
                password,
                assignments,
                ..Default::default()
            };
            let (user, generated) = ops::users::create(&st, &system, req).await.map_err(err)?;
            println!("created user {} (id {})", user.login, user.id);
            if let Some(p) = generated {
                println!("initial password (change at first login): {p}");
            }
        }
        AdminCommand::Users(UsersCommand::ResetPassword {
            login,
            password_stdin,
        }) => {
            let Some(c) = store.find_credentials(&login).await? else {
                bail!("--login: no user `{login}`")
            };
            let password = if password_stdin {
                Some(read_stdin_password()?)
            } else {
                None
            };
            let generated = ops::users::reset_password(&st, &system, c.user.id, password)
                .await
                .map_err(err)?;
            println!(
                "password of {} reset; it must be changed at next login",
                c.user.login
            );
            if let Some(p) = generated {
                println!("new password: {p}");
            }
        }
        AdminCommand::Users(UsersCommand::List) => {
            let filter = UserFilter {
                visible: system.visible(pupitre_core::permission::Domain::Administration),
                ..Default::default()
            };
            let mut after = None;
            println!(
                "{:>6}  {:<24} {:<32} {:<7} entity",
                "id", "login", "display name", "active"
            );
            loop {
                let page = store
                    .list_users(&filter, Page { after, limit: 500 })
                    .await?;
                for u in &page {
                    println!(
                        "{:>6}  {:<24} {:<32} {:<7} {}",
                        u.id, u.login, u.display_name, u.active, u.entity_id
                    );
                }
                match page.last() {
                    Some(u) if page.len() == 500 => after = Some(u.id),
                    _ => break,
                }
            }
        }
        AdminCommand::Tokens(TokensCommand::Create {
            login,
            name,
            expires_days,
        }) => {
            let Some(c) = store.find_credentials(&login).await? else {
                bail!("--login: no user `{login}`")
            };
            if c.user.must_change_password {
                eprintln!(
                    "warning: {} must change their password (log in to the web UI once) before this token is accepted",
                    c.user.login
                );
            }
            let caller = pupitre_web::auth::resolve_user(&st, c.user, "local".to_owned())
                .await
                .map_err(err)?;
            let req = ops::me::CreateToken {
                name,
                expires_in_days: expires_days,
                levels: None,
            };
            let (token, secret) = ops::me::create_token(&st, &caller, req)
                .await
                .map_err(err)?;
            eprintln!(
                "token {} ({}) expires {}; it is shown only now:",
                token.name,
                token.prefix,
                pupitre_web::api::views::rfc3339(token.expires_at)
            );
            println!("{secret}");
        }
    }
    Ok(())
}
