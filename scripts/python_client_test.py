"""Drives a live coordinator through the Python client generated from its
OpenAPI document (`switchyard_coordinator_client`), with the generated typed
functions only: a client that imports, builds requests the coordinator
accepts and parses every answer it gets is what `scripts/python-client`
checks. Each check below fails with a message naming what was expected.

Run by `scripts/python-client`, which generates the package, puts it on
PYTHONPATH and passes SWITCHYARD_URL and SWITCHYARD_TOKEN (an admin token).
"""

import importlib
import os
import pkgutil
import sys
import time
import uuid

import httpx
import switchyard_coordinator_client as generated
from switchyard_coordinator_client import AuthenticatedClient
from switchyard_coordinator_client.api.tasks import (
    list_tasks,
    show_output,
    show_task,
    submit_task,
)
from switchyard_coordinator_client.models import (
    ErrorBody,
    ErrorCode,
    OutputView,
    SubmitTask,
    TaskOutput,
    TaskPage,
    TaskState,
    TaskView,
)

# The command the task runs: output on both streams, then a failing exit.
COMMAND = ["sh", "-c", "echo hello from python; echo err >&2; exit 3"]
FINAL_STATES = {
    TaskState.SUCCEEDED,
    TaskState.FAILED,
    TaskState.TIMED_OUT,
    TaskState.CANCELLED,
}
# How long the task may take to end, waits included.
DEADLINE_SECONDS = 120


class CheckFailed(Exception):
    """A check that did not hold; its message says what was expected."""


def expect(condition, message):
    """Fails the run with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def import_every_module():
    """Imports each module of the generated package, so a part of the
    document that generates broken code fails here even when no check
    below calls it."""
    names = [generated.__name__]
    for module in pkgutil.walk_packages(generated.__path__, generated.__name__ + "."):
        names.append(module.name)
    for name in names:
        importlib.import_module(name)


def submit(client, label):
    """Submits the failing command with a label unique to this run."""
    answer = submit_task.sync_detailed(client=client, body=SubmitTask(argv=COMMAND, labels=[label]))
    expect(
        answer.status_code == 201,
        f"submit: expected 201, got {answer.status_code}: {answer.content!r}",
    )
    task = answer.parsed
    expect(isinstance(task, TaskView), f"submit: expected a TaskView, got {task!r}")
    expect(task.argv == COMMAND, f"submit: argv came back as {task.argv!r}")
    expect(
        task.state in (TaskState.QUEUED, TaskState.RUNNING, *FINAL_STATES),
        f"submit: unexpected state {task.state!r}",
    )
    return task


def wait_for_end(client, task_id):
    """Reads the task with `wait=30s` until it is in a final state."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        task = show_task.sync(task_id, client=client, wait="30s")
        expect(isinstance(task, TaskView), f"wait: expected a TaskView, got {task!r}")
        if task.state in FINAL_STATES:
            return task
        expect(
            time.monotonic() < deadline,
            f"wait: task {task_id} still {task.state} after {DEADLINE_SECONDS}s",
        )


def check_result(task):
    """The task failed with exit code 3 and kept both streams."""
    expect(task.state == TaskState.FAILED, f"result: expected failed, got {task.state}")
    output = task.output
    expect(isinstance(output, TaskOutput), f"result: the task has no output: {task!r}")
    expect(output.exit_code == 3, f"result: expected exit code 3, got {output.exit_code!r}")
    expect(
        output.stdout == "hello from python\n",
        f"result: unexpected stdout {output.stdout!r}",
    )
    expect(output.stderr == "err\n", f"result: unexpected stderr {output.stderr!r}")


def check_output(client, task_id):
    """`GET /tasks/{id}/output` shows the finished attempt's output."""
    output = show_output.sync(task_id, client=client)
    expect(isinstance(output, OutputView), f"output: expected an OutputView, got {output!r}")
    expect(output.task_id == task_id, f"output: task id {output.task_id}, not {task_id}")
    expect(output.state == TaskState.FAILED, f"output: state {output.state}")
    expect(not output.live, "output: still live after the task ended")
    expect(output.attempt == 1, f"output: attempt {output.attempt}, not 1")
    expect(output.exit_code == 3, f"output: exit code {output.exit_code!r}")
    expect(output.stdout == "hello from python\n", f"output: stdout {output.stdout!r}")
    expect(output.stderr == "err\n", f"output: stderr {output.stderr!r}")


