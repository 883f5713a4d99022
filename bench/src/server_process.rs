//! Reads the measured server's CPU time and memory from `/proc` (Linux), given
//! its pid: CPU seconds from `/proc/PID/stat` (utime + stime, all threads),
//! memory from `/proc/PID/status` (`VmRSS` now, `VmHWM` the peak so far).
//! The load generator samples its own pid the same way, to report what
//! measuring cost.

use std::fs;
use std::io;

/// Clock ticks per second in `/proc/PID/stat`. Linux fixes this `USER_HZ` at
/// 100 for every architecture's user-space ABI (`getconf CLK_TCK` says 100).
const TICKS_PER_SECOND: f64 = 100.0;

/// One look at the server process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// User + system CPU time used so far, all threads, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory now, in bytes.
    pub rss_bytes: u64,
    /// Peak resident memory since the process started, in bytes.
    pub peak_rss_bytes: u64,
}

/// Samples process `pid`; fails if it has exited.
pub fn sample(pid: u32) -> io::Result<ProcessSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}: no {what}"),
        )
    };
    let ticks = cpu_ticks_from_stat(&stat).ok_or_else(|| invalid("utime/stime in stat"))?;
    let rss_kib =
        kib_field_from_status(&status, "VmRSS").ok_or_else(|| invalid("VmRSS in status"))?;
    let peak_kib =
        kib_field_from_status(&status, "VmHWM").ok_or_else(|| invalid("VmHWM in status"))?;
    Ok(ProcessSample {
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        rss_bytes: rss_kib * 1024,
        peak_rss_bytes: peak_kib * 1024,
    })
}

/// Samples every process of `pids` and adds them up: a chat of two nodes
/// costs what both processes spend (CPU, resident memory, and the sum of
/// their peaks). Fails if any has exited, or if `pids` is empty.
pub fn sample_all(pids: &[u32]) -> io::Result<ProcessSample> {
    let mut total: Option<ProcessSample> = None;
    for &pid in pids {
        let one = sample(pid)?;
        let sum = total.get_or_insert(ProcessSample {
            cpu_seconds: 0.0,
            rss_bytes: 0,
            peak_rss_bytes: 0,
        });
        sum.cpu_seconds += one.cpu_seconds;
        sum.rss_bytes += one.rss_bytes;
        sum.peak_rss_bytes += one.peak_rss_bytes;
    }
    total.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no process to sample"))
}

/// utime + stime (fields 14 and 15) from the text of `/proc/PID/stat`.
///
/// Field 2 is the command name in parentheses and may itself contain spaces
/// or `)`, so counting starts after the *last* `)`.
fn cpu_ticks_from_stat(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // after_name starts with field 3 (state), so fields 14 and 15 are at 11 and 12.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line of `/proc/PID/status`, in KiB.
fn kib_field_from_status(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utime and stime are found even when the command name holds spaces and parentheses.
    #[test]
    fn reads_cpu_ticks_past_an_awkward_command_name() {
        let stat = "4242 (node (main) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 37 0 0 20 0 11 0 99 0 0";
        assert_eq!(cpu_ticks_from_stat(stat), Some(287));
    }

    /// The kB fields of /proc/PID/status are read by exact name.
    #[test]
    fn reads_memory_fields() {
        let status = "Name:\tnode\nVmHWM:\t   52340 kB\nVmRSS:\t   48000 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(kib_field_from_status(status, "VmRSS"), Some(48_000));
        assert_eq!(kib_field_from_status(status, "VmHWM"), Some(52_340));
        assert_eq!(kib_field_from_status(status, "VmSwap"), None);
    }

    /// Two processes sampled together add up; none at all is an error.
    #[test]
    fn samples_of_several_processes_add_up() {
        let own = sample(std::process::id()).unwrap();
        let twice = sample_all(&[std::process::id(), std::process::id()]).unwrap();

        assert!(twice.rss_bytes >= own.rss_bytes * 2 - 1024 * 1024);
        assert!(twice.cpu_seconds >= own.cpu_seconds * 2.0);
        assert!(sample_all(&[]).is_err());
    }

    /// Sampling our own process works on this machine and gives sane values.
    #[test]
    fn samples_the_current_process() {
        let own = sample(std::process::id()).unwrap();
        assert!(own.rss_bytes > 0);
        assert!(own.peak_rss_bytes >= own.rss_bytes);
        assert!(own.cpu_seconds >= 0.0);
    }
}
