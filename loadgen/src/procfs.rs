//! Reading processes and the machine from Linux's `/proc`: CPU time, memory,
//! and which process listens on a TCP port.

use std::fs;
use std::path::Path;

/// Clock ticks per second in `/proc` CPU times (`USER_HZ`), which Linux
/// fixes at 100 for user space on every mainstream architecture.
pub const TICKS_PER_SEC: f64 = 100.0;

/// What `/proc/<pid>/stat` says about one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The process.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// User plus system CPU time of all its threads, in ticks.
    pub cpu_ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state): field n is rest[n - 3].
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(ProcStat {
        pid,
        ppid,
        cpu_ticks: utime + stime,
    })
}

/// `/proc/<pid>/stat` of one process, if it exists.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's own CPU time, in ticks.
pub fn own_cpu_ticks() -> Option<u64> {
    parse_stat(&fs::read_to_string("/proc/self/stat").ok()?).map(|s| s.cpu_ticks)
}

/// A `kB` value of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...), in kB.
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Resident memory now and at its peak, in kB.
pub fn read_memory_kb(pid: u32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = parse_status_kb(&text, "VmRSS")?;
    let peak = parse_status_kb(&text, "VmHWM").unwrap_or(rss);
    Some((rss, peak))
}

/// Whole-machine CPU time, in ticks summed over every core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineCpu {
    /// Ticks spent running something (everything but idle and iowait).
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

/// Parses the `cpu ` line of `/proc/stat`.
pub fn parse_machine_cpu(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user and nice.
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).unwrap_or(&0);
    Some(MachineCpu {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// The machine's CPU counters now.
pub fn read_machine_cpu() -> Option<MachineCpu> {
    parse_machine_cpu(&fs::read_to_string("/proc/stat").ok()?)
}

/// The 1-minute load average.
pub fn read_loadavg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Cores the machine has.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The socket inode listening on TCP `port`, from a `/proc/net/tcp` or
/// `/proc/net/tcp6` table.
pub fn parse_listening_inode(table: &str, port: u16) -> Option<u64> {
    const LISTEN: &str = "0A";
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = fields.get(1)?;
        let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
        if local_port != port || *fields.get(3)? != LISTEN {
            return None;
        }
        fields.get(9)?.parse().ok()
    })
}

/// The process listening on TCP `port` on this machine, if we may see it.
pub fn listener_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .find_map(|table| parse_listening_inode(&table, port))?;
    let wanted = format!("socket:[{inode}]");
    let mut pids = all_pids();
    pids.sort_unstable();
    pids.into_iter().find(|pid| {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.filter_map(Result::ok)
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == Path::new(&wanted)))
    })
}

/// Every process id in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and its direct children (PostgreSQL's postmaster and backends),
/// each with its CPU time.
pub fn process_family(root: u32) -> Vec<ProcStat> {
    all_pids()
        .into_iter()
        .filter_map(read_stat)
        .filter(|stat| stat.pid == root || stat.ppid == root)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 12 0 5000 1000000 2000 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.cpu_ticks, 325);
        assert!(parse_stat("garbage").is_none());
        let own = own_cpu_ticks();
        assert!(own.is_some(), "this process has a stat file");
    }

    #[test]
    fn status_values_in_kb() {
        let text = "Name:\tcoordinator\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
    }

    #[test]
    fn machine_cpu_excludes_idle_and_iowait() {
        let text = "cpu  100 10 50 800 40 5 5 0 0 0\ncpu0 50 5 25 400 20 2 3 0 0 0\n";
        let cpu = parse_machine_cpu(text).unwrap();
        assert_eq!(cpu.total, 1010);
        assert_eq!(cpu.busy, 170);
    }

    #[test]
    fn listening_sockets_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 41414 1 0000000000000000 20 4 30 10 -1\n\
   2: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 27182 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(parse_listening_inode(table, 8080), Some(31337));
        assert_eq!(parse_listening_inode(table, 5432), Some(27182));
        assert_eq!(parse_listening_inode(table, 9999), None);
    }
}