def check_listing(client, task_id, label):
    """The state filter finds the task among the failed ones, not among
    the queued ones."""
    failed = list_tasks.sync(client=client, state=TaskState.FAILED, label=label)
    expect(isinstance(failed, TaskPage), f"list: expected a TaskPage, got {failed!r}")
    expect(
        [task.id for task in failed.tasks] == [task_id],
        f"list: failed tasks labelled {label} are {[t.id for t in failed.tasks]}",
    )
    queued = list_tasks.sync(client=client, state=TaskState.QUEUED, label=label)
    expect(isinstance(queued, TaskPage), f"list: expected a TaskPage, got {queued!r}")
    expect(queued.tasks == [], f"list: queued tasks labelled {label}: {queued.tasks!r}")


def check_validation_error(client, label):
    """A priority out of bounds answers 422 with the field named, and
    stores nothing."""
    answer = submit_task.sync_detailed(
        client=client, body=SubmitTask(argv=["true"], priority=99, labels=[label])
    )
    expect(
        answer.status_code == 422,
        f"priority 99: expected 422, got {answer.status_code}: {answer.content!r}",
    )
    error = answer.parsed
    expect(isinstance(error, ErrorBody), f"priority 99: expected an ErrorBody, got {error!r}")
    expect(
        error.code == ErrorCode.VALIDATION_FAILED,
        f"priority 99: code {error.code!r}, not validation_failed",
    )
    expect(error.field == "priority", f"priority 99: field {error.field!r}, not priority")
    # The same answer through the plain `sync` call: the error body, typed.
    error = submit_task.sync(
        client=client, body=SubmitTask(argv=["true"], priority=99, labels=[label])
    )
    expect(
        isinstance(error, ErrorBody) and error.code == ErrorCode.VALIDATION_FAILED,
        f"priority 99 (sync): expected a validation_failed ErrorBody, got {error!r}",
    )
    stored = list_tasks.sync(client=client, label=label)
    expect(isinstance(stored, TaskPage), f"list: expected a TaskPage, got {stored!r}")
    expect(stored.tasks == [], f"priority 99: tasks were stored: {stored.tasks!r}")


def check_not_found(client):
    """An id that names no task answers 404 `task_not_found`."""
    answer = show_task.sync_detailed(2**53, client=client)
    expect(answer.status_code == 404, f"missing task: expected 404, got {answer.status_code}")
    error = answer.parsed
    expect(
        isinstance(error, ErrorBody) and error.code == ErrorCode.TASK_NOT_FOUND,
        f"missing task: expected a task_not_found ErrorBody, got {error!r}",
    )


def main():
    url = os.environ.get("SWITCHYARD_URL")
    token = os.environ.get("SWITCHYARD_TOKEN")
    if not url or not token:
        print("python_client_test: set SWITCHYARD_URL and SWITCHYARD_TOKEN", file=sys.stderr)
        return 2
    # A wait of 30 s must not be cut short by the HTTP client's own timeout.
    client = AuthenticatedClient(
        base_url=url,
        token=token,
        timeout=httpx.Timeout(45.0),
        raise_on_unexpected_status=True,
    )
    label = f"pyclient-{uuid.uuid4().hex[:12]}"
    submitted = {}
    steps = [
        ("every generated module imports", import_every_module),
        ("submit a task", lambda: submitted.update(task=submit(client, label))),
        (
            "wait for its end with ?wait=30s",
            lambda: check_result(wait_for_end(client, submitted["task"].id)),
        ),
        ("read its output", lambda: check_output(client, submitted["task"].id)),
        ("list tasks by state", lambda: check_listing(client, submitted["task"].id, label)),
        (
            "a bad priority answers 422 validation_failed",
            lambda: check_validation_error(client, f"{label}-bad"),
        ),
        ("a missing task answers 404 task_not_found", lambda: check_not_found(client)),
    ]
    passed = 0
    failed = 0
    with client:
        for name, step in steps:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - any failure is reported, then the run fails
                print(f"FAIL {name}: {type(error).__name__}: {error}")
                failed += 1
                # Later steps read the task the earlier ones submitted.
                break
            print(f"ok   {name}")
            passed += 1
    print(f"python client: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
