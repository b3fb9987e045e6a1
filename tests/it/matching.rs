//! Tag matching: a task only ever reaches a worker that has all its tags,
//! and every task that has a capable worker runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_protocol::{ListTasksQuery, ReportOutcome, TaskId, TaskState};
use switchyard_tests::{AppOptions, spawn_app, wait_until};
use tokio::sync::Mutex;

use crate::sim::{self, SimWorker};

const REQUIREMENTS: [&[&str]; 5] = [&[], &["linux"], &["gpu"], &["gpu", "linux"], &["mac"]];
const TASKS: usize = 150;

#[tokio::test]
async fn tasks_only_reach_workers_with_every_tag() {
    for mode in ["fanout", "balanced"] {
        let app = spawn_app(AppOptions::new().dispatch_mode(mode)).await;
        let workers = [
            SimWorker::register(&app.client, "linux", &["linux"], 4).await,
            SimWorker::register(&app.client, "linux-gpu", &["linux", "gpu"], 4).await,
            SimWorker::register(&app.client, "mac", &["mac"], 4).await,
        ];
        let mut required: HashMap<TaskId, Vec<String>> = HashMap::new();
        for i in 0..TASKS {
            let tags = REQUIREMENTS[i % REQUIREMENTS.len()];
            let view = app
                .client
                .submit(&sim::task(&["true"], tags))
                .await
                .unwrap();
            required.insert(view.id, view.tags.clone());
        }
        let required = Arc::new(required);
        let done = Arc::new(AtomicUsize::new(0));
        let ran_by: Arc<Mutex<HashMap<TaskId, Vec<String>>>> = Arc::default();

        let mut loops = Vec::new();
        for worker in workers.iter().cloned() {
            let (required, done, ran_by) = (required.clone(), done.clone(), ran_by.clone());
            loops.push(tokio::spawn(async move {
                while done.load(Ordering::SeqCst) < TASKS {
                    for assignment in worker.fetch(4, 0.2).await {
                        let needs = &required[&assignment.task_id];
                        assert!(
                            needs.iter().all(|tag| worker.tags.contains(tag)),
                            "task {} needing {needs:?} reached worker with {:?}",
                            assignment.task_id,
                            worker.tags
                        );
                        let previous = ran_by
                            .lock()
                            .await
                            .insert(assignment.task_id, worker.tags.clone());
                        assert!(
                            previous.is_none(),
                            "task {} handed out twice",
                            assignment.task_id
                        );
                        worker
                            .report(&assignment, ReportOutcome::Succeeded, Some(0))
                            .await;
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }));
        }
        wait_until(
            &format!("{TASKS} tasks to run ({mode})"),
            Duration::from_secs(60),
            || async {
                done.load(Ordering::SeqCst) >= TASKS || loops.iter().any(|l| l.is_finished())
            },
        )
        .await;
        for handle in loops {
            handle.await.expect("a worker loop failed");
        }

        let ran_by = ran_by.lock().await;
        assert_eq!(ran_by.len(), TASKS, "every task ran ({mode})");
        let mut query = ListTasksQuery {
            limit: Some(500),
            ..Default::default()
        };
        query.state = Some(TaskState::Succeeded);
        let succeeded = app.client.list_tasks(&query).await.unwrap().tasks;
        assert_eq!(succeeded.len(), TASKS);
        let kinds: HashSet<&Vec<String>> = ran_by.values().collect();
        assert_eq!(kinds.len(), 3, "every worker ran something ({mode})");
        app.shutdown().await.unwrap();
    }
}
