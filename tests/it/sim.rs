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
    pub client: Client,
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
            })
            .await
            .expect("register");
        Self {
            id: view.id,
            tags,
            client: client.clone(),
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
