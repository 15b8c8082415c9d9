//! `pupitre serve`: first-start bootstrap, the HTTP server, background workers and graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use pupitre_core::builtin::ADMINISTRATOR;
use pupitre_core::model::ROOT_ENTITY;
use pupitre_store::Store;
use pupitre_web::auth::Caller;
use pupitre_web::ops;
use pupitre_web::state::now_ms;
use tokio::sync::watch;

use crate::config::Config;

/// Says at start-up, not at the first check, when stored credentials do not open with this
/// server's key (another server's key, a lost key file).
async fn check_credentials_open(store: &dyn Store, vault: &pupitre_store::vault::Vault) {
    let Ok(all) = store.all_credentials().await else {
        return;
    };
    let failed: Vec<String> = all
        .iter()
        .filter_map(|c| {
            pupitre_store::credentials::open_secrets(vault, c)
                .err()
                .map(|e| format!("{}: {e}", c.credential.name))
        })
        .collect();
    if !failed.is_empty() {
        tracing::error!(
            key_id = vault.key_id(),
            "{} stored credential(s) do not open with this server's credentials key, so the \
             checks that use them are UNKNOWN: {}",
            failed.len(),
            failed.join("; ")
        );
    }
}

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let store = crate::open_store(&cfg).await?;
    tracing::info!(backend = store.backend(), database = %crate::config::redact_url(&cfg.database_url), "database ready");
    bootstrap_admin(&cfg, store.clone()).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let vault = crate::vault::open(&cfg, true)?;
    if let Some(vault) = &vault {
        check_credentials_open(store.as_ref(), vault).await;
    }
    let mut state = pupitre_web::AppState::new(store.clone(), cfg.web());
    if let Some(vault) = &vault {
        state = state.with_vault(vault.clone());
    }
    let remote = match &cfg.history_remote_write {
        Some(remote) => Some(
            pupitre_monitor::remote_write::RemoteWriter::new(remote.clone())
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        None => None,
    };
    let history = pupitre_monitor::history::History::with_remote(
        store.clone(),
        pupitre_monitor::history::HistoryConfig {
            series_per_source: cfg.history_series_per_source,
            retention: cfg.history_retention,
            ..pupitre_monitor::history::HistoryConfig::default()
        },
        remote.clone(),
    );
    if let Some(remote) = remote {
        let mut remote_stop = stop_rx.clone();
        tokio::spawn(remote.run(store.clone(), async move {
            let _ = remote_stop.wait_for(|stop| *stop).await;
        }));
    }
    state = state.with_history(history.clone());
    let mut upkeep_stop = stop_rx.clone();
    let upkeep = tokio::spawn(history.clone().maintain(async move {
        let _ = upkeep_stop.wait_for(|stop| *stop).await;
    }));
    let (recorder, recording) = pupitre_monitor::history::recorder(history.clone());
    if cfg.monitoring_engine {
        let mut engine_stop = stop_rx.clone();
        let engine = pupitre_monitor::start(
            store.clone(),
            pupitre_monitor::EngineConfig {
                max_concurrent: cfg.monitoring_max_concurrent,
                vault,
                agent_waker: state.agents.waker.clone(),
                ..pupitre_monitor::EngineConfig::default()
            },
            Arc::new(recorder),
            async move {
                let _ = engine_stop.wait_for(|stop| *stop).await;
            },
        )
        .context("cannot start the supervision engine")?;
        state = state.with_engine(engine);
    } else {
        // Nothing records check results: the recording task ends at once.
        drop(recorder);
    }
    let engine = state.engine.clone();
    let mut correlator_stop = stop_rx.clone();
    let correlator = tokio::spawn(ops::incidents::correlator(state.clone(), async move {
        let _ = correlator_stop.wait_for(|stop| *stop).await;
    }));
    let mut pager_stop = stop_rx.clone();
    let pager = tokio::spawn(ops::paging::pager(state.clone(), async move {
        let _ = pager_stop.wait_for(|stop| *stop).await;
    }));
    let app = pupitre_web::router(state);
    // Signal handlers are in place before anyone can learn the address and send one.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // Responses leave in more than one write; without TCP_NODELAY, Nagle's algorithm holds
    // the last one until the client's delayed ACK (about 40 ms on a kept-alive connection).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("pupitre listening on http://{addr}");
    tracing::info!(%addr, "listening");

    let purge = tokio::spawn(housekeeping_worker(store.clone(), stop_rx.clone()));
    let mut server_stop = stop_rx.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = server_stop.wait_for(|stop| *stop).await;
    });
    let signals = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    server.await.context("HTTP server failed")?;
    signals.abort();
    let _ = tokio::time::timeout(Duration::from_secs(10), purge).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), correlator).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), pager).await;
    if let Some(engine) = engine
        && tokio::time::timeout(Duration::from_secs(10), engine.stopped())
            .await
            .is_err()
    {
        tracing::warn!(
            "the supervision engine did not stop within 10 s; its last results may be lost"
        );
    }
    // The engine held the recorder: its queue is closed now, and its last results are written.
    if tokio::time::timeout(Duration::from_secs(10), recording)
        .await
        .is_err()
    {
        tracing::warn!("the metric history did not write its last samples within 10 s");
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), upkeep).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// On the very first start (no account at all), creates `admin` with the Administrator
/// profile on the whole entity tree. Its password comes from `admin_password` or is random
/// and printed once, in which case it must be changed at first login.
async fn bootstrap_admin(cfg: &Config, store: Arc<dyn Store>) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let profile = store
        .list_profiles()
        .await?
        .into_iter()
        .find(|p| p.builtin && p.name == ADMINISTRATOR)
        .context("the Administrator profile is missing")?;
    let st = pupitre_web::AppState::new(store.clone(), cfg.web());
    let tree = store
        .list_entities()
        .await?
        .iter()
        .map(|e| (e.id, e.parent_id))
        .collect();
    let system = Caller::system(tree);
    let given = cfg.admin_password.clone();
    let req = ops::users::CreateUser {
        login: "admin".to_owned(),
        display_name: "Administrator".to_owned(),
        password: given.clone(),
        entity_id: Some(ROOT_ENTITY),
        assignments: vec![ops::users::AssignmentInput {
            entity_id: ROOT_ENTITY,
            profile_id: profile.id,
            recursive: true,
        }],
        ..Default::default()
    };
    let (mut new, generated) = ops::users::prepare(
        &st,
        &system,
        req,
        "",
        ops::users::MissingPassword::Generate,
        ops::users::Hashing::Hash,
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the first administrator: {e}"))?;
    // A password chosen by whoever deployed Pupitre need not be changed; a printed one must.
    new.must_change_password = given.is_none();
    store.create_users(&system.actor(), &[new]).await?;
    match generated {
        Some(p) => println!(
            "created the first administrator: login `admin`, password `{p}` (shown once; change it at first login)"
        ),
        None => println!(
            "created the first administrator `admin` with the password from PUPITRE_ADMIN_PASSWORD / admin_password"
        ),
    }
    Ok(())
}

/// Every hour until told to stop: purges expired sessions, refreshes the database's planner
/// statistics, and applies the check templates to every asset again (a change an earlier
/// application missed, such as one made while the database refused writes).
async fn housekeeping_worker(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    loop {
        let system = Caller::system(Vec::new()).actor();
        match store.apply_templates(&system, None).await {
            Ok(r) if r.created + r.updated + r.deleted > 0 => tracing::info!(
                worker = "check_templates",
                created = r.created,
                updated = r.updated,
                deleted = r.deleted,
                "applied check templates"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(worker = "check_templates", error = %e, "applying check templates failed")
            }
        }
        if let Err(e) = store.optimize().await {
            tracing::warn!(worker = "optimize", error = %e, "refreshing planner statistics failed");
        }
        match store.purge_expired_sessions(now_ms()).await {
            Ok(n) if n > 0 => tracing::info!(
                worker = "session_purge",
                sessions = n,
                "purged expired sessions"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(worker = "session_purge", error = %e, "purge failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
}
