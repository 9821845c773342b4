//! Unit and property tests of the load metrics and the load factor.

use super::*;
use proptest::prelude::*;

const MEMINFO: &str = "MemTotal:       32000000 kB\nMemFree:         2801016 kB\nMemAvailable:   24024976 kB\nBuffers:          100000 kB\nActive(file):    6725472 kB\nInactive(file): 14006364 kB\nSReclaimable:     893404 kB\n";
const AMD: &str = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.098\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.098\n";
const XEON: &str = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\ncpu MHz\t\t: 1200.000\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\ncpu MHz\t\t: 3300.123\n";

fn texts<'a>(loadavg: &'a str, meminfo: &'a str, cpuinfo: &'a str) -> ProcTexts<'a> {
    ProcTexts {
        loadavg,
        meminfo,
        min_free_kbytes: "67584\n",
        cpuinfo,
    }
}

#[test]
fn this_machines_numbers_as_the_reference_printed_them() {
    // `x2gobroker-agent root checkload` printed, for these /proc texts:
    // loadavgXX:236 memAvail:24024 myMemAvail:24223 numCPU:2 typeCPU:2597
    let m = metrics(texts("1.39 2.68 3.00 1/90 12945\n", MEMINFO, AMD)).unwrap();
    assert_eq!(m.loadavg, [1.39, 2.68, 3.00]);
    assert_eq!(m.loadavg_xx, 236);
    assert_eq!(m.mem_avail, 24024);
    assert_eq!(m.my_mem_avail, 24223);
    assert_eq!((m.num_cpu, m.cpu_mhz), (2, 2597));
    // int((24024 / 1000) * 2 * 2597 * 100 / 236)
    assert_eq!(load_factor(&m), 52873);
}

#[test]
fn the_model_name_speed_wins_over_cpu_mhz() {
    let m = metrics(texts("0.00 0.00 0.00 1/90 1\n", MEMINFO, XEON)).unwrap();
    assert_eq!((m.num_cpu, m.cpu_mhz), (2, 2400));
    assert_eq!(m.loadavg_xx, 1, "an idle machine is 1, never 0");
}

#[test]
fn without_memavailable_the_recomputed_value_counts() {
    let old_kernel: String = MEMINFO
        .lines()
        .filter(|l| !l.starts_with("MemAvailable"))
        .map(|l| format!("{l}\n"))
        .collect();
    let m = metrics(texts("1.00 1.00 1.00 1/1 1\n", &old_kernel, AMD)).unwrap();
    assert_eq!(m.mem_avail, 0);
    assert_eq!(m.my_mem_avail, 24223);
    // int((24223 / 1000) * 2 * 2597 * 100 / 101)
    assert_eq!(load_factor(&m), 124568);
}

#[test]
fn nothing_known_about_the_cpus_is_zero() {
    let m = metrics(texts("1 1 1\n", MEMINFO, "processor : 0\n")).unwrap();
    assert_eq!((m.num_cpu, m.cpu_mhz), (0, 0));
    assert_eq!(load_factor(&m), 0);
}

