//! `bench/pgbench/run.sh` runs the coordinator's own statements: its script
//! is built from the files the coordinator reads with `include_str!`, and a
//! short run of every mode goes through on a real server.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard_tests::{binary, server_url};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_owned()
}

/// `coordinator/src/storage/sql/NAME.sql` without its comment lines, as
/// run.sh puts it in the script (before binding its parameters).
fn statement(name: &str) -> Vec<String> {
    let path = root().join(format!("coordinator/src/storage/sql/{name}.sql"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_pgbench_script_is_built_from_the_coordinators_statement_files() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(root().join("bench/pgbench/run.sh"))
        .arg("--script-only")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let script = std::fs::read_to_string(out.path()).unwrap();
    for name in ["tasks/insert_many", "attempts/assign", "attempts/finish"] {
        // Every line without a parameter stands in the script as written.
        for line in statement(name).iter().filter(|line| !line.contains('$')) {
            assert!(
                script.contains(line.as_str()),
                "{name}: `{line}` is not in the script"
            );
        }
    }
    let unbound = script
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .find(|line| line.contains('$'));
    assert_eq!(unbound, None, "a parameter was left unbound");
}

#[test]
fn pgbench_runs_every_mode_on_the_coordinators_statements() {
    let output = Command::new(root().join("bench/pgbench/run.sh"))
        .args(["--server-url", &server_url()])
        .args(["--mode", "all", "--batch", "12", "--fetch", "5"])
        .args(["-c", "2", "-j", "1", "-T", "1"])
        .arg("--coordinator")
        .arg(binary("coordinator"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for mode in ["batched", "single", "per-fetch"] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("RESULT mode={mode} ")))
            .unwrap_or_else(|| panic!("no result for {mode}:\n{stdout}\n{stderr}"));
        let lifecycles: f64 = line
            .rsplit_once("lifecycles_per_sec=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("unreadable: {line}"));
        assert!(lifecycles > 0.0, "{line}");
    }
}
