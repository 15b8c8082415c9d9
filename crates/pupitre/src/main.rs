//! The `pupitre` binary: one program whose roles are subcommands. The server's commands need the
//! `server` feature (on by default); `cargo build -p pupitre --no-default-features` builds the
//! agent alone, without the web stack and the database drivers.

mod agent;
#[cfg(feature = "server")]
mod checks;
#[cfg(feature = "server")]
mod config;
#[cfg(feature = "server")]
mod inventory;
#[cfg(feature = "server")]
mod metrics;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod server_cli;
#[cfg(feature = "server")]
mod vault;

#[cfg(feature = "server")]
use server_cli::open_store;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "pupitre",
    version,
    about = "Pupitre, the IT operations console",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[cfg(feature = "server")]
    #[command(flatten)]
    Server(Box<server_cli::ServerCommand>),
    /// Run the agent on this host: host metrics, log patterns, inventory, and the server's
    /// commands.
    Agent(Box<agent::AgentArgs>),
    /// Print the version.
    Version,
}

fn main() -> std::process::ExitCode {
    // The agent runs its own binary to take the inventory (see `agent::run`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(pupitre_agent::inventory::HELPER_ARG) {
        return match pupitre_agent::inventory::helper_main(&args[1..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("pupitre {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        // The agent runs on its own single thread, without the server's runtime.
        Command::Agent(args) => match agent::run(*args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        #[cfg(feature = "server")]
        Command::Server(command) => server_main(*command),
    }
}

#[cfg(feature = "server")]
fn server_main(command: server_cli::ServerCommand) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server_cli::run(command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
