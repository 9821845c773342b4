//! The load collector: the reference agent's `checkload` metrics computed
//! from the texts of `/proc` (pure functions), the reference broker's load
//! factor over them, and the small reader of those files.
//!
//! The semantics follow the reference agent (`x2gobroker-agent.pl
//! checkload`) number for number, so that both report the same on one
//! machine:
//! - `loadavgXX = (avg1 + avg5 + avg15) * 100 / 3 + 1`, at least 1;
//! - `memAvail = MemAvailable / 1000` (0 when the kernel has no
//!   MemAvailable);
//! - `myMemAvail`: the kernel's MemAvailable estimate recomputed from
//!   MemFree, the file page cache and reclaimable slab above the low
//!   watermark (`/proc/sys/vm/min_free_kbytes`), divided by 1000;
//! - `numCPU` and `typeCPU`: the `model name` lines with `CPU ... @ X.XXGHz`
//!   (count, GHz * 1000 of the last), or when those give no speed, the
//!   `cpu MHz` lines (count, MHz of the last rounded up);
//! - each printed as an integer (truncated), as the reference prints them.
//!
//! Missing /proc entries count as 0 as in the reference, except
//! `/proc/loadavg`, which must hold three numbers. The load factor is the
//! reference broker's: `int((memAvail / 1000) * numCPU * typeCPU * 100 /
//! loadavgXX)`, with myMemAvail when memAvail is 0; higher means less
//! loaded.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The reference agent's `checkload` numbers, plus the averages they come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadMetrics {
    /// /proc/loadavg's 1, 5 and 15 minute averages.
    pub loadavg: [f64; 3],
    pub loadavg_xx: u64,
    pub mem_avail: u64,
    pub my_mem_avail: u64,
    pub num_cpu: u32,
    /// typeCPU: MHz.
    pub cpu_mhz: u64,
}

/// The /proc files the metrics come from.
#[derive(Debug, Clone, Copy)]
pub struct ProcTexts<'a> {
    pub loadavg: &'a str,
    pub meminfo: &'a str,
    pub min_free_kbytes: &'a str,
    pub cpuinfo: &'a str,
}

/// Reading the metrics failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("/proc/loadavg holds no three load averages: {0:?}")]
    LoadAverage(String),
}

/// The metrics of these /proc texts.
pub fn metrics(proc: ProcTexts<'_>) -> Result<LoadMetrics, LoadError> {
    let loadavg = load_averages(proc.loadavg)?;
    let (num_cpu, cpu_mhz) = cpus(proc.cpuinfo);
    Ok(LoadMetrics {
        loadavg,
        loadavg_xx: loadavg_xx(loadavg),
        mem_avail: truncate(meminfo_kb(proc.meminfo, "MemAvailable") / 1000.0),
        my_mem_avail: truncate(my_mem_avail(proc.meminfo, proc.min_free_kbytes) / 1000.0),
        num_cpu,
        cpu_mhz: truncate(cpu_mhz),
    })
}

/// The reference agent's loadavgXX of the 1, 5 and 15 minute averages:
/// `(avg1 + avg5 + avg15) * 100 / 3 + 1`, at least 1, truncated.
pub fn loadavg_xx(loadavg: [f64; 3]) -> u64 {
    truncate(((loadavg[0] + loadavg[1] + loadavg[2]) * 100.0 / 3.0 + 1.0).max(1.0))
}

/// The reference broker's load factor (higher = less loaded).
pub fn load_factor(m: &LoadMetrics) -> u64 {
    let mem = if m.mem_avail == 0 {
        m.my_mem_avail
    } else {
        m.mem_avail
    };
    let factor = (mem as f64 / 1000.0) * f64::from(m.num_cpu) * m.cpu_mhz as f64 * 100.0
        / m.loadavg_xx as f64;
    truncate(factor)
}

/// The metrics of this machine now (the files under `/proc`).
pub fn read() -> Result<LoadMetrics, LoadError> {
    read_from(Path::new("/proc"))
}

