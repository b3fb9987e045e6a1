//! The supervisor: one small process per attempt, between the agent and the
//! task, that holds the task's whole process tree and takes it down when
//! the attempt ends, however it ends — the agent included.
//!
//! The agent starts it as its own binary run again (`/proc/self/exe
//! __switchyard-supervise <agent pid>`), with a Unix socket as its stdin and
//! the agent's output pipes as its stdout and stderr, and sends it the
//! attempt's [`wire::Spec`]. The supervisor:
//!
//! - makes itself a *child subreaper*, so every process the task leaves
//!   behind (a `setsid` daemon, a double fork) becomes its child rather than
//!   init's and stays in its sight;
//! - asks for SIGTERM when the agent dies (`PR_SET_PDEATHSIG`), and treats
//!   the end of its control socket the same way, so a SIGKILLed agent takes
//!   its tasks with it at once;
//! - starts the task through [`exec`] (which joins the task's cgroup, drops
//!   to the task's user and `exec`s the program), and tells the agent when
//!   it started, when it exited and when nothing of it is left;
//! - on `Terminate`, on the task's own exit, on losing the agent, when its
//!   lease runs out (the agent has not heard from the coordinator for so
//!   long that the task may be handed to another worker) and at its
//!   backstop deadline, signals every process of the task (the cgroup when
//!   there is one, and every descendant) until none is left, then removes
//!   the cgroup and exits.
//!
//! It runs as the agent's user, so a task running as another user cannot
//! signal or trace it. It writes nothing to stdout or stderr: those are the
//! task's.

pub(crate) mod exec;
pub(crate) mod wire;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpid, getppid};

use crate::{cgroup, proctree};
use wire::{Command, Event, Exit, MAX_LINE_BYTES, Spec};

/// argv\[1\] that makes the agent's binary a supervisor.
pub(crate) const SUPERVISE: &str = "__switchyard-supervise";

/// How often processes that outlive a SIGKILL (being born meanwhile) are
/// signalled again.
const KILL_AGAIN: Duration = Duration::from_millis(100);

/// How often a lease is checked against the sleep-counting clock: waits are
/// timed on the clock that stops while the machine sleeps.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// How long the task's program may take to start (the `exec` step) before
/// the supervisor gives up on it.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Runs the helper process that argv\[1\] names, if it names one, and
/// answers its exit code. Every binary that embeds the agent (the
/// `worker-agent` and the coordinator's `dev`) calls this first thing in
/// `main`, because the agent starts supervisors as its own binary run again.
pub fn helper_main() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let role = args.next()?;
    match role.to_str()? {
        SUPERVISE => Some(supervise(args.next())),
        exec::EXEC => Some(exec::main(args)),
        _ => None,
    }
}

/// What the supervisor waits for.
#[derive(Debug)]
enum Happening {
    /// A command from the agent, or `None` when its socket closed.
    Control(Option<Command>),
    /// The task's own process ended.
    Exited(Exit),
    /// No child is left: the whole tree is gone.
    Empty,
    /// SIGTERM, SIGINT, SIGHUP or SIGQUIT.
    Signal,
}

fn supervise(agent: Option<std::ffi::OsString>) -> ExitCode {
    let Some(agent) = agent
        .and_then(|pid| pid.to_str().and_then(|pid| pid.parse::<i32>().ok()))
        .map(Pid::from_raw)
    else {
        return ExitCode::from(2);
    };
    // SIGTERM when the agent dies; if it already has, there is nothing to do.
    if prctl::set_pdeathsig(Signal::SIGTERM).is_err() || getppid() != agent {
        return ExitCode::from(3);
    }
    if prctl::set_child_subreaper(true).is_err() {
        return ExitCode::from(4);
    }
    // Signals are taken by a thread of their own (sigwait): block them here,
    // before any thread starts, so every thread inherits the mask.
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        signals.add(signal);
    }
    if signals.thread_block().is_err() {
        return ExitCode::from(4);
    }
    let Some(control) = control_socket() else {
        return ExitCode::from(5);
    };
    let mut reader = BufReader::new(match control.try_clone() {
        Ok(clone) => clone,
        Err(_) => return ExitCode::from(5),
    });
    let Some(spec) = read_line::<Spec>(&mut reader) else {
        return ExitCode::from(6);
    };
    Supervisor::new(spec, control, agent).run(reader, signals);
    ExitCode::SUCCESS
}

