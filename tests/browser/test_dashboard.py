"""The dashboard in a real browser (issue 13, item 3): headless Chromium on a real
proletariatd whose HTTP endpoint wants a token, while two workers and a client (load.py,
separate processes) keep jobs running, queued and finishing.

What the page shows is held to STATUS read over HTTP: numbers that do not move under
this load (workers, slots, ranges) must be equal; counters that move must lie between a
STATUS read before the poll the page shows and one read after it. Every wait is for a
condition (the page's data-sequence, a STATUS field), never a fixed time.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable, Dict, Optional, Tuple

import pytest

import harness
from harness import ORPHANS, WAIT, number

# Skipped, and said so, where scripts/setup.sh has not installed the browser's parts.
pytest.importorskip("selenium", reason="python3-selenium is not installed (scripts/setup.sh)")
pytest.importorskip("prometheus_client", reason="python3-prometheus-client is not installed (scripts/setup.sh)")
if not os.access(harness.CHROMEDRIVER, os.X_OK):
    pytest.skip(f"no {harness.CHROMEDRIVER}: chromium-driver is not installed (scripts/setup.sh)",
                allow_module_level=True)

from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

#: Console lines that are not the dashboard's fault: none (the daemon answers the
#: browser's /favicon.ico with 204).
KNOWN_CONSOLE: tuple = ()


def decimal(text: str) -> float:
    """A priority or a range start as the page shows it (1,234.5)."""
    return float(text.replace(",", ""))


def slash(text: str) -> Tuple[int, int]:
    """"12 / 34" -> (12, 34)."""
    used, total = text.split(" / ")
    return number(used), number(total)


def check_console(dashboard: harness.Dashboard, expected: Callable[[Dict[str, Any]], bool] = lambda e: False) -> None:
    """No error or warning in the console since the last check, but the known and the
    `expected` ones."""
    unexpected = [entry for entry in dashboard.console()
                  if entry.get("level") in ("SEVERE", "WARNING")
                  and not any(p.search(str(entry.get("message", ""))) for p in KNOWN_CONSOLE)
                  and not dashboard.is_refused_asset(entry) and not expected(entry)]
    assert not unexpected, f"the browser console has errors: {unexpected}"


def sandwich(dashboard: harness.Dashboard, daemon: harness.Daemon) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """(STATUS before, the page, STATUS after), the page showing a poll that started
    after `before` was read: the poll that was in flight when `before` was read may
    still land after it, so the one after that is awaited (polls do not overlap: the
    next starts when the last is shown)."""
    before = daemon.status()
    start = dashboard.sequence()
    dashboard.wait_for_polls(2, after=start)
    page = dashboard.read()
    after = daemon.status()
    assert page["sequence"] >= start + 2
    return before, page, after


def stable(s: Dict[str, Any]) -> Dict[str, Any]:
    """What does not move in STATUS under this load."""
    return {
        "workers": [(w["id"], w["name"], w["slots"], ", ".join(w["services"]) or "(none)") for w in s["workers"]],
        "totalSlots": s["totalSlots"],
        "ranges": [(float(r["start"]), r["limit"], r["workers"]) for r in s["ranges"]],
    }


def test_the_page_loads_its_script_and_style_with_the_token_in_its_url(dashboard: harness.Dashboard) -> None:
    # The path an operator takes: http://HOST:PORT/?token=TOKEN, nothing else.
    assert not dashboard.assets_refused, (
        f"the daemon refused the page's own script or style sheet: {dashboard.assets_refused} ((path, HTTP status)); "
        "a browser sends no token with <script src> or <link href>, so the dashboard stays empty")
    assert dashboard.sequence() >= 1
    check_console(dashboard)


def test_numbers_that_do_not_move_equal_status(dashboard: harness.Dashboard, daemon: harness.Daemon) -> None:
    before, page, after = sandwich(dashboard, daemon)
    assert stable(before) == stable(after), "the load changed workers or ranges while the page was read"
    want = stable(before)

    assert number(page["totals"]["workers"]) == len(before["workers"]) == 2
    used, total = slash(page["totals"]["slots"])
    assert total == want["totalSlots"] == 2 * harness.WORKER_SLOTS
    assert 0 <= used <= total

    rows = page["workers"]
    shown = [(row[0], row[1], slash(row[5])[1], row[6]) for row in rows]
    assert shown == want["workers"]
    assert [row[2] for row in rows] == ["python", "python"]
    assert all(0 <= slash(row[5])[0] <= slash(row[5])[1] for row in rows)
    assert sum(slash(row[5])[0] for row in rows) == used, "slots used is not the sum of the workers' running jobs"

    ranges = [(decimal(row[0]), slash(row[2])[1], number(row[3])) for row in page["ranges"]]
    assert ranges == want["ranges"]
    assert [r[0] for r in ranges] == [0.0, 2.0], "worker-a guarantees slots from priority 2: two ranges"
    assert all(0 <= slash(row[2])[0] <= slash(row[2])[1] for row in page["ranges"])
    check_console(dashboard)


def test_counters_that_move_lie_between_two_status_reads(dashboard: harness.Dashboard, daemon: harness.Daemon) -> None:
    before, page, after = sandwich(dashboard, daemon)
    totals = page["totals"]
    for key in ("received", "finished", "failed"):
        assert before[key] <= number(totals[key]) <= after[key], (key, before[key], totals[key], after[key])
    assert after["finished"] > before["finished"], "no job finished during the check: the load stopped"
    assert before["now"] <= page["now"] <= after["now"]
    assert 0 <= number(totals["running"]) <= before["totalSlots"]
    assert number(totals["queued"]) >= ORPHANS
    assert number(totals["held"]) == 0
    # The load's delayed jobs wait an hour and its dead letters stay (SPEC §12).
    assert number(totals["delayed"]) == before["delayed"] == after["delayed"] == harness.DELAYED
    assert number(totals["dead"]) == before["dead"] == after["dead"] == harness.DEAD
    letters = [(str(d["job"]), d["err"]["code"], str(d["attempts"])) for d in before["deadLetters"]]
    assert [(str(number(row[0])), row[2].split(":")[0], row[3]) for row in page["dead"]] == letters
    assert all(code == "EHANDLER" for _, code, _ in letters) and len(letters) == harness.DEAD

    # The orphans (service "gpu", priority 5) head the waiting list, in both reads.
    orphans = [(str(j["id"]), j["reason"]) for j in before["waiting"] if j.get("service") == "gpu"]
    assert len(orphans) == ORPHANS and all(reason == "no_worker_for_service" for _, reason in orphans)
    waiting = page["waiting"]
    first_id, first_reason = waiting[0][0], waiting[0][4]
    for s in (before, after):
        assert (first_id, first_reason) in {(str(j["id"]), j["reason"]) for j in s["waiting"]}
    assert [(row[0], row[4]) for row in waiting if row[2] == "gpu"] == orphans
    assert all(row[1] == "5" for row in waiting if row[2] == "gpu")
    assert {row[4] for row in waiting} <= {"no_worker_for_service", "no_free_slot", "throttled"}

    queues = {(decimal(row[0]), row[1]): number(row[2]) for row in page["queues"]}
    assert queues[(5.0, "gpu")] == ORPHANS
    assert set(queues) <= {(5.0, "gpu"), (2.0, "(none)"), (1.0, "render"), (0.0, "(none)")}
    check_console(dashboard)


CANVAS_PIXELS = """
const canvas = document.getElementById("throughput");
// Read from a copy: reading the page's canvas itself again and again makes Chromium
// warn on the console (willReadFrequently), which the checks below would take for the
// page's fault.
const copy = document.createElement("canvas");
copy.width = canvas.width;
copy.height = canvas.height;
const g = copy.getContext("2d", {willReadFrequently: true});
g.drawImage(canvas, 0, 0);
const data = g.getImageData(0, 0, copy.width, copy.height).data;
let ink = 0, line = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] > 0) ink++;
  // The series' stroke (#3f7de0): opaque and much bluer than red, unlike the grey grid.
  if (data[i + 3] >= 200 && data[i + 2] - data[i] > 100) line++;
}
return {ink, line, width: canvas.width, height: canvas.height, url: canvas.toDataURL()};
"""


def read_consecutive_polls(dashboard: harness.Dashboard) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The page as two consecutive polls left it (sequence n, then n + 1)."""
    for _ in range(5):
        first = dashboard.read()
        dashboard.wait_for_polls(1, after=first["sequence"])
        second = dashboard.read()
        if second["sequence"] == first["sequence"] + 1:
            return first, second
    pytest.fail("could not read two consecutive polls of the page")


