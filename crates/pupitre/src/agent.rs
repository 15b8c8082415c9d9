//! `pupitre agent`: the agent that runs on each host (see `pupitre_agent`). It runs on one
//! thread, stops on SIGTERM or Ctrl-C, and keeps what it could not send in its state
//! directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The server's base URL, e.g. https://pupitre.example.org.
    #[arg(long, env = "PUPITRE_AGENT_SERVER")]
    server: String,
    /// A one-time enrolment token (only needed until the agent is enrolled). Without one, the
    /// agent waits for an administrator's approval.
    #[arg(long, env = "PUPITRE_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the enrolment token from this file.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Where the agent keeps its credential, configuration and buffer.
    #[arg(
        long,
        env = "PUPITRE_AGENT_STATE_DIR",
        default_value = "/var/lib/pupitre-agent"
    )]
    state_dir: PathBuf,
    /// Trust only this CA (PEM) for the server's certificate [default: the system's CAs].
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// An HTTP proxy for every request [default: HTTPS_PROXY / HTTP_PROXY].
    #[arg(long)]
    proxy: Option<String>,
    /// The host name to report [default: the host's].
    #[arg(long)]
    hostname: Option<String>,
    /// The machine id to report [default: /etc/machine-id].
    #[arg(long)]
    machine_id: Option<String>,
    /// The plugins the server may run here, as NRPE's `command[name]=/path args` lines.
    #[arg(long, default_value = "/etc/pupitre/agent-plugins.cfg")]
    plugins: PathBuf,
    /// The longest a poll waits on the server, in seconds.
    #[arg(long, default_value_t = 25, hide = true)]
    poll_wait: u64,
    /// Log filter, e.g. `info` or `pupitre_agent=debug`.
    #[arg(long, default_value = "info")]
    log: String,
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::init_logging(&args.log);
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--token-file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => args.token.clone(),
    };
    let mut options = pupitre_agent::run::Options::new(&args.server, &args.state_dir);
    options.token = token;
    options.ca_file = args.ca_file;
    options.proxy = args.proxy;
    options.hostname = args.hostname;
    options.machine_id = args.machine_id;
    options.poll_wait_s = args.poll_wait;
    options.plugins = args.plugins;
    // This very binary, even once replaced on disk by an upgrade.
    options.inventory_helper = Some(PathBuf::from("/proc/self/exe"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(pupitre_agent::run::run(options, shutdown()))
        .map_err(anyhow::Error::msg)
}

async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
