//! The process's own memory use, read from `/proc/self/status`, and its
//! CPU time, summed over `/proc/self/task/*/schedstat` (Linux).
//!
//! CPU time matters on a shared machine: wall-clock figures grow with the
//! load of other processes, on-CPU time much less.

/// Resident memory of this process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`).
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM`; `None` where `/proc/self/status` is missing
/// or lacks them (not Linux).
pub fn current() -> Option<MemoryUse> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse(&status)
}

/// Parses the `VmRSS` and `VmHWM` lines of a `/proc/PID/status` text.
pub fn parse(status: &str) -> Option<MemoryUse> {
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    };
    Some(MemoryUse {
        rss_kib: field("VmRSS")?,
        peak_kib: field("VmHWM")?,
    })
}

/// Time this process's threads spent on a CPU, and waiting for one while
/// runnable, in nanoseconds (threads that have exited are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTime {
    /// On-CPU time.
    pub run_ns: u64,
    /// Runnable but waiting for a CPU (the machine's other load).
    pub wait_ns: u64,
}

/// Sums `run_time wait_time` of every thread's `schedstat`; `None` where
/// `/proc/self/task` is missing (not Linux, or schedstats disabled).
pub fn cpu_time() -> Option<CpuTime> {
    let mut total = CpuTime::default();
    let mut seen = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        if let Some(t) = parse_schedstat(&text) {
            total.run_ns += t.run_ns;
            total.wait_ns += t.wait_ns;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// Parses one `schedstat` line: `run_ns wait_ns timeslices`.
pub fn parse_schedstat(text: &str) -> Option<CpuTime> {
    let mut fields = text.split_whitespace();
    Some(CpuTime {
        run_ns: fields.next()?.parse().ok()?,
        wait_ns: fields.next()?.parse().ok()?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse(text),
            Some(MemoryUse {
                rss_kib: 1024,
                peak_kib: 2048
            })
        );
        assert_eq!(parse("VmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn parses_schedstat() {
        assert_eq!(
            parse_schedstat("123 45 6\n"),
            Some(CpuTime {
                run_ns: 123,
                wait_ns: 45
            })
        );
        assert_eq!(parse_schedstat("x"), None);
    }

    #[test]
    fn reads_this_process() {
        if let Some(m) = current() {
            assert!(m.rss_kib > 0);
            assert!(m.peak_kib >= m.rss_kib);
        }
    }
}
