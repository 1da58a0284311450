"""The peers that put the dashboard under load: one worker or one client per process.

    load.py worker ENDPOINT NAME SLOTS [--service S] [--priority-slots START:N] [--sleep-ms MS]
    load.py client ENDPOINT [--in-flight N] [--orphans N] [--delayed N] [--dead N]

A worker's handler sleeps --sleep-ms (30 ms by default), so that jobs are seen running
and queued; a job whose args say {"fail": true} fails (EHANDLER), so "failed" moves too.

The client keeps about --in-flight jobs unfinished, a third of each of three kinds:
priority 0 naming no service, priority 2 naming no service, and priority 1 for the
service "render". Before those it pushes --orphans jobs for the service "gpu", which no worker
offers, at priority 5: they wait for the whole run with the reason
no_worker_for_service, at the head of STATUS's waiting list (highest priority first).

Each process runs until its stdin is closed (the test holds the other end, so a test run
that dies takes its peers with it) or it gets SIGTERM. Separate processes, so that the
handlers' threads and the client's do not share one interpreter lock with the test.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import signal
import sys
import threading
import time

from proletariat import Client, Job, Worker

#: Jobs in one push of the client: small enough that the in-flight count stays near its
#: target, large enough that the client's thread is not the bottleneck.
BATCH = 20
#: Every FAIL_EVERY-th job of the client fails on purpose.
FAIL_EVERY = 40
#: The client's batch kinds, in turn: (priority, service).
KINDS = ((0, None), (2, None), (1, "render"))


def stop_on_stdin_close_or_sigterm() -> threading.Event:
    stop = threading.Event()

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def run_worker(args: argparse.Namespace, stop: threading.Event) -> None:
    priority_slots = None
    if args.priority_slots:
        start, slots = args.priority_slots.split(":")
        priority_slots = {float(start): int(slots)}
    worker = Worker(args.endpoint, slots=args.slots, priority_slots=priority_slots, name=args.name,
                    threads=args.slots, system_messages=False)
    sleep_s = args.sleep_ms / 1000.0

    def handle(job):  # type: ignore[no-untyped-def]
        time.sleep(sleep_s)
        if isinstance(job.args, dict) and job.args.get("fail"):
            raise ValueError(f"job {job.args.get('n')} fails on purpose")
        return {"n": job.args.get("n") if isinstance(job.args, dict) else None}

    if args.service:
        worker.on_work(handle, args.service)
    else:
        worker.on_work(handle)
    worker.start()
    stop.wait()
    worker.stop(drain_timeout=0)


def run_client(args: argparse.Namespace, stop: threading.Event) -> None:
    client = Client(args.endpoint, name="dashboard-load", system_messages=False)
    if args.orphans:
        client.submit([Job({"n": -i}, service="gpu") for i in range(args.orphans)], priority=5)
    # Jobs due in an hour wait all along (STATUS "delayed"); failing jobs without retries
    # left become dead letters at once (PROTOCOL §14).
    if args.delayed:
        client.submit([Job({"n": -1000 - i}) for i in range(args.delayed)], delay=3600)
    if args.dead:
        # At the orphans' priority: the load keeps priorities 0 to 2 busy all along.
        client.submit([Job({"n": -2000 - i, "fail": True}) for i in range(args.dead)], priority=5, retry=0)
    numbers = itertools.count()
    # Each kind keeps its own share in flight: with one pool, the batches of the kind
    # whose workers are slower would take it over, and the "render" worker would idle.
    share = max(BATCH, args.in_flight // len(KINDS))
    in_flight = {kind: set() for kind in KINDS}
    while not stop.is_set():
        for (priority, service), futures in in_flight.items():
            while len(futures) * BATCH < share:
                jobs = []
                for _ in range(BATCH):
                    n = next(numbers)
                    jobs.append(Job({"n": n, "fail": n % FAIL_EVERY == FAIL_EVERY - 1}, service=service))
                futures.add(client.submit(jobs, priority=priority))
        everything = set().union(*in_flight.values())
        concurrent.futures.wait(everything, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED)
        for futures in in_flight.values():
            futures.difference_update([f for f in futures if f.done()])
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = parser.add_subparsers(dest="role", required=True)
    worker = roles.add_parser("worker")
    worker.add_argument("endpoint")
    worker.add_argument("name")
    worker.add_argument("slots", type=int)
    worker.add_argument("--service")
    worker.add_argument("--priority-slots", help="START:N, a guarantee of N slots for the range from START")
    worker.add_argument("--sleep-ms", type=float, default=30.0)
    client = roles.add_parser("client")
    client.add_argument("endpoint")
    client.add_argument("--in-flight", type=int, default=300)
    client.add_argument("--orphans", type=int, default=12)
    client.add_argument("--delayed", type=int, default=0)
    client.add_argument("--dead", type=int, default=0)
    args = parser.parse_args()
    stop = stop_on_stdin_close_or_sigterm()
    (run_worker if args.role == "worker" else run_client)(args, stop)


if __name__ == "__main__":
    main()
