"""A CPU-bound function for the process-pool test (importable by pool processes)."""

import time


def burn(seconds: float) -> int:
    """Spins for `seconds` of pure Python, holding the GIL of its process."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n
