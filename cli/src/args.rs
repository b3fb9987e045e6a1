//! The command line: every command and flag, and the parsers of their
//! values (environment pairs, tag lists, durations).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use switchyard_protocol::endpoints::canonical_url;
use switchyard_protocol::{Role, TaskId, TaskState, WorkerId};

/// `switchyard`: submit tasks to a Switchyard coordinator, follow and wait
/// for them, see the queue and the workers, and administer the fleet.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, after_long_help = crate::exit::HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The coordinator's base URL; several, comma separated, for
    /// coordinators sharing a database (the client follows their leader).
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_URL",
        value_name = "URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_url
    )]
    pub url: Vec<String>,

    /// File holding the API token, read when SWITCHYARD_TOKEN is not set
    /// (default: $XDG_CONFIG_HOME/switchyard/token, or
    /// ~/.config/switchyard/token). The token is never taken on the
    /// command line, where other users could see it.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_TOKEN_FILE",
        value_name = "FILE"
    )]
    pub token_file: Option<PathBuf>,

    /// PEM file of the certificate authorities to trust for an https://
    /// coordinator, instead of the system's roots.
    #[arg(long, global = true, env = "SWITCHYARD_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Print the API's JSON objects instead of tables and text: one JSON
    /// document per command (`--follow`: one JSON object per event and line).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a command to run on a worker: `switchyard submit -- CMD ARGS...`.
    Submit(Submit),
    /// Show one task.
    Get { id: TaskId },
    /// List tasks, newest first.
    List(List),
    /// Show a task's output (the running attempt's, or the last one's tail).
    Logs {
        id: TaskId,
        /// Follow the output live until the task ends, then exit with its status.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a task: a queued one at once, a running one within a heartbeat.
    Cancel { id: TaskId },
    /// Run a finished task again, as a new attempt.
    Retry { id: TaskId },
    /// Wait until every task named has finished; exit with the status of
    /// the first that did not succeed.
    Wait {
        #[arg(required = true, num_args = 1..)]
        ids: Vec<TaskId>,
        /// Give up after this long (`90s`, `10m`) with status 124.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Show every attempt of a task.
    Attempts { id: TaskId },
    /// Show the head of the queue, in dispatch order, and why each task waits.
    Queue {
        /// Only tasks that require this tag.
        #[arg(long)]
        tag: Option<String>,
        /// How many tasks to show (1 to 500; 50 when absent).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
    },
    /// List the workers.
    Workers,
    /// Show one worker.
    Worker { id: WorkerId },
    /// Administer the fleet and its principals (needs an admin token).
    #[command(subcommand)]
    Admin(Admin),
    /// Show who the token authenticates.
    Whoami,
    /// Print a shell completion script to stdout.
    Completions { shell: clap_complete::Shell },
}

/// `switchyard submit`.
#[derive(Debug, Args)]
pub struct Submit {
    /// Tags a worker must have, every one of them (comma separated or repeated).
    #[arg(long, value_delimiter = ',', value_parser = parse_tag)]
    pub tags: Vec<String>,
    /// 0 to 9, higher runs first (the coordinator's default is 5).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=9))]
    pub priority: Option<i32>,
    /// How long the process may run before it is killed (`90s`, `10m`, `2h`).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// How many times to try again after a failed attempt (max attempts = N + 1).
    #[arg(long, value_name = "N")]
    pub retries: Option<u16>,
    /// An environment variable for the process, `KEY=VALUE` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// A label to find the task by later (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Working directory on the worker (the agent's own when absent).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Makes the submission safe to repeat: the same key gives the same task.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Wait until the task finishes, print its output's tail, and exit with its status.
    #[arg(long, conflicts_with = "follow")]
    pub wait: bool,
    /// Stream the task's output live, and exit with its status.
    #[arg(long)]
    pub follow: bool,
    /// The program and its arguments.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// `switchyard list`.
#[derive(Debug, Args)]
pub struct List {
    /// Only tasks in this state (queued, running, succeeded, failed, cancelled, timed_out).
    #[arg(long)]
    pub state: Option<TaskState>,
    /// Only tasks that require this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only tasks with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// Only tasks this principal submitted (admins; users see only their own).
    #[arg(long, conflicts_with = "mine")]
    pub owner: Option<String>,
    /// Only tasks the token's own principal submitted.
    #[arg(long)]
    pub mine: bool,
    /// Page size, 1 to 500 (50 when absent).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Show the page after the one that printed this cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// List archived tasks (finished before the retention age) instead.
    #[arg(long)]
    pub archived: bool,
}

/// `switchyard admin ...`.
#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Drain a worker: it finishes what it runs and takes no new work.
    Drain { id: WorkerId },
    /// Make a drained worker take work again.
    Activate { id: WorkerId },
    /// Replace a worker's tags.
    Tags {
        id: WorkerId,
        /// The new tags, comma separated (`--set ''` removes them all).
        #[arg(long, value_name = "TAGS", value_parser = parse_tag_list)]
        set: TagList,
    },
    /// Rebuild the dispatcher from the database.
    Seed,
    /// Even out queued work across candidate workers (balanced mode).
    Rebalance,
    /// Show the dispatcher's state.
    Dispatcher {
        /// Also show which workers' queues hold this task.
        #[arg(long)]
        task: Option<TaskId>,
    },
    /// Manage principals.
    #[command(subcommand)]
    Principal(Principal),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `switchyard admin principal ...`.
#[derive(Debug, Subcommand)]
pub enum Principal {
    /// Create a principal; prints its first token, once.
    Create {
        name: String,
        /// user, worker or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

/// `switchyard admin token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue another token for a principal; prints it, once.
    Create {
        /// The principal's name.
        name: String,
        /// A note for people (`ci`, `laptop`).
        #[arg(long)]
        label: Option<String>,
        /// Lifetime (`30d`, `12h`); no expiry when absent.
        #[arg(long, value_parser = parse_duration)]
        expires: Option<Duration>,
    },
    /// List every token, without secrets.
    List,
    /// Revoke a token.
    Revoke { id: i64 },
}

/// A list of tags given as one value (`a,b`; empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagList(pub Vec<String>);

/// One coordinator URL, without the blanks around it.
fn parse_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    if url.is_empty() {
        return Err("an empty URL (two commas in a row, or one at an end?)".to_owned());
    }
    canonical_url(url).map_err(|e| e.to_string())?;
    Ok(url.to_owned())
}

/// `KEY=VALUE`: the key is what comes before the first `=`, and must not
/// be empty; the value may be.
pub fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        Some(_) => Err(format!("`{text}` has no name before `=`")),
        None => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// One tag of a comma-separated list, without the blanks around it.
pub fn parse_tag(text: &str) -> Result<String, String> {
    let tag = text.trim();
    if tag.is_empty() {
        return Err("an empty tag (two commas in a row, or one at an end?)".to_owned());
    }
    Ok(tag.to_owned())
}

/// A whole tag list in one value: `a,b`, or nothing for none.
pub fn parse_tag_list(text: &str) -> Result<TagList, String> {
    if text.trim().is_empty() {
        return Ok(TagList(Vec::new()));
    }
    text.split(',')
        .map(parse_tag)
        .collect::<Result<_, _>>()
        .map(TagList)
}

/// A duration such as `90s`, `10m`, `1h 30m` or `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 90s, 10m or 2h: {e}"))
}

/// Whole seconds of `duration`, rounded up: `1500ms` is 2 s, never 0 for a
/// duration that is not zero.
pub fn whole_seconds(duration: Duration) -> i64 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn parse_role(text: &str) -> Result<Role, String> {
    [Role::User, Role::Worker, Role::Admin]
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| format!("`{text}` is not a role: user, worker or admin"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
    }

    fn submit(args: &[&str]) -> Submit {
        match parse(args).unwrap().command {
            Command::Submit(submit) => submit,
            other => panic!("not a submit: {other:?}"),
        }
    }

    #[test]
    fn env_pairs_split_at_the_first_equals_sign() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(
            parse_env_pair("EMPTY=").unwrap(),
            ("EMPTY".into(), String::new())
        );
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("NOVALUE").is_err());
    }

    #[test]
    fn tags_are_comma_separated_or_repeated() {
        let task = submit(&[
            "submit",
            "--tags",
            "gpu, linux",
            "--tags",
            "eu",
            "--",
            "true",
        ]);
        assert_eq!(task.tags, ["gpu", "linux", "eu"]);
        assert!(parse(&["submit", "--tags", "gpu,,linux", "--", "true"]).is_err());
        assert_eq!(
            parse_tag_list("a,b").unwrap(),
            TagList(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_tag_list("").unwrap(), TagList(Vec::new()));
        assert!(parse_tag_list("a,").is_err());
    }

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("10").is_err(), "a unit is required");
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(600)), 600);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn submit_takes_its_command_after_the_flags() {
        let task = submit(&[
            "submit",
            "--priority",
            "7",
            "--retries",
            "3",
            "--timeout",
            "10m",
            "--env",
            "K=V",
            "--env",
            "X=1",
            "--label",
            "nightly",
            "--wait",
            "--",
            "sh",
            "-c",
            "exit 3",
        ]);
        assert_eq!(task.priority, Some(7));
        assert_eq!(task.retries, Some(3));
        assert_eq!(task.timeout, Some(Duration::from_secs(600)));
        assert_eq!(
            task.env,
            [("K".into(), "V".into()), ("X".into(), "1".into())]
        );
        assert_eq!(task.labels, ["nightly"]);
        assert!(task.wait && !task.follow);
        assert_eq!(task.command, ["sh", "-c", "exit 3"]);
        // Flags after the program belong to it.
        let task = submit(&["submit", "ls", "--wait"]);
        assert_eq!(task.command, ["ls", "--wait"]);
        assert!(!task.wait);
    }

    #[test]
    fn bad_usage_is_refused() {
        for args in [
            &["submit"][..],
            &["submit", "--priority", "10", "--", "true"],
            &["submit", "--wait", "--follow", "--", "true"],
            &["submit", "--token", "x", "--", "true"],
            &["list", "--mine", "--owner", "bob"],
            &["wait"],
            &["get", "abc"],
            &["admin", "principal", "create", "bob", "--role", "root"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli = parse(&["get", "42", "--json", "--url", "http://a:1, http://b:2"]).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.url, ["http://a:1", "http://b:2"]);
        assert!(parse(&["--url", "ftp://a", "workers"]).is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
