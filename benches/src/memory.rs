//! The process's own memory use, read from `/proc/self/status` (Linux).

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
    fn reads_this_process() {
        if let Some(m) = current() {
            assert!(m.rss_kib > 0);
            assert!(m.peak_kib >= m.rss_kib);
        }
    }
}
