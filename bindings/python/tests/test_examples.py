"""The README's examples run as written against a real manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from conftest import PACKAGE_ROOT, WAIT, daemon_has_flag, wait_for

EXAMPLES = PACKAGE_ROOT / "examples"


def test_example_worker_and_client(daemon):
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    worker = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "worker.py"), daemon.endpoint],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # The worker is ready once the manager lists it.
        from proletariat import Client

        with Client(daemon.endpoint) as probe:
            wait_for(lambda: probe.status(timeout=WAIT)["totalSlots"] == 8, "the example worker's offer")
        client = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), daemon.endpoint],
            env=env, capture_output=True, text=True, timeout=3 * WAIT,
        )
        assert client.returncode == 0, client.stderr
        lines = client.stdout.splitlines()
        assert lines[:10] == [str({"n": n, "square": n * n}) for n in range(10)]
        assert lines[10] == "status: 10 jobs finished on the manager"
        worker.send_signal(signal.SIGINT)  # Ctrl-C: run_forever() stops cleanly
        out, _ = worker.communicate(timeout=WAIT)
        assert worker.returncode == 0, out
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(WAIT)


@pytest.mark.skipif(not daemon_has_flag("--group-max-running"),
                    reason="the build's proletariatd --help does not mention --group-max-running (no job lifecycle yet)")
def test_example_lifecycle(daemon):
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "lifecycle.py"), daemon.endpoint],
        env=env, capture_output=True, text=True, timeout=6 * WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "flaky: 2 after 3 attempts",
        "delayed: 4",
        "progress: {'percent': 50}",
        "progress: {'percent': 100}",
        "result: 6",
        "dead: EBUSY [('EBUSY', 2)]",
        "payload: {'n': 4, 'broken': True}",
        "purged: 1",
        "grouped: [0, 2, 4]",
        "limit: 1",
    ]


def test_the_readme_shows_the_lifecycle_example_as_it_is():
    readme = (PACKAGE_ROOT / "README.md").read_text(encoding="utf-8")
    example = (EXAMPLES / "lifecycle.py").read_text(encoding="utf-8")
    assert f"```python\n{example}```" in readme