/// The control socket, which the agent passed as stdin; stdin itself
/// becomes `/dev/null` so that nothing started later inherits the socket.
fn control_socket() -> Option<UnixStream> {
    let socket: OwnedFd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let null = std::fs::File::open("/dev/null").ok()?;
    nix::unistd::dup2_stdin(&null).ok()?;
    Some(UnixStream::from(socket))
}

/// One JSON line from `reader`; `None` at its end or on anything else.
fn read_line<T: serde::de::DeserializeOwned>(reader: &mut impl BufRead) -> Option<T> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
    reader.take(limit).read_until(b'\n', &mut line).ok()?;
    if line.last() != Some(&b'\n') {
        return None;
    }
    serde_json::from_slice(&line).ok()
}

struct Supervisor {
    spec: Spec,
    control: UnixStream,
    agent: Pid,
    me: i32,
}

impl Supervisor {
    fn new(spec: Spec, control: UnixStream, agent: Pid) -> Self {
        Self {
            spec,
            control,
            agent,
            me: getpid().as_raw(),
        }
    }

    fn tell(&self, event: &Event) {
        // If the agent is gone the reader thread says so; nothing to do here.
        (&self.control).write_all(&wire::line(event)).ok();
    }

    fn run(self, reader: BufReader<UnixStream>, signals: SigSet) {
        let (tx, rx) = mpsc::channel();
        spawn_control_reader(reader, tx.clone());
        spawn_signal_waiter(signals, tx.clone());
        let cgroup = self.spec.cgroup.clone();
        if let Some(dir) = &cgroup
            && let Err(e) = cgroup::create(dir)
        {
            self.tell(&Event::FailedToStart {
                error: format!("failed to create the task's cgroup {}: {e}", dir.display()),
            });
            self.tell(&Event::Cleaned);
            return;
        }
        match self.start() {
            Ok(pid) => {
                spawn_reaper(pid, tx);
                self.tell(&Event::Started { pid });
                self.watch(&rx, cgroup.as_deref());
            }
            Err(error) => {
                self.tell(&Event::FailedToStart { error });
                // The exec step may still be exiting.
                spawn_reaper(0, tx);
                self.kill_until_empty(&rx, cgroup.as_deref());
            }
        }
        if let Some(dir) = &cgroup {
            cgroup::kill_and_remove(dir).ok();
        }
        self.tell(&Event::Cleaned);
    }

