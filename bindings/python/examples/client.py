"""A client that asks for ten squares. Run: python3 examples/client.py [ENDPOINT]"""
import sys
from proletariat import Client

with Client(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:1917") as client:
    results = client.work([{"n": n} for n in range(10)], timeout=10)
    for result in results:
        print(result.value() if result.ok else f"failed: {result.err}")
    print("status:", client.status()["finished"], "jobs finished on the manager")