/// The metrics from a /proc tree at `root`.
pub fn read_from(root: &Path) -> Result<LoadMetrics, LoadError> {
    let read = |rel: &str| {
        let path = root.join(rel);
        std::fs::read_to_string(&path).map_err(|source| LoadError::Read { path, source })
    };
    let (loadavg, meminfo) = (read("loadavg")?, read("meminfo")?);
    let (min_free_kbytes, cpuinfo) = (read("sys/vm/min_free_kbytes")?, read("cpuinfo")?);
    metrics(ProcTexts {
        loadavg: &loadavg,
        meminfo: &meminfo,
        min_free_kbytes: &min_free_kbytes,
        cpuinfo: &cpuinfo,
    })
}

fn load_averages(text: &str) -> Result<[f64; 3], LoadError> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>());
    let mut out = [0.0; 3];
    for slot in &mut out {
        match fields.next() {
            Some(Ok(v)) if v.is_finite() && v >= 0.0 => *slot = v,
            _ => return Err(LoadError::LoadAverage(text.trim().to_string())),
        }
    }
    Ok(out)
}

/// A /proc/meminfo value in kB (0 when absent, as in the reference).
fn meminfo_kb(meminfo: &str, key: &str) -> f64 {
    meminfo
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next().map(numify)
        })
        .unwrap_or(0.0)
}

/// The reference's recomputation of MemAvailable (kB), never below 0.
fn my_mem_avail(meminfo: &str, min_free_kbytes: &str) -> f64 {
    let low = numify(min_free_kbytes.trim());
    let kb = |key| meminfo_kb(meminfo, key);
    let pagecache = kb("Active(file)") + kb("Inactive(file)");
    let slab = kb("SReclaimable");
    let avail = kb("MemFree") - low
        + (pagecache - (pagecache / 2.0).min(low))
        + (slab - (slab / 2.0).min(low));
    avail.max(0.0)
}

/// (numCPU, typeCPU in MHz) from /proc/cpuinfo.
fn cpus(cpuinfo: &str) -> (u32, f64) {
    let mut count = 0;
    let mut mhz = 0.0;
    for ghz in cpuinfo.lines().filter_map(model_name_ghz) {
        mhz = ghz * 1000.0;
        count += 1;
    }
    if mhz == 0.0 {
        for value in cpuinfo.lines().filter_map(cpu_mhz_line) {
            mhz = value.ceil();
            count += 1;
        }
    }
    (count, mhz)
}

/// The speed in a `model name ... CPU ... @ 2.40GHz` line: the reference
/// matches `model name.*CPU.*@\ ([\d\.]+)`, whose greedy match takes the
/// last `@ ` followed by a digit or dot after a `CPU` after `model name`.
fn model_name_ghz(line: &str) -> Option<f64> {
    let after_name = line.find("model name")? + "model name".len();
    let after_cpu = after_name + line[after_name..].find("CPU")? + "CPU".len();
    let rest = &line[after_cpu..];
    rest.rmatch_indices("@ ").find_map(|(i, _)| {
        let number = &rest[i + 2..];
        let end = number
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(number.len());
        (end > 0).then(|| numify(&number[..end]))
    })
}

/// The value of a `cpu MHz<ws>:<ws>VALUE` line (`^cpu\ MHz\s+:\s+(\S+)`).
fn cpu_mhz_line(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("cpu MHz")?;
    let trimmed = rest.trim_start();
    if trimmed.len() == rest.len() {
        return None;
    }
    let value = trimmed.strip_prefix(':')?;
    let value_trimmed = value.trim_start();
    if value_trimmed.len() == value.len() {
        return None;
    }
    value_trimmed.split_whitespace().next().map(numify)
}

/// A string as Perl reads it as a number: its longest leading decimal
/// number, 0 when there is none.
fn numify(s: &str) -> f64 {
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_from = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    let number = &s[..end];
    if number.len() == digits_from || number[digits_from..] == *"." {
        return 0.0;
    }
    number.parse().unwrap_or(0.0)
}

/// An integer as Perl's `%d` and Python's `int()` make it (toward zero;
/// the metrics are never negative).
fn truncate(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.trunc() as u64
    } else {
        0
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
