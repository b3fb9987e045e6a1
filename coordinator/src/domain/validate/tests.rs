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
