"""Losing and regaining the manager: SIGKILL and restart (silence or ENOHELLO), SIGTERM
(BYE), keep_state re-pushes, ECONNLOST without it, running jobs cancelled."""

from __future__ import annotations

import pytest

from conftest import WAIT, wait_for
from proletariat import ECONNLOST


@pytest.mark.parametrize("kill", [True, False], ids=["sigkill", "sigterm-bye"])
def test_peers_survive_a_manager_restart(daemon, make_worker, make_client, kill):
    reasons = []
    runs = []

    def handler(job):
        first_run = job.args not in runs
        runs.append(job.args)
        if first_run and job.args != "again":  # hold the slot until the session is lost
            job.cancelled.wait(WAIT)
            reasons.append(job.cancel_reason)
            return "lost"
        return f"done {job.args}"

    worker = make_worker(handler, slots=4)
    keeper = make_client(keep_state=True)
    plain = make_client()
    kept = keeper.submit("kept", timeout=3 * WAIT)
    dropped = plain.submit("dropped", timeout=3 * WAIT)
    wait_for(lambda: sorted(runs) == ["dropped", "kept"], "both jobs to run")
    old_ids = (worker.id, keeper.id, plain.id)

    daemon.restart(kill=kill)

    # Without keep_state the job fails; the worker cancelled what it was running.
    assert dropped.result(WAIT).err.code == ECONNLOST
    wait_for(lambda: sorted(reasons) == ["reconnect", "reconnect"], "the worker to cancel its jobs")
    # Everyone registers again (new ids), the worker re-offers, the keeper re-pushes.
    assert kept.result(WAIT).value() == "done kept"
    assert worker.wait_ready(WAIT) and plain.wait_connected(WAIT)
    assert (worker.id, keeper.id, plain.id) != old_ids
    assert plain.work("again", timeout=WAIT).value() == "done again"
    assert sorted(runs) == ["again", "dropped", "kept", "kept"]


def test_requests_made_while_the_manager_is_away_wait_for_it(daemon, make_client):
    client = make_client()
    daemon.kill()
    wait_for(lambda: not client.connected, "the client to notice the silent manager")
    future = client.system_message_future("hello", to="MANAGER")
    with pytest.raises(TimeoutError):
        client.status(timeout=0.2)
    daemon.start()
    assert future.result(WAIT) == (1, 1)
    assert client.status(timeout=WAIT)["running"] == 0
