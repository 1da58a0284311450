"""The job lifecycle in one process: a retried job, a delayed one, progress, a dead
letter, a group limit. Needs a manager with the lifecycle (PROTOCOL §14).
Run: python3 examples/lifecycle.py [ENDPOINT]"""
import sys

from proletariat import Client, Job, ProletariatError, Retry, Worker

endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:1917"
tries = {}


def handler(job):
    n = job.args["n"]
    if job.args.get("flaky"):
        tries[n] = tries.get(n, 0) + 1
        if tries[n] < 3:
            raise ProletariatError("EBUSY", "busy, try again")  # retried by the manager
    if job.args.get("broken"):
        raise ProletariatError("EBUSY", "never works")
    for percent in (50, 100):
        job.progress({"percent": percent})  # to the client's progress callback
    return n * 2


with Worker(endpoint, slots=4, handler=handler) as worker, Client(endpoint) as client:
    worker.wait_ready(5)
    retry = Retry(3, codes=["EBUSY"], initial=0.05)  # 3 retries of EBUSY, backoff from 50 ms
    result = client.work({"n": 1, "flaky": True}, retry=retry, timeout=10)
    print("flaky:", result.value(), "after", result.attempts, "attempts")

    print("delayed:", client.call({"n": 2}, delay=0.2, timeout=10))  # queues 0.2 s later

    stream = client.work_individual([{"n": 3}], progress=lambda index, data: print("progress:", data), timeout=10)
    for index, result in stream:
        print("result:", result.value())

    result = client.work({"n": 4, "broken": True}, retry=Retry(1, codes=["EBUSY"], initial=0.05), timeout=10)
    letters = client.dead_letters()["letters"]  # the job's dead letter, newest first
    print("dead:", result.err.code, [(letter["err"]["code"], letter["attempts"]) for letter in letters])
    print("payload:", client.show_dead_letters([letters[0]["id"]])["letters"][0]["payload"])
    print("purged:", client.purge_dead_letters(all=True)["purged"])

    client.set_group_limits("tenant-7", max_running=1)  # one job of the group at a time
    results = client.work([Job({"n": n}, group="tenant-7") for n in range(3)], timeout=10)
    print("grouped:", [r.value() for r in results])
    limits = [g for g in client.group_limits()["groups"] if g["group"] == "tenant-7"]
    print("limit:", limits[0]["maxRunning"])
