//! Test helpers: a sample session line and load, and stand-ins for
//! x2goserver's tools (small shell scripts).

use super::load::LoadMetrics;

use std::path::{Path, PathBuf};

/// A created, suspended session of alice on x2go1, as x2golistsessions_root prints it.
pub const SESSION_LINE: &str = "4242|alice-50-1795995008_stDXFCE_dp24|50|x2go1|S|2026-11-29T23:30:08|cookie123|127.0.0.1|30001|30002|2026-11-29T23:30:08|alice|0|30003|-1|-1";

/// What the reference agent's checkload printed on the development machine
/// (load factor 52873).
pub const LOAD: LoadMetrics = LoadMetrics {
    loadavg: [1.39, 2.68, 3.0],
    loadavg_xx: 236,
    mem_avail: 24024,
    my_mem_avail: 24223,
    num_cpu: 2,
    cpu_mhz: 2597,
};

/// Install an executable shell script `name` with `body` in `dir`. The
/// script is written to a plain file first and installed by `install(1)`,
/// so this process never holds the executable open for writing (another
/// test thread forking then would make running it fail with ETXTBSY).
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let source = dir.join(format!("{name}.source"));
    std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).unwrap();
    let path = dir.join(name);
    let status = std::process::Command::new("install")
        .arg("-m755")
        .arg(&source)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "install {}", path.display());
    path
}
