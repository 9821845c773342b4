//! A simulated X2Go server's machine and how loaded it is: each server gets
//! its own cores, clock, memory and idle load, and its load averages drift
//! around what its running and suspended sessions cost. The numbers are the
//! agent's `LoadMetrics`, so the load factor is computed by the same
//! `load::load_factor` as on a real server (through `wire::load_report`).

use super::rng::Rng;
use crate::agent::load::{self, LoadMetrics};

/// Load average added by one running session, and by a suspended one.
const LOAD_PER_RUNNING: f64 = 0.3;
const LOAD_PER_SUSPENDED: f64 = 0.02;
/// MB of memory taken by the system, a running and a suspended session.
const MEM_SYSTEM_MB: f64 = 1200.0;
const MEM_PER_RUNNING_MB: f64 = 600.0;
const MEM_PER_SUSPENDED_MB: f64 = 300.0;

/// One server's machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hardware {
    pub num_cpu: u32,
    /// typeCPU: MHz of one core.
    pub cpu_mhz: u64,
    /// Memory in MB (MemTotal / 1000).
    pub mem_mb: u64,
    /// Load average per core with no sessions (services, cron, ...).
    pub idle_load_per_cpu: f64,
}

impl Hardware {
    /// A plausible machine: 4 to 64 cores at 2.0-3.5 GHz, 2-8 GB per core.
    pub fn random(rng: &mut Rng) -> Hardware {
        let num_cpu = rng.pick(&[4u32, 8, 8, 16, 16, 32, 64]);
        Hardware {
            num_cpu,
            cpu_mhz: 2000 + rng.below(16) * 100,
            mem_mb: u64::from(num_cpu) * rng.pick(&[2000u64, 4000, 8000]),
            idle_load_per_cpu: 0.02 + rng.unit() * 0.2,
        }
    }
}

/// The machine and its drifting load averages.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub hardware: Hardware,
    /// 1, 5 and 15 minute averages.
    averages: [f64; 3],
    /// Multiplies the expected load: a slow random walk in 0.6..=1.4.
    wobble: f64,
}

impl Machine {
    pub fn new(hardware: Hardware) -> Machine {
        Machine {
            hardware,
            averages: [0.0; 3],
            wobble: 1.0,
        }
    }

    /// The load now, with `running` and `suspended` sessions: the 1 minute
    /// average jumps toward what they cost, the 5 and 15 minute ones follow.
    pub fn measure(&mut self, rng: &mut Rng, running: usize, suspended: usize) -> LoadMetrics {
        let hw = self.hardware;
        self.wobble = (self.wobble + (rng.unit() - 0.5) * 0.2).clamp(0.6, 1.4);
        let expected = (hw.idle_load_per_cpu * f64::from(hw.num_cpu)
            + LOAD_PER_RUNNING * running as f64
            + LOAD_PER_SUSPENDED * suspended as f64)
            * self.wobble;
        let first = self.averages == [0.0; 3];
        let [a1, a5, a15] = &mut self.averages;
        if first {
            (*a1, *a5, *a15) = (expected, expected, expected);
        }
        *a1 += (expected - *a1) * 0.6;
        *a5 += (*a1 - *a5) * 0.2;
        *a15 += (*a1 - *a15) * 0.07;
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let loadavg = self.averages.map(round);
        let used = (MEM_SYSTEM_MB
            + MEM_PER_RUNNING_MB * running as f64
            + MEM_PER_SUSPENDED_MB * suspended as f64)
            * (0.95 + rng.unit() * 0.1);
        let mem_avail = (hw.mem_mb as f64 - used).max(64.0) as u64;
        LoadMetrics {
            loadavg,
            loadavg_xx: load::loadavg_xx(loadavg),
            mem_avail,
            my_mem_avail: mem_avail + mem_avail / 50,
            num_cpu: hw.num_cpu,
            cpu_mhz: hw.cpu_mhz,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_differ_and_stay_plausible() {
        let mut rng = Rng::seeded(3);
        let machines: Vec<Hardware> = (0..50).map(|_| Hardware::random(&mut rng)).collect();
        assert!(machines.iter().any(|m| *m != machines[0]));
        for m in &machines {
            assert!((4..=64).contains(&m.num_cpu), "{m:?}");
            assert!((2000..=3500).contains(&m.cpu_mhz), "{m:?}");
            assert!(m.mem_mb >= 2000 * u64::from(m.num_cpu), "{m:?}");
        }
    }

    #[test]
    fn sessions_load_the_machine_and_the_load_varies() {
        let hw = Hardware {
            num_cpu: 8,
            cpu_mhz: 3000,
            mem_mb: 32_000,
            idle_load_per_cpu: 0.1,
        };
        let mut rng = Rng::seeded(11);
        let (mut idle, mut busy) = (Machine::new(hw), Machine::new(hw));
        let mut factors = Vec::new();
        for _ in 0..20 {
            let quiet = idle.measure(&mut rng, 0, 0);
            let loaded = busy.measure(&mut rng, 20, 10);
            assert!(load::load_factor(&quiet) > 2 * load::load_factor(&loaded));
            assert!(loaded.loadavg[0] > quiet.loadavg[0]);
            assert!(loaded.mem_avail < quiet.mem_avail);
            assert_eq!(quiet.loadavg_xx, load::loadavg_xx(quiet.loadavg));
            factors.push(load::load_factor(&loaded));
        }
        factors.dedup();
        assert!(factors.len() > 10, "the load drifts: {factors:?}");
    }
}
