"""The README's examples run as written against a real manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import PACKAGE_ROOT, WAIT, wait_for

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
