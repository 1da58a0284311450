"""Cross-language interop: C++, Python and Node.js peers on one proletariatd.

- a Python worker serving the C++ client (examples/submit_job);
- a Node.js worker serving a Python client (JSON, errors with codes, raw bytes);
- the C++ test worker serving a Node.js client, and examples/worker_pool serving a
  Node.js and a Python client at once;
- priority guarantees (SPEC §3) holding with workers and clients of mixed languages;
- a broadcast system message (SPEC §6) reaching a Python, a Node.js and a C++ peer,
  sent from each language in turn.

Every result is checked for its value and for the language of the worker that made it
(each worker writes its language into its answer), and the manager's STATUS is
checked for the language each peer registered with.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Optional, Set

import pytest
from conftest import WAIT, Cluster, cpp_program, parse_json_lines, wait_for

import proletariat


def by_id(entries: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {entry["id"]: entry for entry in entries}


def worker_in_status(cluster: Cluster, peer_id: str) -> Dict[str, Any]:
    workers = by_id(cluster.status()["workers"])
    assert peer_id in workers, f"worker {peer_id} is not in the manager's status: {sorted(workers)}"
    return workers[peer_id]


# --------------------------------------------------------------------------------------
# A Python worker serving a C++ client
# --------------------------------------------------------------------------------------


def test_python_worker_serves_cpp_client(cluster: Cluster) -> None:
    seen: List[proletariat.WorkerJob] = []
    gate = threading.Event()

    def handle(job: proletariat.WorkerJob) -> Any:
        seen.append(job)
        # Keep the jobs running until the test has looked at the manager's status.
        while not gate.wait(0.005):
            if job.cancelled.is_set():
                return None
        a, b = job.args["a"], job.args["b"]
        return {"worker": "python", "sum": a + b, "args": job.args}

    worker = cluster.python_worker(slots=4, threads=4, name="interop-py-worker", handler=handle)
    client = cluster.spawn("submit_job", [cpp_program("examples/submit_job"), cluster.endpoint])

    wait_for(lambda: len(seen) == 3, "the Python worker to start the three jobs of the C++ client")
    status = cluster.status()
    assert by_id(status["workers"])[worker.id]["lang"] == "python", status["workers"]
    client_ids = {job.client for job in seen}
    assert len(client_ids) == 1, f"the three jobs name several clients: {client_ids}"
    (client_id,) = client_ids
    clients = by_id(status["clients"])
    assert client_id in clients, f"the jobs' client {client_id} is not in the manager's status: {status['clients']}"
    assert clients[client_id]["lang"] == "c++", f"the jobs' client registered as {clients[client_id]['lang']!r}"
    assert [job.priority for job in seen] == [1, 1, 1], "submit_job pushes with priority 1"
    gate.set()

    assert client.wait_exit("submit_job to print its results and exit") == 0, client.describe()
    results = parse_json_lines(client.matching(r"result (.*)$"))
    assert results == [
        {"worker": "python", "sum": 3, "args": {"a": 1, "b": 2}},
        {"worker": "python", "sum": 7, "args": {"a": 3, "b": 4}},
        {"worker": "python", "sum": 11, "args": {"a": 5, "b": 6}},
    ], client.describe()
    assert not client.matching(r"error "), client.describe()


# --------------------------------------------------------------------------------------
# A Node.js worker serving a Python client
# --------------------------------------------------------------------------------------


def test_node_worker_serves_python_client(cluster: Cluster) -> None:
    node = cluster.node("node_worker.js", json.dumps({"slots": 4}))
    (ready,) = node.wait_line(r"ready (\S+)$", "the Node.js worker's offer to be accepted")
    node_id = ready.group(1)
    entry = worker_in_status(cluster, node_id)
    assert entry["lang"] == "node" and entry["slots"] == 4, entry

    client = cluster.python_client("interop-py-client")
    unicode_job: Dict[str, Any] = {"text": "héllo, товарищ ✓", "nested": [1, 2.5, None, True, {"deep": []}]}
    raw_job = b"\x00\x01\xfe\xffproletariat\n"
    results: Any = client.work(
        [{"a": 1, "b": 2}, {"a": 10, "b": -3.5}, unicode_job, {"fail": "ENOTFOUND"}, raw_job],
        timeout=WAIT, priority=2.5,
    )

    assert [r.err for r in results[:3]] == [None, None, None], [r.err for r in results]
    assert results[0].data == {"worker": "node", "sum": 3, "args": {"a": 1, "b": 2}}
    assert results[1].data == {"worker": "node", "sum": 6.5, "args": {"a": 10, "b": -3.5}}
    assert results[2].data == {"worker": "node", "args": unicode_job}
    # An application error code given by the Node.js handler reaches Python unchanged.
    assert isinstance(results[3].err, proletariat.JobError), results[3]
    assert results[3].err.code == "ENOTFOUND", results[3].err
    assert "failed job" in results[3].err.message, results[3].err
    # Raw bytes travel both ways without base64: the Node.js worker reverses them.
    assert results[4].err is None, results[4].err
    assert results[4].data == raw_job[::-1], results[4].data

    started = node.wait_line(r"started (\d+) (\S+) (.*)$", "the Node.js worker to report its five jobs", count=5)
    assert sorted(float(m.group(2)) for m in started) == [2.5] * 5, "the priority reaches the Node.js worker"
    shown = {m.group(3) for m in started}
    assert raw_job.hex() in shown, f"the Node.js worker did not get the raw job as a Buffer: {shown}"


def test_node_worker_progress_and_retries_reach_a_python_client(cluster: Cluster) -> None:
    """PROTOCOL §14: a Node.js worker's progress reaches a Python client's progress
    callback before the result, and the C++ manager retries the attempts it fails."""
    node = cluster.node("node_worker.js", json.dumps({"slots": 2}))
    node.wait_line(r"ready (\S+)$", "the Node.js worker's offer to be accepted")
    client = cluster.python_client("interop-py-lifecycle")
    reports: List[Any] = []
    stream = client.work_individual(
        [{"progress": ["a", {"half": True}], "failBefore": 3}],
        timeout=WAIT, retry=proletariat.Retry(max=3, codes=["EBUSY"], initial=0.01, jitter=0),
        progress=lambda index, data: reports.append((index, data)))
    ((index, result),) = list(stream)
    assert index == 0 and result.err is None, result
    assert result.data == {"worker": "node", "args": {"progress": ["a", {"half": True}], "failBefore": 3}}
    assert result.attempts == 3, result
    # Two reports per attempt, in order, each naming the attempt that sent it.
    assert reports == [(0, {"attempt": n, "report": r}) for n in (1, 2, 3) for r in ("a", {"half": True})], reports


# --------------------------------------------------------------------------------------
# The C++ test worker serving a Node.js client
# --------------------------------------------------------------------------------------


def test_cpp_worker_serves_node_client(cluster: Cluster) -> None:
    worker = cluster.cpp_test_worker("--slots", "4", "--job-ms", "300")
    (ready,) = worker.wait_line(r"ready (\S+)$", "the C++ test worker's offer to be accepted")
    entry = worker_in_status(cluster, ready.group(1))
    assert entry["lang"] == "c++" and entry["slots"] == 4, entry

    jobs = [{"n": 0}, {"n": 1, "s": "ü ✓"}, [1, 2, 3], "plain text", 42.5, {"list": [None, False, {"x": -1}]}]
    node = cluster.node("node_client.js", json.dumps(jobs), json.dumps({"priority": 3, "timeout": int(WAIT * 1000)}))
    (id_line,) = node.wait_line(r"id (\S+)$", "the Node.js client to register")
    node_id = id_line.group(1)

    # While the C++ worker runs the first jobs, the manager knows the client as Node.js.
    def node_client_busy() -> Optional[Dict[str, Any]]:
        entry = by_id(cluster.status()["clients"]).get(node_id)
        return entry if entry and entry["outstanding"] > 0 else None

    entry = wait_for(node_client_busy, "the manager to list the Node.js client with outstanding jobs")
    assert entry["lang"] == "node", entry

    (done,) = node.wait_line(r"done (.*)$", "the Node.js client to receive every result")
    results = json.loads(done.group(1))
    assert results == [{"err": None, "data": {"worker": "c++", "args": job}} for job in jobs], node.describe()

    per_job = node.matching(r"result (\d+) (\d+) (.*)$")
    assert sorted(int(m.group(1)) for m in per_job) == list(range(len(jobs))), node.describe()
    started = {int(m.group(1)) for m in worker.matching(r"started (\d+)$")}
    assert started == {int(m.group(2)) for m in per_job}, \
        f"the C++ worker started jobs {sorted(started)}, the Node.js client got results for others\n{node.describe()}"
    assert node.wait_exit("the Node.js client to close and exit") == 0, node.describe()


def test_cpp_worker_pool_serves_node_and_python_clients_at_once(cluster: Cluster) -> None:
    """examples/worker_pool (C++, 16 slots, 4 kept for priority >= 5) answers a + b to a
    Node.js and a Python client at the same time, and fails a bad job with its code."""
    pool = cluster.spawn("worker_pool", [cpp_program("examples/worker_pool"), cluster.endpoint])

    def pool_offered() -> Optional[Dict[str, Any]]:
        workers = cluster.status()["workers"]
        return workers[0] if workers else None

    entry = wait_for(pool_offered, "examples/worker_pool to offer its slots")
    assert entry["lang"] == "c++" and entry["slots"] == 16, entry
    assert [(r["start"], r["slots"]) for r in entry["ranges"]] == [(0, 12), (5, 4)], entry

    node_jobs = [{"a": 1, "b": 2}, {"a": 2.5, "b": -1}, {"x": 1}]
    node = cluster.node("node_client.js", json.dumps(node_jobs), json.dumps({"priority": 5, "timeout": int(WAIT * 1000)}))
    py_client = cluster.python_client("interop-py-client")
    py_future = py_client.submit([{"a": n, "b": n * n} for n in range(10)], priority=0, timeout=WAIT)

    (done,) = node.wait_line(r"done (.*)$", "the Node.js client's results from the C++ worker pool")
    node_results = json.loads(done.group(1))
    assert [r["data"] for r in node_results[:2]] == [3, 1.5] and node_results[0]["err"] is None, node_results
    assert node_results[2]["data"] is None and node_results[2]["err"]["code"] == "EBADARGS", node_results
    py_results = py_future.result(WAIT)
    assert [(r.err, r.data) for r in py_results] == [(None, n + n * n) for n in range(10)]
    assert pool.process.poll() is None, f"worker_pool exited\n{pool.describe()}"


# --------------------------------------------------------------------------------------
# Priority guarantees across languages
# --------------------------------------------------------------------------------------

LOW, HIGH = 0, 7
SLOTS, GUARANTEED = 4, 2  # pool 0 has SLOTS - GUARANTEED = 2 slots; pool 5 has 2


def check_ranges(worker_entry: Dict[str, Any], used_low: int, used_high: int) -> None:
    ranges = {r["start"]: r for r in worker_entry["ranges"]}
    assert set(ranges) == {0, 5}, worker_entry
    assert ranges[0]["slots"] == SLOTS - GUARANTEED and ranges[5]["slots"] == GUARANTEED, worker_entry
    assert (ranges[0]["used"], ranges[5]["used"]) == (used_low, used_high), worker_entry


def settled(cluster: Cluster, running: int, queued: Dict[str, int]):  # type: ignore[no-untyped-def]
    """A condition: the manager runs `running` jobs and queues `queued` per priority."""

    def check() -> Optional[Dict[str, Any]]:
        status = cluster.status()
        if status["running"] == running and status["queuedByPriority"] == queued:
            return status
        return None

    return check


def test_priority_guarantees_python_worker_python_and_node_clients(cluster: Cluster) -> None:
    """A Python worker (slots 4, {5: 2}) whose jobs block until released: six
    priority-0 jobs of a Python client never hold more than 2 slots, and the three
    priority-7 jobs of a Node.js client get the 2 guaranteed slots at once."""
    lock = threading.Lock()
    release = threading.Event()
    running: Dict[int, float] = {}
    order: List[float] = []  # priorities in the order the jobs started
    peaks = {"low": 0, "high": 0, "total": 0}

    def handle(job: proletariat.WorkerJob) -> Any:
        with lock:
            running[job.id] = job.priority
            order.append(job.priority)
            low = sum(1 for p in running.values() if p < 5)
            peaks["low"] = max(peaks["low"], low)
            peaks["high"] = max(peaks["high"], len(running) - low)
            peaks["total"] = max(peaks["total"], len(running))
        try:
            while not release.wait(0.005):
                if job.cancelled.is_set():
                    return None
            return {"worker": "python", "priority": job.priority, "args": job.args}
        finally:
            with lock:
                running.pop(job.id, None)

    worker = cluster.python_worker(slots=SLOTS, priority_slots={5: GUARANTEED}, threads=SLOTS,
                                   name="interop-py-prio", handler=handle)
    cluster.cleanups.append(release.set)

    low_client = cluster.python_client("interop-py-low")
    low_jobs = [{"low": i} for i in range(6)]
    low_future = low_client.submit(low_jobs, priority=LOW, timeout=3 * WAIT)

    status = wait_for(settled(cluster, 2, {str(LOW): 4}),
                      "2 low-priority jobs running and 4 queued (pool 0 holds 2 slots)")
    entry = by_id(status["workers"])[worker.id]
    assert entry["lang"] == "python" and entry["running"] == 2, entry
    check_ranges(entry, used_low=2, used_high=0)
    assert status["freeSlots"] == 2, status  # free, but only for priority >= 5
    assert {w["reason"] for w in status["waiting"]} == {"no_free_slot"}, status["waiting"]
    wait_for(lambda: len(running) == 2, "the Python worker to run the 2 low-priority jobs")

    high_jobs = [{"high": i} for i in range(3)]
    node = cluster.node("node_client.js", json.dumps(high_jobs),
                        json.dumps({"priority": HIGH, "timeout": int(3 * WAIT * 1000)}))
    status = wait_for(settled(cluster, 4, {str(LOW): 4, str(HIGH): 1}),
                      "the Node.js client's high-priority jobs to take the 2 guaranteed slots")
    entry = by_id(status["workers"])[worker.id]
    assert entry["running"] == 4, entry
    check_ranges(entry, used_low=2, used_high=2)
    assert status["freeSlots"] == 0, status
    wait_for(lambda: len(running) == 4, "the Python worker to run 2 low- and 2 high-priority jobs")
    with lock:
        assert sorted(running.values()) == [LOW, LOW, HIGH, HIGH], running
    node_id = node.wait_line(r"id (\S+)$", "the Node.js client to register")[0].group(1)
    langs = {c["id"]: c["lang"] for c in status["clients"]}
    assert langs == {low_client.id: "python", node_id: "node"}, status["clients"]

    release.set()
    (done,) = node.wait_line(r"done (.*)$", "the Node.js client's results")
    assert json.loads(done.group(1)) == [
        {"err": None, "data": {"worker": "python", "priority": HIGH, "args": job}} for job in high_jobs
    ], node.describe()
    low_results = low_future.result(WAIT)
    assert [(r.err, r.data) for r in low_results] == [
        (None, {"worker": "python", "priority": LOW, "args": job}) for job in low_jobs
    ]

    assert peaks["low"] == 2, f"low-priority jobs held {peaks['low']} slots at once; the limit is 2"
    assert peaks["high"] == 2 and peaks["total"] == SLOTS, peaks
    # Higher priorities are served first: the queued high-priority job started before
    # the 4 queued low-priority ones.
    assert order[4] == HIGH and order[5:] == [LOW] * 4, f"start order by priority: {order}"


def test_priority_guarantees_node_worker_cpp_and_python_clients(cluster: Cluster) -> None:
    """The same guarantees with a Node.js worker (slots 4, prioritySlots {5: 2}) that
    holds its jobs until told, priority-0 jobs from the C++ admin tool
    (proletariat-ctl submit) and priority-7 jobs from a Python client."""
    node = cluster.node("node_worker.js", json.dumps({"slots": SLOTS, "prioritySlots": {"5": GUARANTEED}, "hold": True}))
    (ready,) = node.wait_line(r"ready (\S+)$", "the Node.js worker's offer to be accepted")
    node_id = ready.group(1)

    low_jobs = [{"low": i} for i in range(6)]
    ctl = cluster.spawn("proletariat-ctl submit", [
        cpp_program("ctl/proletariat-ctl"), "--endpoint", cluster.endpoint,
        "submit", "--priority", str(LOW), "--timeout", str(int(3 * WAIT * 1000)),
    ])
    assert ctl.process.stdin is not None
    ctl.process.stdin.write("".join(json.dumps(job) + "\n" for job in low_jobs))
    ctl.process.stdin.close()

    status = wait_for(settled(cluster, 2, {str(LOW): 4}),
                      "2 low-priority jobs (from proletariat-ctl) running and 4 queued")
    entry = by_id(status["workers"])[node_id]
    assert entry["lang"] == "node" and entry["running"] == 2, entry
    check_ranges(entry, used_low=2, used_high=0)
    assert [c["lang"] for c in status["clients"] if c["outstanding"] == 6] == ["c++"], status["clients"]

    high_client = cluster.python_client("interop-py-high")
    high_jobs = [{"high": i} for i in range(3)]
    high_future = high_client.submit(high_jobs, priority=HIGH, timeout=3 * WAIT)
    status = wait_for(settled(cluster, 4, {str(LOW): 4, str(HIGH): 1}),
                      "the Python client's high-priority jobs to take the 2 guaranteed slots")
    check_ranges(by_id(status["workers"])[node_id], used_low=2, used_high=2)

    started = node.wait_line(r"started (\d+) (\S+) ", "the Node.js worker to start 4 jobs", count=4)
    assert sorted(float(m.group(2)) for m in started) == [LOW, LOW, HIGH, HIGH], node.describe()

    node.send("release")
    high_results = high_future.result(WAIT)
    assert [(r.err, r.data) for r in high_results] == [(None, {"worker": "node", "args": job}) for job in high_jobs]
    assert ctl.wait_exit("proletariat-ctl submit to print every result") == 0, ctl.describe()
    lines = parse_json_lines(ctl.matching(r"(\{.*)$"))
    assert lines == [{"index": i, "err": None, "data": {"worker": "node", "args": job}} for i, job in enumerate(low_jobs)], \
        ctl.describe()

    # Replay the worker's own log: started/answered lines in the order they happened.
    events = node.matching(r"(started|answered) (\d+)(?: (\S+))?")
    priority_of: Dict[int, float] = {}
    live: Set[int] = set()
    peak_low = 0
    start_order: List[float] = []
    for m in events:
        job_id = int(m.group(2))
        if m.group(1) == "started":
            priority_of[job_id] = float(m.group(3))
            start_order.append(priority_of[job_id])
            live.add(job_id)
            peak_low = max(peak_low, sum(1 for j in live if priority_of[j] < 5))
            assert len(live) <= SLOTS, f"the Node.js worker ran {len(live)} jobs at once\n{node.describe()}"
        else:
            live.discard(job_id)
    assert len(priority_of) == 9 and not live, node.describe()
    assert peak_low == 2, f"low-priority jobs held {peak_low} slots at once; the limit is 2\n{node.describe()}"
    assert start_order[4] == HIGH and start_order[5:] == [LOW] * 4, f"start order by priority: {start_order}"


# --------------------------------------------------------------------------------------
# A broadcast system message reaching peers of all three languages
# --------------------------------------------------------------------------------------

MESSAGE = {"op": "reload", "n": 42, "ratio": 3.25, "text": "привет, ✓", "list": [1, None, True, {"x": "y"}]}


@pytest.mark.parametrize("sender", ["python", "node", "c++"])
def test_broadcast_reaches_python_node_and_cpp_peers(cluster: Cluster, sender: str) -> None:
    received: List[Any] = []
    py_peer = cluster.python_client("interop-py-peer")
    py_peer.on_sysmsg(lambda content, sender_id: received.append((sender_id, content)))
    node_peer = cluster.node("node_peer.js", "listen")
    cpp_worker = cluster.cpp_test_worker("--slots", "1")
    node_id = node_peer.wait_line(r"ready (\S+)$", "the Node.js peer to register")[0].group(1)
    cpp_id = cpp_worker.wait_line(r"ready (\S+)$", "the C++ test worker to register")[0].group(1)
    receivers = {py_peer.id, node_id, cpp_id}
    assert len(receivers) == 3, receivers

    text = json.dumps(MESSAGE, ensure_ascii=False)
    sender_id: Optional[str] = None
    if sender == "python":
        py_sender = cluster.python_client("interop-py-sender")
        sender_id = py_sender.id
        sent_to, received_by = py_sender.system_message(MESSAGE, timeout=WAIT)
    elif sender == "node":
        node_sender = cluster.node("node_peer.js", "send", text)
        sender_id = node_sender.wait_line(r"ready (\S+)$", "the Node.js sender to register")[0].group(1)
        (done,) = node_sender.wait_line(r"sysdone (\d+) (\d+)$", "the Node.js sender's receipt")
        sent_to, received_by = int(done.group(1)), int(done.group(2))
        assert node_sender.wait_exit("the Node.js sender to exit") == 0, node_sender.describe()
    else:
        ctl = cluster.spawn("proletariat-ctl sysmsg", [
            cpp_program("ctl/proletariat-ctl"), "--endpoint", cluster.endpoint, "sysmsg", text])
        assert ctl.wait_exit("proletariat-ctl sysmsg to exit") == 0, ctl.describe()
        (receipt_line,) = ctl.matching(r"(\{.*\})$")
        receipt = json.loads(receipt_line.group(1))
        sent_to, received_by = receipt["sentTo"], receipt["receivedBy"]

    assert (sent_to, received_by) == (3, 3), \
        f"the {sender} sender's receipt says sentTo={sent_to} receivedBy={received_by}; 3 peers were registered"

    wait_for(lambda: received, "the Python peer's sysmsg handler")
    (node_line,) = node_peer.wait_line(r"sysmsg (\S+) (.*)$", "the Node.js peer to print the message")
    (cpp_line,) = cpp_worker.wait_line(r"sysmsg (\S+) (.*)$", "the C++ test worker to print the message")
    got = {
        "python": received,
        "node": [(node_line.group(1), json.loads(node_line.group(2)))],
        "c++": [(cpp_line.group(1), json.loads(cpp_line.group(2)))],
    }
    for language, messages in got.items():
        assert len(messages) == 1, f"the {language} peer got {len(messages)} messages: {messages}"
        assert messages[0][1] == MESSAGE, f"the {language} peer got another content: {messages[0][1]}"
    senders = {messages[0][0] for messages in got.values()}
    assert len(senders) == 1, f"the peers disagree on the sender: {got}"
    (seen_from,) = senders
    if sender_id is not None:
        assert seen_from == sender_id, f"the peers name {seen_from} as the sender, not the {sender} sender {sender_id}"
    else:  # proletariat-ctl does not print its id: it is some other peer, not the manager
        assert seen_from not in receivers | {"MANAGER", ""}, seen_from
