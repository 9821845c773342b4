//! `x2gobroker`: parse the command line, set up logging, run.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Our own messages at info, the libraries' (openraft, tonic, ...) at warn;
/// `RUST_LOG` replaces this.
const DEFAULT_LOG_FILTER: &str = "warn,x2gobroker=info";

fn main() -> std::process::ExitCode {
    let cli = x2gobroker::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Sockets from the service manager are taken while the process has one thread.
    let inherited = match x2gobroker::server::listen::Inherited::from_env() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("x2gobroker: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("x2gobroker: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(x2gobroker::cli::run(cli, inherited)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("x2gobroker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
