//! `x2gobrokerctl`: parse the command line, run it, print the answer.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let ctl = x2gobroker::ctl::Ctl::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("x2gobrokerctl: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(ctl.run()) {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("x2gobrokerctl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
