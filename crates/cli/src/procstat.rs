//! Memory and thread figures of a process, from Linux's `/proc/PID/status`.

/// What `/proc/PID/status` says of a process's memory and threads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcStatus {
    /// Resident memory now, MiB (`VmRSS`).
    pub rss_mb: f64,
    /// Peak resident memory, MiB (`VmHWM`).
    pub peak_rss_mb: f64,
    /// Threads now.
    pub threads: usize,
}

impl ProcStatus {
    /// The figures of process `pid`; `None` if it is gone or this is not Linux.
    pub fn of(pid: u32) -> Option<Self> {
        Self::read(&pid.to_string())
    }

    /// The figures of this process.
    pub fn this() -> Option<Self> {
        Self::read("self")
    }

    fn read(pid: &str) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        Some(Self {
            rss_mb: field("VmRSS:")? / 1024.0,
            peak_rss_mb: field("VmHWM:")? / 1024.0,
            threads: field("Threads:")? as usize,
        })
    }
}

/// Peak resident memory of this process in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    ProcStatus::this().map_or(0.0, |s| s.peak_rss_mb)
}
