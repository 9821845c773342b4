//! Manual pages and shell completions generated from the command-line
//! definitions themselves (`clap_mangen`, `clap_complete`), so they cannot
//! drift from the flags: `x2gobroker(8)`, `x2gobrokerctl(8)` and
//! `x2gobroker-agent(8)`, and completions for bash, zsh and fish.
//! `x2gobroker docs --out DIR` writes them; the packages install them.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Writing a page or a completion file failed.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}", path.display())]
pub struct DocsError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Every binary's name and command definition.
fn commands() -> [(&'static str, clap::Command); 3] {
    [
        ("x2gobroker", crate::cli::Cli::command()),
        ("x2gobrokerctl", crate::ctl::Ctl::command()),
        ("x2gobroker-agent", crate::agent::cli::AgentCli::command()),
    ]
}

/// Write `DIR/man8/NAME.8` for each binary and `DIR/completions/{bash,zsh,fish}/...`.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let mut written = Vec::new();
    for (name, cmd) in commands() {
        let cmd = cmd.name(name);
        let page = dir.join("man8").join(format!("{name}.8"));
        let mut text = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("8")
            .render(&mut text)
            .map_err(|source| DocsError {
                path: page.clone(),
                source,
            })?;
        write(&page, &text)?;
        written.push(page);
        for (shell, file) in [
            (Shell::Bash, format!("bash/{name}")),
            (Shell::Zsh, format!("zsh/_{name}")),
            (Shell::Fish, format!("fish/{name}.fish")),
        ] {
            let path = dir.join("completions").join(file);
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name, &mut text);
            write(&path, &text)?;
            written.push(path);
        }
    }
    Ok(written)
}

fn write(path: &Path, text: &[u8]) -> Result<(), DocsError> {
    let fail = |source| DocsError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_every_subcommand_and_completions_every_flag() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path()).unwrap();
        assert_eq!(written.len(), 12);
        let page = std::fs::read_to_string(dir.path().join("man8/x2gobroker.8")).unwrap();
        assert!(page.contains(".TH x2gobroker 8"), "{}", &page[..80]);
        for sub in ["serve", "check\\-config", "keygen"] {
            assert!(page.contains(sub), "{sub}");
        }
        let ctl = std::fs::read_to_string(dir.path().join("man8/x2gobrokerctl.8")).unwrap();
        assert!(ctl.contains("drain"));
        let bash =
            std::fs::read_to_string(dir.path().join("completions/bash/x2gobroker-agent")).unwrap();
        assert!(bash.contains("--transport"));
    }
}
