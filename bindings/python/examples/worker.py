"""A worker that squares numbers. Run: python3 examples/worker.py [ENDPOINT]"""
import sys
from proletariat import Worker
worker = Worker(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:1917", slots=8)

@worker.handler
def square(job):
    return {"n": job.args["n"], "square": job.args["n"] ** 2}

worker.run_forever()  # until Ctrl-C