#[test]
fn a_bad_loadavg_is_an_error() {
    for bad in ["", "1.0 2.0\n", "a b c\n", "-1 0 0\n"] {
        assert!(
            matches!(
                metrics(texts(bad, MEMINFO, AMD)),
                Err(LoadError::LoadAverage(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn perl_reads_numbers_by_their_prefix() {
    assert_eq!(numify("2.40GHz"), 2.4);
    assert_eq!(numify(".5"), 0.5);
    assert_eq!(numify("."), 0.0);
    assert_eq!(numify("abc"), 0.0);
    assert_eq!(numify("12kB"), 12.0);
}

#[test]
fn model_name_matching_follows_the_reference_pattern() {
    assert_eq!(
        model_name_ghz("model name\t: Intel(R) Core(TM) i7 CPU 920 @ 2.67GHz"),
        Some(2.67)
    );
    // No `CPU` before the `@`: no match.
    assert_eq!(
        model_name_ghz("model name\t: Intel(R) Core(TM) i7 @ 2.67GHz"),
        None
    );
    // The last `@ ` followed by a number wins.
    assert_eq!(
        model_name_ghz("model name : X CPU @ 1.0 @ 3.5GHz @ x"),
        Some(3.5)
    );
    assert_eq!(cpu_mhz_line("cpu MHz\t\t: 2596.098"), Some(2596.098));
    assert_eq!(
        cpu_mhz_line("cpu MHz: 2596.098"),
        None,
        "the reference needs a space before ':'"
    );
}

#[test]
fn the_reader_reads_a_proc_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sys/vm")).unwrap();
    std::fs::write(dir.path().join("loadavg"), "1.39 2.68 3.00 1/90 12945\n").unwrap();
    std::fs::write(dir.path().join("meminfo"), MEMINFO).unwrap();
    std::fs::write(dir.path().join("cpuinfo"), AMD).unwrap();
    let missing = read_from(dir.path()).unwrap_err();
    assert!(missing.to_string().contains("min_free_kbytes"), "{missing}");
    std::fs::write(dir.path().join("sys/vm/min_free_kbytes"), "67584\n").unwrap();
    assert_eq!(read_from(dir.path()).unwrap().loadavg_xx, 236);
    assert!(read().is_ok(), "this machine's /proc");
}

fn meminfo_text(free: u64, avail: u64, active: u64, inactive: u64, slab: u64) -> String {
    format!(
        "MemFree: {free} kB\nMemAvailable: {avail} kB\nActive(file): {active} kB\nInactive(file): {inactive} kB\nSReclaimable: {slab} kB\n"
    )
}

proptest! {
    #[test]
    fn loadavg_xx_is_at_least_one_and_follows_the_formula(
        a in 0u32..100_000, b in 0u32..100_000, c in 0u32..100_000,
    ) {
        let text = format!("{}.{:02} {}.{:02} {}.{:02} 1/1 1\n", a / 100, a % 100, b / 100, b % 100, c / 100, c % 100);
        let m = metrics(texts(&text, MEMINFO, AMD)).unwrap();
        prop_assert!(m.loadavg_xx >= 1);
        // Truncated, up to rounding of the decimal inputs.
        let want = (a + b + c) as f64 / 3.0 + 1.0;
        let below = want - m.loadavg_xx as f64;
        prop_assert!(below > -1e-6 && below < 1.0 + 1e-6, "{} for {}", m.loadavg_xx, want);
    }

    #[test]
    fn more_memory_or_less_load_never_lowers_the_factor(
        avail in 1u64..1_000_000_000, extra in 0u64..1_000_000_000,
        load in 0u32..10_000, more_load in 0u32..10_000,
    ) {
        let la = |l: u32| format!("{}.{:02} 0 0 1/1 1\n", l / 100, l % 100);
        let mem = |a| meminfo_text(1000, a, 0, 0, 0);
        let base = metrics(texts(&la(load), &mem(avail), XEON)).unwrap();
        let richer = metrics(texts(&la(load), &mem(avail + extra), XEON)).unwrap();
        let busier = metrics(texts(&la(load + more_load), &mem(avail), XEON)).unwrap();
        prop_assert!(load_factor(&richer) >= load_factor(&base));
        prop_assert!(load_factor(&busier) <= load_factor(&base));
    }

    #[test]
    fn my_mem_avail_is_never_negative_and_counts_free_memory(
        free in 0u64..100_000_000, active in 0u64..100_000_000,
        inactive in 0u64..100_000_000, slab in 0u64..10_000_000, low in 0u64..1_000_000,
    ) {
        let info = meminfo_text(free, 0, active, inactive, slab);
        let got = my_mem_avail(&info, &low.to_string());
        prop_assert!(got >= 0.0);
        let pagecache = (active + inactive) as f64;
        let slabf = slab as f64;
        let l = low as f64;
        let want = (free as f64 - l + pagecache - (pagecache / 2.0).min(l) + slabf - (slabf / 2.0).min(l)).max(0.0);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_cpuinfo_text_is_read_without_panicking(text in "\\PC{0,200}") {
        let _ = cpus(&text);
        let _ = numify(&text);
    }
}
