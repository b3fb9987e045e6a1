//! A simulated worker: speaks the worker protocol over real HTTP without
//! running processes, so tests can see exactly what each worker is handed.

use switchyard_protocol::{
    Assignment, Client, FetchRequest, RegisterWorker, ReportOutcome, TaskReport, TaskView, WorkerId,
};

/// One registered worker driven by the test.
#[derive(Debug, Clone)]
pub struct SimWorker {
    pub id: WorkerId,
    pub tags: Vec<String>,
    /// Acts as this worker, with the token its registration issued.
    pub client: Client,
    /// The client that registered it (an admin's, in most tests), for
    /// submitting the work a test wants this worker to take.
    pub registrar: Client,
}

impl SimWorker {
    /// Registers a worker with `tags` and `slots`.
    pub async fn register(client: &Client, name: &str, tags: &[&str], slots: i32) -> Self {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let view = client
            .register(&RegisterWorker {
                name: name.to_owned(),
                tags: tags.clone(),
                slots,
                instance_key: None,
            })
            .await
            .expect("register");
        let token = view.token.expect("a registration issues a worker token");
        Self {
            id: view.id,
            tags,
            client: client.clone().with_token(token),
            registrar: client.clone(),
        }
    }

    /// Fetches up to `max` tasks, waiting up to `wait_secs`.
    pub async fn fetch(&self, max: u32, wait_secs: f64) -> Vec<Assignment> {
        self.client
            .fetch(
                self.id,
                &FetchRequest {
                    max_tasks: max,
                    wait_secs,
                },
            )
            .await
            .expect("fetch")
            .tasks
    }

    /// Reports `assignment` ended with `outcome`.
    pub async fn report(
        &self,
        assignment: &Assignment,
        outcome: ReportOutcome,
        exit_code: Option<i32>,
    ) -> TaskView {
        self.client
            .report(self.id, &report(assignment, outcome, exit_code))
            .await
            .expect("report")
    }
}

/// A plain report of `assignment`.
pub fn report(
    assignment: &Assignment,
    outcome: ReportOutcome,
    exit_code: Option<i32>,
) -> TaskReport {
    TaskReport {
        task_id: assignment.task_id,
        attempt: assignment.attempt,
        outcome,
        exit_code,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
    }
}

/// A submission of `argv` requiring `tags`.
pub fn task(argv: &[&str], tags: &[&str]) -> switchyard_protocol::SubmitTask {
    switchyard_protocol::SubmitTask {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Runs tasks with `workers` (each fetching and reporting success at once)
/// until `count` tasks have run. Panics if a task is handed out twice or the
/// work does not finish within a minute. Returns which worker ran each task.
pub async fn run_all(
    workers: &[SimWorker],
    count: usize,
) -> std::collections::HashMap<switchyard_protocol::TaskId, WorkerId> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let ran: Arc<Mutex<HashMap<switchyard_protocol::TaskId, WorkerId>>> = Arc::default();
    let mut loops = tokio::task::JoinSet::new();
    for worker in workers.iter().cloned() {
        let ran = ran.clone();
        loops.spawn(async move {
            loop {
                if ran.lock().unwrap().len() >= count {
                    return;
                }
                for assignment in worker.fetch(8, 0.2).await {
                    let previous = ran.lock().unwrap().insert(assignment.task_id, worker.id);
                    assert!(
                        previous.is_none(),
                        "task {} handed to {:?} and {}",
                        assignment.task_id,
                        previous,
                        worker.id
                    );
                    worker
                        .report(&assignment, ReportOutcome::Succeeded, Some(0))
                        .await;
                }
            }
        });
    }
    let all = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(result) = loops.join_next().await {
            result.expect("a simulated worker failed");
        }
    })
    .await;
    let ran = ran.lock().unwrap().clone();
    assert!(
        all.is_ok(),
        "only {} of {count} tasks ran within a minute",
        ran.len()
    );
    assert_eq!(ran.len(), count);
    ran
}

/// Waits until task `id` has ended (any final state), and returns it.
pub async fn finished(
    client: &Client,
    id: switchyard_protocol::TaskId,
    deadline: std::time::Duration,
) -> TaskView {
    switchyard_tests::wait_until(&format!("task {id} to finish"), deadline, || async {
        let task = client.task(id).await.ok()?;
        task.state.is_final().then_some(task)
    })
    .await
}

/// Makes a principal with `admin` and answers its first token (a
/// registration token for a worker principal, an API token otherwise).
pub async fn principal(admin: &Client, name: &str, role: switchyard_protocol::Role) -> String {
    admin
        .admin_create_principal(&switchyard_protocol::CreatePrincipal {
            name: name.into(),
            role,
        })
        .await
        .unwrap()
        .token
}