def test_the_throughput_chart_updates_without_a_reload(dashboard: harness.Dashboard, driver: Any) -> None:
    driver.execute_script("window.notReloaded = true;")
    chart = driver.execute_script(CANVAS_PIXELS)
    start = dashboard.sequence()
    dashboard.wait_for_polls(3, after=start)

    def positive_rate(_: Any) -> Optional[int]:
        match = re.fullmatch(r"([\d,]+) jobs/s", dashboard.read()["rate"])
        return number(match.group(1)) if match and number(match.group(1)) > 0 else None

    WebDriverWait(driver, WAIT, poll_frequency=0.05).until(positive_rate, "#rate to show a positive jobs/s")

    # The rate shown is the page's own arithmetic on the two polls it shows last.
    first, second = read_consecutive_polls(dashboard)
    finished = number(second["totals"]["finished"]) - number(first["totals"]["finished"])
    expected = math.floor(finished * 1000 / (second["now"] - first["now"]) + 0.5)  # Math.round
    assert second["rate"] == f"{expected:,} jobs/s"

    later = driver.execute_script(CANVAS_PIXELS)
    assert later["width"] > 0 and later["height"] > 0
    assert later["ink"] > 1000, f"the chart is nearly blank: {later['ink']} pixels drawn"
    assert later["line"] > 100, f"the series line is missing: {later['line']} blue pixels"
    assert later["url"] != chart["url"], "the chart did not change over three polls"
    assert driver.execute_script("return window.notReloaded === true;"), "the page was reloaded"
    check_console(dashboard)


