//! `x2gobroker-agent`: parse the command line, set up logging, run, print
//! the answer.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = x2gobroker::agent::cli::AgentCli::parse();
    x2gobroker::logging::init(cli.log_format, "warn");
    match cli.run().await {
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
