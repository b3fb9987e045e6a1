//! The exit status of `switchyard`: what each code means, and how a
//! finished task's end becomes the command's own status.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success (for `submit --wait`/`--follow` and `wait`: every task succeeded) |
//! | 1    | the coordinator refused the request (an API error), or another failure at run time |
//! | 2    | usage error: a bad flag or argument (clap's own) |
//! | 3    | cannot reach the coordinator, TLS with it failed, or no token was found |
//! | N    | `submit --wait`, `submit --follow`, `logs --follow`, `wait`: the task exited by itself with status N |
//! | 124  | the task timed out, or `wait --timeout` expired first |
//! | 125  | the task was cancelled |
//! | 126  | the task failed without an exit status of its own (killed by a signal, could not start, lost) |
//!
//! A task that exits by itself with 124, 125 or 126 is indistinguishable
//! from those cases by the status alone, as with `timeout(1)`; `get` tells.

use switchyard_protocol::TaskState;

/// Success.
pub const SUCCESS: u8 = 0;
/// The coordinator refused the request, or something else failed.
pub const FAILURE: u8 = 1;
/// No coordinator answered, TLS failed, or there is no token.
pub const UNREACHABLE: u8 = 3;
/// The task timed out, or the wait for it did.
pub const TIMED_OUT: u8 = 124;
/// The task was cancelled.
pub const CANCELLED: u8 = 125;
/// The task failed without an exit status of its own.
pub const FAILED_WITHOUT_STATUS: u8 = 126;

/// The exit codes, as `--help` shows them.
pub const HELP: &str = "\
Exit status:
  0    success (for submit --wait/--follow, logs --follow and wait: the task(s) succeeded)
  1    the coordinator refused the request (API error), or another failure
  2    usage error (a bad flag or argument)
  3    cannot reach the coordinator, TLS failed, or no token was found
  N    submit --wait/--follow, logs --follow, wait: the task exited by itself with status N
  124  the task timed out, or wait --timeout expired first
  125  the task was cancelled
  126  the task failed without an exit status (killed by a signal, could not start, lost)

Environment:
  SWITCHYARD_URL         coordinator base URL(s), comma separated (default http://127.0.0.1:8080)
  SWITCHYARD_TOKEN       API token; else the file SWITCHYARD_TOKEN_FILE names,
                         else $XDG_CONFIG_HOME/switchyard/token (~/.config/switchyard/token)
  SWITCHYARD_TOKEN_FILE  file holding the token (--token-file)
  SWITCHYARD_CA_FILE     PEM file of the CAs to trust for https:// (--ca-file)";

/// The status a command that waited for a task exits with, from the task's
/// final `state` and the `exit_code` its process exited with by itself;
/// `None` while the task has not finished.
pub fn task_exit_status(state: TaskState, exit_code: Option<i32>) -> Option<u8> {
    let status = match state {
        TaskState::Queued | TaskState::Running => return None,
        TaskState::Succeeded => SUCCESS,
        TaskState::TimedOut => TIMED_OUT,
        TaskState::Cancelled => CANCELLED,
        // A failed task that exited 0 cannot be told as success.
        TaskState::Failed => exit_code
            .and_then(|code| u8::try_from(code).ok())
            .filter(|&code| code != SUCCESS)
            .unwrap_or(FAILED_WITHOUT_STATUS),
    };
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_of_a_task_has_its_status() {
        use TaskState::*;
        let cases = [
            (Queued, None, None),
            (Running, Some(0), None),
            (Succeeded, Some(0), Some(0)),
            (Failed, Some(3), Some(3)),
            (Failed, Some(255), Some(255)),
            (Failed, None, Some(126)),
            (Failed, Some(0), Some(126)),
            (Failed, Some(-1), Some(126)),
            (Failed, Some(300), Some(126)),
            (TimedOut, None, Some(124)),
            (TimedOut, Some(7), Some(124)),
            (Cancelled, None, Some(125)),
        ];
        for (state, code, expected) in cases {
            assert_eq!(task_exit_status(state, code), expected, "{state} {code:?}");
        }
    }
}
