//! What a task can reach on its worker, and what it leaves behind: the real
//! agent running real processes, as a hostile task would try.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid};
use switchyard_protocol::{Client, Role, SubmitTask, TaskState, TaskView};
use switchyard_tests::{
    ChildProcess, admin_client, process_is_gone, process_state, spawn_coordinator_process,
    spawn_process_with_env, test_database, wait_until,
};

use crate::sim;

/// Variables a task may see: the default allow-list, its identity, and its attempt.
const TASK_VARIABLES: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "SWITCHYARD_TASK_ID",
    "SWITCHYARD_ATTEMPT",
];

/// How the agent is given its token.
#[derive(Debug, Clone, Copy)]
enum TokenFrom {
    Flag,
    File,
    Environment,
}

/// Starts an agent on `url` that takes its token as `from` says, with
/// `extra` flags and a few variables of its own that no task may see.
fn agent(url: &str, token: &str, from: TokenFrom, dir: &Path, extra: &[&str]) -> ChildProcess {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let state = dir.join("state");
    let token_file = token_file.display().to_string();
    let state = state.display().to_string();
    let mut args = vec![
        "--coordinator-url",
        url,
        "--fetch-wait",
        "2s",
        "--state-dir",
        &state,
    ];
    let mut env = vec![
        ("AGENT_ONLY_SECRET", "leak-me"),
        ("AWS_SECRET_ACCESS_KEY", "leak-me-too"),
    ];
    match from {
        TokenFrom::Flag => args.extend(["--token", token]),
        TokenFrom::File => args.extend(["--token-file", &token_file]),
        TokenFrom::Environment => env.push(("SWITCHYARD_TOKEN", token)),
    }
    args.extend_from_slice(extra);
    spawn_process_with_env("worker-agent", &args, &env)
}

async fn run(client: &Client, argv: &[&str]) -> TaskView {
    let task = client.submit(&sim::task(argv, &[])).await.unwrap();
    sim::finished(client, task.id, Duration::from_secs(60)).await
}

/// What `/proc/<pid>/<file>` holds, NULs as spaces.
fn proc_text(pid: u32, file: &str) -> String {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_task_sees_neither_the_agents_environment_nor_its_token() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let admin = admin_client(&url);
    for (n, from) in [TokenFrom::Flag, TokenFrom::File, TokenFrom::Environment]
        .into_iter()
        .enumerate()
    {
        let token = sim::principal(&admin, &format!("fleet-{n}"), Role::Worker).await;
        let dir = tempfile::tempdir().unwrap();
        let mut agent = agent(&url, &token, from, dir.path(), &["--allow-root-tasks"]);
        let task = run(&admin, &["env"]).await;
        assert_eq!(task.state, TaskState::Succeeded, "{from:?}: {task:?}");
        let env = task.output.unwrap().stdout;
        assert!(
            !env.contains(&token),
            "{from:?}: the token reached the task:\n{env}"
        );
        assert!(
            !env.contains("leak-me"),
            "{from:?}: the agent's variables reached the task:\n{env}"
        );
        for line in env.lines() {
            let name = line.split_once('=').map_or(line, |(name, _)| name);
            assert!(
                TASK_VARIABLES.contains(&name) || name.starts_with("LC_"),
                "{from:?}: the task saw `{name}`, which is not on the allow-list:\n{env}"
            );
        }
        assert!(
            env.contains(&format!("SWITCHYARD_TASK_ID={}\n", task.id)),
            "{env}"
        );
        assert!(env.contains("SWITCHYARD_ATTEMPT=1\n"), "{env}");
        // The agent dropped the token from its own command line and
        // environment (it re-executed itself without them).
        for file in ["cmdline", "environ"] {
            let text = proc_text(agent.pid(), file);
            assert!(
                !text.contains(&token),
                "{from:?}: the token is still in the agent's /proc/{}/{file}: {text}",
                agent.pid()
            );
        }
        agent.sigterm();
        assert!(agent.wait_exit(Duration::from_secs(30)).await.success());
    }
}

#[tokio::test]
async fn a_task_run_as_another_user_cannot_read_the_token_file_or_the_agent() {
    if !Uid::effective().is_root() {
        eprintln!("skipped: --run-as needs the test to run as root");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a `nobody` user");
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let admin = admin_client(&url);
    let token = sim::principal(&admin, "fleet", Role::Worker).await;
    // The state folder must let the task's user pass through to its work dir.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let agent = agent(
        &url,
        &token,
        TokenFrom::File,
        dir.path(),
        &["--run-as", "nobody"],
    );
    let token_file = dir.path().join("token");
    let script = format!(
        "id -u; pwd; cat {file}; echo \"token file: $?\"; \
         cat /proc/{agent}/environ; echo \"agent environ: $?\"; \
         cat /proc/$PPID/environ; echo \"supervisor environ: $?\"; \
         kill -0 $PPID; echo \"signal supervisor: $?\"",
        file = token_file.display(),
        agent = agent.pid()
    );
    let task = run(&admin, &["sh", "-c", &script]).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    let output = task.output.unwrap();
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(&token), "the token reached the task:\n{all}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines[0], nobody.uid.to_string(), "{all}");
    assert!(
        lines[1].contains("/state/work/"),
        "a fresh working directory: {all}"
    );
    for denied in [
        "token file",
        "agent environ",
        "supervisor environ",
        "signal supervisor",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(denied) && !l.ends_with(": 0")),
            "`{denied}` was allowed:\n{all}"
        );
    }
}

