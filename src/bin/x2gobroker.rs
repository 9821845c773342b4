//! `x2gobroker`: parse the command line, set up logging, run.

use clap::Parser;

/// Our own messages at info, the libraries' (openraft, tonic, ...) at warn;
/// `RUST_LOG` replaces this.
const DEFAULT_LOG_FILTER: &str = "warn,x2gobroker=info";

fn main() -> std::process::ExitCode {
    let cli = x2gobroker::cli::Cli::parse();
    x2gobroker::logging::init(cli.log_format, DEFAULT_LOG_FILTER);
    if cli.command.is_none() {
        // SSH broker mode: one request to the local node, no runtime needed.
        return x2gobroker::sshmode::client::run(&cli.task);
    }
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
