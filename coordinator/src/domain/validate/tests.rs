//! The bounds of submissions and registrations.

use super::*;

fn task(argv: &[&str]) -> SubmitTask {
    SubmitTask {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..SubmitTask::default()
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn defaults_are_filled_in_and_tags_normalised() {
    let mut t = task(&["echo", "hi"]);
    t.tags = vec!["linux".into(), "gpu".into(), "linux".into()];
    let new = submit(&t, HOUR).unwrap();
    assert_eq!(new.tags, vec!["gpu", "linux"]);
    assert_eq!(new.priority, DEFAULT_PRIORITY);
    assert_eq!(new.timeout_secs, 3600);
    assert_eq!(new.max_attempts, 1);
}

#[test]
fn each_bound_names_its_field() {
    let field = |t: &SubmitTask| submit(t, HOUR).unwrap_err().field;
    assert_eq!(field(&task(&[])), "argv");
    assert_eq!(field(&task(&[""])), "argv[0]");
    let mut t = task(&["x"]);
    t.tags = vec!["ok".into(), String::new()];
    assert_eq!(field(&t), "tags[1]");
    t.tags = vec!["a".repeat(65)];
    assert_eq!(field(&t), "tags[0]");
    t.tags = vec!["has space".into()];
    assert_eq!(field(&t), "tags[0]");
    t.tags = (0..33).map(|i| format!("t{i}")).collect();
    assert_eq!(field(&t), "tags");
    let mut t = task(&["x"]);
    t.timeout_secs = Some(0);
    assert_eq!(field(&t), "timeout_secs");
    t.timeout_secs = Some(-5);
    assert_eq!(field(&t), "timeout_secs");
    let mut t = task(&["x"]);
    t.priority = Some(10);
    assert_eq!(field(&t), "priority");
    t.priority = Some(-1);
    assert_eq!(field(&t), "priority");
    let mut t = task(&["x\0y"]);
    t.priority = None;
    assert_eq!(field(&t), "argv[0]");
    let mut t = task(&["x"]);
    t.env.insert("A=B".into(), "v".into());
    assert_eq!(field(&t), "env.A=B");
}

#[test]
fn a_tag_of_exactly_64_bytes_is_fine() {
    let mut t = task(&["x"]);
    t.tags = vec!["a".repeat(64)];
    assert!(submit(&t, HOUR).is_ok());
}

#[test]
fn registration_bounds() {
    let ok = RegisterWorker {
        name: "host-1".into(),
        tags: vec!["linux".into()],
        slots: 4,
        instance_key: Some("k".repeat(32)),
    };
    assert!(register(&ok).is_ok());
    for key in ["short", &"k".repeat(129), &format!("{}!", "k".repeat(40))] {
        let bad = RegisterWorker {
            instance_key: Some(key.to_owned()),
            ..ok.clone()
        };
        assert_eq!(register(&bad).unwrap_err().field, "instance_key");
    }
    let bad = RegisterWorker {
        slots: 0,
        ..ok.clone()
    };
    assert_eq!(register(&bad).unwrap_err().field, "slots");
    let bad = RegisterWorker {
        name: String::new(),
        ..ok
    };
    assert_eq!(register(&bad).unwrap_err().field, "name");
}

#[test]
fn fetch_and_page_bounds_name_their_field_and_range() {
    let refusal = |e: ValidationError| (e.field, e.message);
    let fetch_of = |max_tasks, wait_secs| {
        fetch(&switchyard_protocol::FetchRequest {
            max_tasks,
            wait_secs,
        })
    };
    assert_eq!(fetch_of(2, 1.5).unwrap(), (2, Duration::from_millis(1500)));
    assert_eq!(
        refusal(fetch_of(0, 1.0).unwrap_err()),
        ("max_tasks".into(), format!("must be 1 to {MAX_FETCH}"))
    );
    for wait in [-1.0, f64::NAN, MAX_FETCH_WAIT_SECS + 1.0] {
        assert_eq!(
            refusal(fetch_of(1, wait).unwrap_err()),
            (
                "wait_secs".into(),
                format!("must be 0 to {MAX_FETCH_WAIT_SECS}")
            )
        );
    }
    assert_eq!(page_size(MAX_PAGE_SIZE).unwrap(), MAX_PAGE_SIZE);
    assert_eq!(
        refusal(page_size(0).unwrap_err()),
        ("limit".into(), format!("must be 1 to {MAX_PAGE_SIZE}"))
    );
    assert_eq!(stats_page(None, None, 100).unwrap(), (1, 100));
    assert_eq!(
        refusal(stats_page(Some(0), None, 100).unwrap_err()),
        ("page".into(), "must be at least 1".into())
    );
    assert_eq!(
        refusal(stats_page(None, Some(MAX_STATS_PER_PAGE + 1), 100).unwrap_err()),
        (
            "per_page".into(),
            format!("must be 1 to {MAX_STATS_PER_PAGE}")
        )
    );
    assert!(tag_filter("linux").is_ok());
    assert_eq!(refusal(tag_filter("has space").unwrap_err()).0, "tag");
}

#[test]
fn a_report_batch_names_the_report_at_fault() {
    use switchyard_protocol::{ReportBatch, TaskId, TaskReport};
    let one = |id| TaskReport::succeeded(TaskId(id), 1);
    let batch = |reports| report_batch(&ReportBatch { reports });
    assert!(batch(vec![one(1), one(2)]).is_ok());
    assert_eq!(
        batch(Vec::new()).unwrap_err().message,
        format!("must hold 1 to {MAX_REPORT_BATCH} reports")
    );
    let twice = batch(vec![one(1), one(1)]).unwrap_err();
    assert_eq!(
        (twice.field.as_str(), twice.message.as_str()),
        ("reports[1].task_id", "task 1 is reported twice")
    );
    let mut long = one(2);
    long.stdout = "x".repeat(OUTPUT_TAIL_BYTES + 1);
    assert_eq!(
        batch(vec![one(1), long]).unwrap_err().field,
        "reports[1].stdout"
    );
}
