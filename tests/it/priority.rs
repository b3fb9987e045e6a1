//! Priority: higher first, first-in first-out within one priority.

use switchyard_protocol::{ReportOutcome, SubmitTask, TaskId};
use switchyard_tests::{AppOptions, spawn_app};

use crate::sim::{self, SimWorker};

#[tokio::test]
async fn higher_priority_first_then_submission_order() {
    for mode in ["fanout", "balanced"] {
        let app = spawn_app(AppOptions::new().dispatch_mode(mode)).await;
        let mut expected: Vec<(i32, TaskId)> = Vec::new();
        for (i, priority) in [5, 1, 9, 5, 0, 9, 1, 5, 7, 7].into_iter().enumerate() {
            let view = app
                .client
                .submit(&SubmitTask {
                    priority: Some(priority),
                    labels: vec![format!("n{i}")],
                    ..sim::task(&["true"], &[])
                })
                .await
                .unwrap();
            expected.push((priority, view.id));
        }
        // Higher priority first; within a priority, lower id (earlier) first.
        expected.sort_by_key(|(priority, id)| (-priority, *id));

        // One worker with one slot takes them one at a time.
        let worker = SimWorker::register(&app.client, "solo", &[], 1).await;
        let mut order = Vec::new();
        for _ in 0..expected.len() {
            let mut got = worker.fetch(5, 2.0).await;
            assert_eq!(got.len(), 1, "one slot means one task at a time");
            let assignment = got.remove(0);
            order.push(assignment.task_id);
            worker
                .report(&assignment, ReportOutcome::Succeeded, Some(0))
                .await;
        }
        let expected_ids: Vec<TaskId> = expected.iter().map(|(_, id)| *id).collect();
        assert_eq!(order, expected_ids, "{mode}");
        app.shutdown().await.unwrap();
    }
}