# Makes the page's fetches go out without the Authorization header (a page opened
# without ?token= sends none), and back.
DROP_TOKEN = """
window.realFetch = window.realFetch || window.fetch;
window.fetch = (url, init) => window.realFetch(url, Object.assign({}, init, {headers: {}}));
"""
RESTORE_TOKEN = "window.fetch = window.realFetch;"


def test_without_the_token_status_is_refused_and_the_page_says_so(dashboard: harness.Dashboard,
                                                                   daemon: harness.Daemon, driver: Any) -> None:
    for path in ("/status", "/metrics"):
        assert daemon.get(path, token=None)[0] == 401, path
        assert daemon.get(path, token="not-the-token-0123456789")[0] == 401, path
        assert daemon.get(f"{path}?token=not-the-token-0123456789", token=None)[0] == 401, path
        assert daemon.get(f"{path}?token={daemon.token}", token=None)[0] == 200, path
    check_console(dashboard)

    error = driver.find_element("id", "error")
    assert not error.is_displayed()
    driver.execute_script(DROP_TOKEN)
    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.02).until(
            lambda _: error.is_displayed() and "HTTP 401" in error.text, "#error to show the 401")
        assert error.text == "cannot read the manager's status: status: HTTP 401"
        refused_at = dashboard.sequence()
    finally:
        driver.execute_script(RESTORE_TOKEN)
    dashboard.wait_for_polls(1, after=refused_at)
    WebDriverWait(driver, WAIT, poll_frequency=0.02).until(lambda _: not error.is_displayed(),
                                                          "#error to go once the token is sent again")

    def refused_status(entry: Dict[str, Any]) -> bool:
        return bool(re.search(r"/status - Failed to load resource: .* 401", str(entry.get("message", ""))))

    check_console(dashboard, expected=refused_status)


def test_metrics_agree_with_status(daemon: harness.Daemon) -> None:
    before = daemon.status()
    metrics = daemon.metrics()
    after = daemon.status()

    def sample(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in metrics, f"/metrics has no {name}{labels or ''}"
        return metrics[key]

    received = sample("proletariat_jobs_received_total")
    assert before["received"] <= received <= after["received"]
    ok = sample("proletariat_jobs_finished_total", outcome="ok")
    assert before["finished"] - before["failed"] <= ok <= after["finished"] - after["failed"]
    failed = sample("proletariat_jobs_failed_total")
    assert before["failed"] <= failed <= after["failed"]
    assert failed == sample("proletariat_jobs_finished_total", outcome="handler_error") > 0
    assert sample("proletariat_workers") == len(before["workers"]) == len(after["workers"]) == 2
    assert sample("proletariat_slots_total") == before["totalSlots"]
    assert sample("proletariat_queue_depth", priority="5", service="gpu") == ORPHANS
