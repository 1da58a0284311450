"""Losing and regaining the manager: SIGKILL and restart (silence or ENOHELLO), SIGTERM
(BYE), keep_state re-pushes, ECONNLOST without it, running jobs cancelled."""

from __future__ import annotations

import pytest

from conftest import RETRY, RETRY_AFTER_BYE, WAIT, daemon_has_flag, wait_for
from proletariat import ECONNLOST

# A manager that drains on SIGTERM (PROTOCOL §12) would wait for the jobs this test
# holds until their session is lost: with no drain time it says BYE at once.
_NO_DRAIN = pytest.mark.daemon_args("--drain-timeout", "0") if daemon_has_flag("--drain-timeout") else ()


@pytest.mark.parametrize("kill", [True, pytest.param(False, marks=_NO_DRAIN)], ids=["sigkill", "sigterm-bye"])
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

    retry = RETRY if kill else RETRY_AFTER_BYE
    worker = make_worker(handler, slots=4, con_retry_time=retry)
    keeper = make_client(keep_state=True, con_retry_time=retry)
    plain = make_client(con_retry_time=retry)
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
