//! Measuring: a lock-free latency histogram, CPU time per thread group and resident memory,
//! from `/proc/self` (Linux).

use std::sync::atomic::{AtomicU64, Ordering};

/// Values below this are their own bucket.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above [`LINEAR`] (relative precision 1/64, about 1.6%).
const SUB: u64 = 64;
/// Buckets for any `u64`.
const BUCKETS: usize = ((63 - 6) * SUB + 2 * SUB) as usize;

/// A log-linear histogram of nanosecond values that many tasks record into at once (relaxed
/// atomics: the counts are read after the recording tasks stopped).
#[derive(Debug)]
pub struct Hist {
    counts: Box<[AtomicU64]>,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The bucket of `v`.
fn bucket(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - u64::from(v.leading_zeros()); // >= 7
    let m = v >> (e - 6); // in [64, 128)
    ((e - 6) * SUB + m) as usize
}

/// The smallest value of bucket `i`, and its width.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, 1);
    }
    let e = i / SUB + 5;
    let m = i % SUB + SUB;
    (m << (e - 6), 1 << (e - 6))
}

impl Hist {
    /// Records `n` values of `v`.
    pub fn record_n(&self, v: u64, n: u64) {
        self.counts[bucket(v)].fetch_add(n, Ordering::Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The `q`-quantile (nearest rank), as the middle of its bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                let (lo, w) = bucket_range(i);
                return lo + w / 2;
            }
        }
        0
    }

    /// The largest value's bucket middle; 0 when empty.
    pub fn max(&self) -> u64 {
        self.counts
            .iter()
            .rposition(|c| c.load(Ordering::Relaxed) > 0)
            .map_or(0, |i| {
                let (lo, w) = bucket_range(i);
                lo + w / 2
            })
    }
}

/// A `getconf` value (e.g. `CLK_TCK`, `PAGESIZE`); `None` if that fails.
pub fn getconf(name: &str) -> Option<u64> {
    let out = std::process::Command::new("getconf")
        .arg(name)
        .output()
        .ok()?;
    std::str::from_utf8(&out.stdout)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&t| t > 0)
}

/// The command name and the fields after it of a `stat` file (index 0 is field 3, the state).
fn stat(path: &str) -> Option<(String, Vec<u64>)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_owned();
    let fields = s[close + 1..]
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .collect();
    Some((comm, fields))
}

/// utime + stime in clock ticks from stat fields (fields 14 and 15).
fn ticks(fields: &[u64]) -> u64 {
    fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
}

/// CPU clock ticks used so far: by the whole process (threads that ended included), and by the
/// live threads whose names start with each of the given prefixes.
#[derive(Debug, Clone, Default)]
pub struct Cpu {
    /// The process, all threads.
    pub process: u64,
    /// Per prefix, in the order given.
    pub groups: Vec<u64>,
}

impl Cpu {
    /// Reads `/proc/self/stat` and `/proc/self/task/*/stat`.
    pub fn now(prefixes: &[&str]) -> Cpu {
        let process = stat("/proc/self/stat").map_or(0, |(_, f)| ticks(&f));
        let mut groups = vec![0; prefixes.len()];
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for e in dir.flatten() {
                let path = format!("{}/stat", e.path().display());
                if let Some((comm, f)) = stat(&path) {
                    if let Some(i) = prefixes.iter().position(|p| comm.starts_with(p)) {
                        groups[i] += ticks(&f);
                    }
                }
            }
        }
        Cpu { process, groups }
    }

    /// Ticks used since `earlier` (a thread that ended in between loses its ticks from its
    /// group, not from the process figure).
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            process: self.process.saturating_sub(earlier.process),
            groups: self
                .groups
                .iter()
                .zip(earlier.groups.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        }
    }
}

/// Resident set size of the process in octets (`/proc/self/statm`, field 2), with `page` octets
/// per page.
pub fn rss(page: u64) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page)
}

/// The soft limit on open files (`/proc/self/limits`); `None` if unknown or unlimited.
pub fn open_files_limit() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut prev = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= prev, "{v}");
            prev = b;
            let (lo, w) = bucket_range(b);
            assert!(lo <= v && v - lo < w, "{v} in [{lo}, +{w})");
        }
    }

    #[test]
    fn quantiles_within_two_percent() {
        let h = Hist::default();
        for v in 1..=10_000u64 {
            h.record_n(v * 1000, 1);
        }
        assert_eq!(h.count(), 10_000);
        for (q, want) in [(0.5, 5_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        let max = h.max() as f64;
        assert!((max - 10_000_000.0).abs() / 10_000_000.0 < 0.02, "{max}");
        assert_eq!(Hist::default().quantile(0.5), 0);
    }

    #[test]
    fn proc_readings() {
        let page = getconf("PAGESIZE").unwrap_or(4096);
        assert!(rss(page).expect("statm") > 0);
        let a = Cpu::now(&["no-such-thread"]);
        assert_eq!(a.groups, vec![0]);
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let b = Cpu::now(&[]);
        assert!(b.process >= a.process);
    }
}