#[tokio::test]
async fn an_agent_refuses_to_run_tasks_as_root_unless_told() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().display().to_string();
    // As root: no --run-as means root tasks. Otherwise: --run-as root.
    let mut args = vec![
        "--coordinator-url",
        url.as_str(),
        "--token",
        switchyard_tests::ADMIN_TOKEN,
        "--state-dir",
        &state,
    ];
    if !Uid::effective().is_root() {
        args.extend(["--run-as", "root"]);
    }
    let mut agent = switchyard_tests::spawn_process("worker-agent", &args);
    let status = agent.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    let said = format!("{}{}", agent.stdout(), agent.stderr());
    assert!(said.contains("--run-as"), "{said}");
    assert!(admin_client(&url).list_workers().await.unwrap().is_empty());
}

/// A task that starts a `setsid` grandchild and a child that both ignore
/// SIGTERM, writes the pids of all three to `dir/pids`, and sleeps.
fn stubborn_task(dir: &Path) -> SubmitTask {
    let pids = dir.join("pids");
    let script = format!(
        "setsid sh -c 'trap \"\" TERM; while true; do sleep 1; done' & s=$!; \
         sh -c 'trap \"\" TERM; while true; do sleep 1; done' & c=$!; \
         trap '' TERM; \
         echo $$ $s $c > {0}.tmp; mv {0}.tmp {0}; \
         while true; do sleep 1; done",
        pids.display()
    );
    sim::task(&["sh", "-c", &script], &[])
}

async fn pids(dir: &Path) -> Vec<i32> {
    let file = dir.join("pids");
    wait_until("the task's pids", Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&file).ok()?;
        let pids: Vec<i32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        (pids.len() == 3).then_some(pids)
    })
    .await
}

/// Whether none of `pids` lives. (`$!` of the `setsid` job is the
/// grandchild itself: a background job of a non-interactive shell does not
/// lead its process group, so `setsid` execs without forking.)
fn all_dead(pids: &[i32]) -> bool {
    pids.iter().all(|&pid| process_is_gone(pid))
}

#[tokio::test]
async fn nothing_of_a_task_survives_its_timeout_its_cancellation_or_its_agent() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(
        &db.url,
        &["--heartbeat-interval", "200ms", "--heartbeat-timeout", "1s"],
    )
    .await;
    let admin = admin_client(&url);
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().display().to_string();
    let extra = ["--state-dir", state_arg.as_str(), "--cgroups", "required"];
    let start_agent = || switchyard_tests::spawn_agent_process(&url, &[], 2, &extra);
    let mut agent = start_agent();

    // Timeout.
    let dir = tempfile::tempdir().unwrap();
    let task = admin
        .submit(&SubmitTask {
            timeout_secs: Some(2),
            ..stubborn_task(dir.path())
        })
        .await
        .unwrap();
    let running = pids(dir.path()).await;
    let task = sim::finished(&admin, task.id, Duration::from_secs(60)).await;
    assert_eq!(task.state, TaskState::TimedOut, "{task:?}");
    assert!(all_dead(&running), "after the timeout, {running:?} live on");

    // Cancellation.
    let dir = tempfile::tempdir().unwrap();
    let task = admin.submit(&stubborn_task(dir.path())).await.unwrap();
    let running = pids(dir.path()).await;
    admin.cancel(task.id).await.unwrap();
    let task = sim::finished(&admin, task.id, Duration::from_secs(60)).await;
    assert_eq!(task.state, TaskState::Cancelled, "{task:?}");
    assert!(
        all_dead(&running),
        "after the cancellation, {running:?} live on"
    );

    // The agent SIGKILLed: its supervisors take the tasks with them.
    let dir = tempfile::tempdir().unwrap();
    admin.submit(&stubborn_task(dir.path())).await.unwrap();
    let running = pids(dir.path()).await;
    agent.sigkill();
    agent.wait_exit(Duration::from_secs(10)).await;
    wait_until(
        "the task's processes to die with their agent",
        Duration::from_secs(10),
        || async { all_dead(&running) },
    )
    .await;

    // The agent and the supervisor both SIGKILLed (the agent stopped first,
    // so it cannot clean up): the processes live on in the task's cgroup
    // until the agent starts again and kills them before registering.
    agent = start_agent();
    let dir = tempfile::tempdir().unwrap();
    admin.submit(&stubborn_task(dir.path())).await.unwrap();
    let running = pids(dir.path()).await;
    let (_, supervisor) = process_state(running[0]).expect("the task runs");
    agent.signal(Signal::SIGSTOP);
    let agent_pid = i32::try_from(agent.pid()).unwrap();
    wait_until("the agent to stop", Duration::from_secs(10), || async {
        process_state(agent_pid).is_some_and(|(state, _)| state == 'T')
    })
    .await;
    kill(Pid::from_raw(supervisor), Signal::SIGKILL).unwrap();
    agent.sigkill();
    agent.wait_exit(Duration::from_secs(10)).await;
    let orphans: Vec<i32> = running[1..].to_vec();
    assert!(
        orphans.iter().all(|&pid| !process_is_gone(pid)),
        "the test needs the orphans alive before the restart: {orphans:?}"
    );
    let _agent = start_agent();
    wait_until(
        "the restarted agent to kill the leftovers",
        Duration::from_secs(30),
        || async { all_dead(&orphans) },
    )
    .await;
    drop(state);
}
