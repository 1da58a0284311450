"""Takes docs/images/dashboard.png: the dashboard under the browser tests' load.

    PYTHONPATH=bindings/python /usr/bin/python3 tests/browser/screenshot.py [--polls N] [--out FILE]

Starts the same daemon and peers as tests/browser (harness.py: two workers of four
slots, a client keeping 300 jobs in flight at three priorities, twelve jobs for a service
nobody offers), opens the dashboard in headless Chromium 1400 pixels wide, waits for N
polls (30 by default, so the throughput chart has a history), and saves the whole page.
The daemon is $PROLETARIAT_DAEMON, else <repo>/build/broker/proletariatd.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import harness

WIDTH = 1400


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=30, help="polls of the page to wait for [30]")
    parser.add_argument("--out", type=pathlib.Path, default=harness.REPO / "docs" / "images" / "dashboard.png")
    args = parser.parse_args()

    daemon, load = harness.start_all()
    try:
        driver = harness.chrome(WIDTH, 1000)
        try:
            page = harness.Dashboard(driver, daemon)
            if page.assets_refused:
                sys.exit(f"screenshot: the daemon refused the page's own {page.assets_refused}")
            page.wait_for_polls(args.polls, timeout=args.polls * 2.0 + harness.WAIT)
            # The whole page: as tall as its content (the waiting list scrolls inside it).
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.set_window_size(WIDTH, height)
            inner = int(driver.execute_script("return window.innerHeight"))
            if inner < height:  # the window's own frame takes some of its height
                driver.set_window_size(WIDTH, 2 * height - inner)
            page.wait_for_polls(1)  # drawn at the new size
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(args.out)):
                print(f"could not write {args.out}", file=sys.stderr)
                return 1
        finally:
            driver.quit()
    finally:
        load.stop()
        daemon.stop()
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
