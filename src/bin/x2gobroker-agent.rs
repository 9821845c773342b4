//! `x2gobroker-agent`: parse the command line, set up logging, run, print
//! the answer. One thread serves an agent; `simulate` (thousands of
//! connections) gets a thread per core.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = x2gobroker::agent::cli::AgentCli::parse();
    x2gobroker::logging::init(cli.log_format, "warn");
    let runtime = if cli.wants_threads() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("x2gobroker-agent: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(answer) => {
            println!("{}", answer.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("x2gobroker-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