    /// Starts the task through the exec step; its pid, or why it could not start.
    fn start(&self) -> Result<i32, String> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| format!("failed to make a socket pair: {e}"))?;
        let mut command = std::process::Command::new("/proc/self/exe");
        command
            .arg(exec::EXEC)
            .args(exec::args(self.me, &self.spec))
            .env_clear()
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("failed to start the task's exec step: {e}"))?;
        drop(command);
        let pid = i32::try_from(child.id()).map_err(|_| "pid out of range".to_owned())?;
        // The exec step closes its end when the program starts (close on
        // exec), or writes why it could not.
        ours.set_read_timeout(Some(START_PATIENCE)).ok();
        let mut verdict = Vec::new();
        match (&ours).take(64 * 1024).read_to_end(&mut verdict) {
            Ok(_) if verdict.is_empty() => Ok(pid),
            Ok(_) => Err(String::from_utf8_lossy(&verdict).into_owned()),
            Err(e) => {
                proctree::send(pid, Signal::SIGKILL);
                Err(format!(
                    "the task did not start within {START_PATIENCE:?}: {e}"
                ))
            }
        }
    }

    /// Follows the running task until none of its processes is left.
    fn watch(&self, rx: &mpsc::Receiver<Happening>, cgroup: Option<&Path>) {
        let deadline = self
            .spec
            .deadline_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        // The lease is kept on the clock that counts while the machine
        // sleeps: a suspended machine must find it ran out when it wakes.
        let mut lease = self
            .spec
            .lease_ms
            .map(|ms| boot_now() + Duration::from_millis(ms));
        let mut term_until: Option<Instant> = None;
        let mut killing = false;
        loop {
            let now = Instant::now();
            let wake = [
                deadline,
                lease
                    .filter(|_| !killing)
                    .map(|at| now + at.saturating_sub(boot_now()).min(LEASE_CHECK)),
                term_until,
                killing.then_some(now + KILL_AGAIN),
            ]
            .into_iter()
            .flatten()
            .min();
            let happening = match wake {
                Some(at) => rx.recv_timeout(at.saturating_duration_since(now)),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            match happening {
                Ok(Happening::Empty) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Ok(Happening::Exited(exit)) => {
                    self.tell(&Event::Exited { exit });
                    killing = true;
                }
                // Durations count from when the word arrives, not from when
                // this loop began to wait for it.
                Ok(Happening::Control(Some(Command::Terminate))) => {
                    if term_until.is_none() && !killing {
                        self.signal_tree(cgroup, Signal::SIGTERM);
                        term_until =
                            Some(Instant::now() + Duration::from_millis(self.spec.term_grace_ms));
                    }
                }
                Ok(Happening::Control(Some(Command::Lease { ms }))) => {
                    lease = Some(boot_now() + Duration::from_millis(ms));
                }
                Ok(Happening::Control(None)) => killing = true,
                // A SIGTERM while the agent lives is not the agent's death
                // (PR_SET_PDEATHSIG also fires when the agent *thread* that
                // started us ends): only a new parent means the agent died.
                Ok(Happening::Signal) => killing |= getppid() != self.agent,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if !killing && lease.is_some_and(|at| boot_now() >= at) {
                        self.tell(&Event::LeaseExpired);
                        killing = true;
                    }
                    killing |= deadline.is_some_and(|at| now >= at)
                        || term_until.is_some_and(|at| now >= at);
                }
            }
            if killing {
                self.signal_tree(cgroup, Signal::SIGKILL);
            }
        }
    }

    fn kill_until_empty(&self, rx: &mpsc::Receiver<Happening>, cgroup: Option<&Path>) {
        loop {
            self.signal_tree(cgroup, Signal::SIGKILL);
            match rx.recv_timeout(KILL_AGAIN) {
                Ok(Happening::Empty) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                _ => {}
            }
        }
    }

    /// Sends `signal` to every process of the task: its cgroup, and every
    /// descendant of this supervisor (which, as a subreaper, is the task's
    /// whole tree).
    fn signal_tree(&self, cgroup: Option<&Path>, signal: Signal) {
        if let Some(dir) = cgroup {
            if signal == Signal::SIGKILL {
                cgroup::kill(dir);
            } else {
                cgroup::signal(dir, signal);
            }
        }
        proctree::signal_each(&proctree::descendants(self.me), signal);
    }
}

/// Time since boot, suspends included (`CLOCK_BOOTTIME`; Linux has had it
/// since 2.6.39, and the monotonic clock stands in were it missing).
fn boot_now() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .or_else(|_| clock_gettime(ClockId::CLOCK_MONOTONIC))
        .map(Duration::from)
        .unwrap_or_default()
}

fn spawn_control_reader(mut reader: BufReader<UnixStream>, tx: mpsc::Sender<Happening>) {
    std::thread::spawn(move || {
        loop {
            let command = read_line::<Command>(&mut reader);
            let ended = command.is_none();
            if tx.send(Happening::Control(command)).is_err() || ended {
                return;
            }
        }
    });
}

fn spawn_signal_waiter(signals: SigSet, tx: mpsc::Sender<Happening>) {
    std::thread::spawn(move || {
        while signals.wait().is_ok() {
            if tx.send(Happening::Signal).is_err() {
                return;
            }
        }
    });
}

/// Reaps every child (the task, and whatever it left behind that was
/// re-parented here), reports the task's own exit, and says when no child
/// is left.
fn spawn_reaper(task: i32, tx: mpsc::Sender<Happening>) {
    std::thread::spawn(move || {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == task => {
                    tx.send(Happening::Exited(Exit::Code(code))).ok();
                }
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid.as_raw() == task => {
                    tx.send(Happening::Exited(Exit::Signal(signal as i32))).ok();
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {
                    // ECHILD: as a subreaper, no child means no descendant.
                    tx.send(Happening::Empty).ok();
                    return;
                }
            }
        }
    });
}
