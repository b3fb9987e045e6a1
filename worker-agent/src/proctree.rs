//! Processes as Linux shows them in `/proc`: who is whose parent, when a
//! process started (to tell a pid apart from a later process that reuses
//! it), and signalling a whole tree of descendants.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What `/proc/<pid>/stat` says of a process that this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) ppid: i32,
    /// Clock ticks after boot when it started: with the pid, a name for
    /// one process that a later process reusing the pid does not share.
    pub(crate) start_time: u64,
    /// Exited but not yet reaped.
    pub(crate) zombie: bool,
}

/// Parses the text of `/proc/<pid>/stat`. The command name in parentheses
/// may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let state = *fields.first()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat {
        ppid,
        start_time,
        zombie: state == "Z",
    })
}

/// The process `pid` now; `None` when it does not exist.
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The command line of `pid`, its arguments joined by spaces (empty when it
/// cannot be read).
pub(crate) fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Every live process and its parent.
fn parents() -> HashMap<i32, i32> {
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(stat) = stat(pid)
            && !stat.zombie
        {
            map.insert(pid, stat.ppid);
        }
    }
    map
}

/// Every live descendant of `root` (not `root` itself), parents before
/// their children.
pub(crate) fn descendants(root: i32) -> Vec<i32> {
    let parents = parents();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        if let Some(kids) = children.get(&pid) {
            found.extend(kids);
            next.extend(kids);
        }
    }
    found
}

/// Sends `signal` to each of `pids`; answers how many received it.
pub(crate) fn signal_each(pids: &[i32], signal: Signal) -> usize {
    pids.iter().filter(|&&pid| send(pid, signal)).count()
}

/// Sends `signal` to `pid`; false when there is no such process.
pub(crate) fn send(pid: i32, signal: Signal) -> bool {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(error) => {
            tracing::debug!(pid, %error, ?signal, "failed to signal a process");
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let text = "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 \
                    1 0 987654 1000000 100 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.ppid, 17);
        assert_eq!(stat.start_time, 987_654);
        assert!(!stat.zombie);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn this_process_is_a_descendant_of_its_parent() {
        let me = i32::try_from(std::process::id()).unwrap();
        let parent = stat(me).unwrap().ppid;
        assert!(descendants(parent).contains(&me));
        assert!(stat(me).unwrap().start_time > 0);
        assert!(!cmdline(me).is_empty());
    }
}
