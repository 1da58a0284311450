"""What the browser tests and the screenshot script share: a real proletariatd with its
HTTP endpoint behind a random token, peers under load in their own processes
(load.py), HTTP reads of /status and /metrics, and headless Chromium on the dashboard.

The daemon is $PROLETARIAT_DAEMON, else <repo>/build/broker/proletariatd. Everything
listens on 127.0.0.1 on ports the kernel picks (--port 0, --http 127.0.0.1:0, read back
from the --announce line). Every wait is bounded and says what it waited for. Every
process started here is stopped by `stop()` (or the driver's `quit()`), whatever happened
before; the daemon, the peers and Chromium also end when this process dies (the stdin of
the daemon, of each peer and of Chromium's watchdog is a pipe it holds).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
BINDING = REPO / "bindings" / "python"
DAEMON = pathlib.Path(os.environ.get("PROLETARIAT_DAEMON", str(REPO / "build" / "broker" / "proletariatd")))
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Seconds any one wait may take: the dashboard polls once a second, so a few polls.
WAIT = 10.0
#: Slots of each of the two workers, and how long their handler sleeps per job (ms):
#: 8 slots at 30 ms finish about 250 jobs/s, fewer than the client keeps in flight
#: (load.py: 300), so jobs are running and queued all the time.
WORKER_SLOTS = 4
JOB_MS = 30
IN_FLIGHT = 300
#: Jobs for the service "gpu", which no worker offers: they wait all along (load.py).
ORPHANS = 12
#: Jobs delayed by an hour (they wait all along) and jobs that become dead letters.
DELAYED = 7
DEAD = 3


class HarnessError(AssertionError):
    """A wait that timed out, or a process that did not start: fails the test."""


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT, interval: float = 0.02) -> Any:
    """Polls `condition` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process whose stdin is a pipe this process holds (closing it asks the
    child to stop; so does this process's death) and whose stderr goes to a log file."""

    def __init__(self, name: str, args: Sequence[str], env: Optional[Dict[str, str]] = None,
                 stdout: Any = subprocess.DEVNULL) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"prlt-browser-{name}-", suffix=".log", delete=False)
        self.popen = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=stdout, stderr=self.log, env=env)

    def log_text(self) -> str:
        try:
            return pathlib.Path(self.log.name).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        """Closes stdin, waits `grace` seconds for the exit, then kills."""
        if self.popen.poll() is None:
            try:
                assert self.popen.stdin is not None
                self.popen.stdin.close()
            except OSError:
                pass
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(grace)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.log.close()
        os.unlink(self.log.name)


class Daemon:
    """proletariatd --port 0 --announce --http 127.0.0.1:0 --http-token-file F, F holding
    a random token; --parent-watch stops it when its stdin (ours) closes."""

    def __init__(self) -> None:
        if not DAEMON.exists():
            raise HarnessError(f"no manager daemon at {DAEMON}: build proletariat-broker or set PROLETARIAT_DAEMON")
        self.token = secrets.token_hex(16)
        self.token_file = tempfile.NamedTemporaryFile("w", prefix="prlt-http-token-", delete=False)
        self.token_file.write(self.token + "\n")
        self.token_file.close()
        args = [str(DAEMON), "--port", "0", "--announce", "--http", "127.0.0.1:0",
                "--http-token-file", self.token_file.name, "--parent-watch"]
        self.process = Process("proletariatd", args, stdout=subprocess.PIPE)
        announce = self._first_line(self.process.popen.stdout, WAIT)
        try:
            ready = json.loads(announce or "")
            self.endpoint = str(ready["endpoint"])
            self.http_port = int(ready["http_port"])
        except (ValueError, KeyError, TypeError):
            log = self.process.log_text()
            self.stop()
            raise HarnessError(f"proletariatd did not announce its endpoints in {WAIT} s "
                               f"(first line {announce!r}); log:\n{log}")
        if not self.endpoint.startswith("tcp://127.0.0.1:"):
            self.stop()
            raise HarnessError(f"proletariatd --port 0 bound {self.endpoint}, not loopback")
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.dashboard_url = f"{self.base}/?token={self.token}"

    @staticmethod
    def _first_line(stream: Any, timeout: float) -> Optional[str]:
        """The first line of `stream`, read on a thread (the rest is drained there too,
        so the pipe never fills); None after `timeout`."""
        first: List[str] = []
        got = threading.Event()

        def read() -> None:
            try:
                for raw in stream:
                    if not first:
                        first.append(raw.decode("utf-8", "replace").strip())
                        got.set()
            except (OSError, ValueError):
                pass  # closed under it at the stop
            finally:
                got.set()

        threading.Thread(target=read, name="proletariatd-stdout", daemon=True).start()
        got.wait(timeout)
        return first[0] if first else None

    def get(self, path: str, token: Optional[str] = "") -> Tuple[int, bytes]:
        """GET `path`: with the token in the Authorization header by default, without
        any with token=None, or with the given one."""
        token = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def status(self) -> Dict[str, Any]:
        code, body = self.get("/status")
        if code != 200:
            raise HarnessError(f"/status with the token answered {code}: {body[:200]!r}")
        return json.loads(body)

    def metrics(self) -> Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float]:
        """/metrics parsed by the Prometheus client's parser: {(sample name, labels): value}."""
        from prometheus_client.parser import text_string_to_metric_families

        code, body = self.get("/metrics")
        if code != 200:
            raise HarnessError(f"/metrics with the token answered {code}: {body[:200]!r}")
        samples = {}
        for family in text_string_to_metric_families(body.decode("utf-8")):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    def stop(self) -> None:
        self.process.stop()
        try:
            os.unlink(self.token_file.name)
        except OSError:
            pass


class Load:
    """Two workers of WORKER_SLOTS slots (one for jobs naming no service, with a
    guarantee for the range from priority 2; one for the service "render") and a client
    keeping IN_FLIGHT jobs unfinished, plus ORPHANS jobs for a service nobody offers.
    Each peer is a process of load.py."""

    def __init__(self, daemon: Daemon) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BINDING), env.get("PYTHONPATH", "")) if p)
        script = str(HERE / "load.py")
        python = sys.executable
        self.processes: List[Process] = []
        try:
            self.processes.append(Process("worker-a", [python, script, "worker", daemon.endpoint, "worker-a",
                                                       str(WORKER_SLOTS), "--priority-slots", "2:2",
                                                       "--sleep-ms", str(JOB_MS)], env))
            self.processes.append(Process("worker-b", [python, script, "worker", daemon.endpoint, "worker-b",
                                                       str(WORKER_SLOTS), "--service", "render",
                                                       "--sleep-ms", str(JOB_MS)], env))
            self.processes.append(Process("client", [python, script, "client", daemon.endpoint,
                                                     "--in-flight", str(IN_FLIGHT), "--orphans", str(ORPHANS),
                                                      "--delayed", str(DELAYED), "--dead", str(DEAD)], env))
            self.wait_until_busy(daemon)
        except BaseException:
            self.stop()
            raise

    def wait_until_busy(self, daemon: Daemon) -> Dict[str, Any]:
        """Waits until STATUS shows both workers, jobs running, queued and finished, and
        the orphans waiting for their service."""

        def busy() -> Optional[Dict[str, Any]]:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise HarnessError(f"{process.name} exited ({process.popen.returncode}):\n{process.log_text()}")
            s = daemon.status()
            orphans = [j for j in s["waiting"] if j.get("service") == "gpu"]
            if (len(s["workers"]) == 2 and s["running"] > 0 and s["queued"] > ORPHANS and s["finished"] > 0
                    and len(orphans) == ORPHANS and s.get("delayed") == DELAYED and s.get("dead") == DEAD):
                return s
            return None

        return wait_for(busy, "both workers registered, jobs running, queued and finished, and the orphans waiting")

    def stop(self) -> None:
        # The client first (its close aborts what is unfinished), then the workers.
        for process in reversed(self.processes):
            process.stop()


def chrome(width: int = 1400, height: int = 1000) -> Any:
    """Headless Chromium through Debian's chromedriver, keeping the console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # chromedriver and Chromium outlive a test run that is killed (a CTest timeout):
    # a watchdog holding a pipe from this process ends them when the pipe closes.
    watchdog = Process("chrome-watchdog", [sys.executable, "-c", CHROME_WATCHDOG, str(driver.service.process.pid)])
    quit_driver = driver.quit

    def quit() -> None:
        try:
            quit_driver()
        finally:
            watchdog.stop()

    driver.quit = quit
    return driver


#: Waits for its stdin to close, then ends the chromedriver whose pid it was given and
#: every process under it (Chromium's), if any is left.
CHROME_WATCHDOG = """
import os, signal, sys
root = int(sys.argv[1])
sys.stdin.buffer.read()
try:
    with open(f"/proc/{root}/cmdline", "rb") as cmdline:
        if b"chromedriver" not in cmdline.read():
            sys.exit(0)  # it ended (a quit): the pid is not its any more
except OSError:
    sys.exit(0)
children = {}
for entry in os.listdir("/proc"):
    try:
        with open(f"/proc/{entry}/stat") as stat:
            ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    except (ValueError, OSError, IndexError):
        pass
doomed, todo = [], [root]
while todo:
    pid = todo.pop()
    doomed.append(pid)
    todo.extend(children.get(pid, []))
for pid in reversed(doomed):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
"""


#: Everything a test reads off the page, in one script run, so that the numbers belong
#: to one poll (the one data-sequence names).
READ_PAGE = """
const text = (id) => document.getElementById(id).textContent;
const rows = (id) => Array.from(document.querySelectorAll("#" + id + " tbody tr:not(.empty)"),
  (tr) => Array.from(tr.cells, (td) => td.textContent));
const updated = document.getElementById("updated");
const error = document.getElementById("error");
const totals = {};
for (const id of ["received", "finished", "failed", "running", "queued", "held", "delayed", "dead", "workers",
                  "slots"]) totals[id] = text("total-" + id);
return {sequence: Number(updated.dataset.sequence), now: Number(updated.dataset.now || 0), totals,
        queues: rows("queues"), ranges: rows("ranges"), workers: rows("workers"), waiting: rows("waiting"), dead: rows("dead"),
        rate: text("rate"), error: {hidden: error.hidden, text: error.textContent}};
"""

#: The page's own requests for its script and style sheet, with their HTTP status.
ASSET_STATUS = """
return performance.getEntriesByType("resource")
  .filter((e) => /\\/dashboard\\.(js|css)(\\?|$)/.test(e.name))
  .map((e) => [new URL(e.name).pathname, e.responseStatus]);
"""

def number(text: str) -> int:
    """A number as the page shows it (toLocaleString("en-US"): commas)."""
    return int(text.replace(",", ""))


class Dashboard:
    """The dashboard open in Chromium at /?token=TOKEN.

    `assets_refused` lists the page's own requests for dashboard.js and dashboard.css
    that got another status than 200: a browser sends no Authorization header and no
    ?token= with them, so a daemon that guarded them with the token would leave the
    page empty (the test of the plain load fails then).
    """

    def __init__(self, driver: Any, daemon: Daemon) -> None:
        self.driver = driver
        self.daemon = daemon
        driver.get(daemon.dashboard_url)
        statuses = driver.execute_script(ASSET_STATUS)
        self.assets_refused = sorted({(path, code) for path, code in statuses if code != 200})
        if len(statuses) < 2:
            self.assets_refused.append(("dashboard.js/dashboard.css", "not requested"))
        if not self.assets_refused:
            self.wait_for_polls(1)

    def read(self) -> Dict[str, Any]:
        return self.driver.execute_script(READ_PAGE)

    def sequence(self) -> int:
        return int(self.driver.execute_script('return Number(document.getElementById("updated").dataset.sequence)'))

    def wait_for_polls(self, count: int, after: Optional[int] = None, timeout: float = WAIT) -> int:
        """Waits until data-sequence has grown by `count` past `after` (default: now);
        returns the sequence then."""
        from selenium.webdriver.support.ui import WebDriverWait

        start = self.sequence() if after is None else after
        WebDriverWait(self.driver, timeout, poll_frequency=0.02).until(
            lambda _: self.sequence() >= start + count,
            f"the dashboard's data-sequence to reach {start + count} (it polls /status once a second)")
        return self.sequence()

    def console(self) -> List[Dict[str, Any]]:
        """The browser console entries since the last call."""
        return list(self.driver.get_log("browser"))

    def is_refused_asset(self, entry: Dict[str, Any]) -> bool:
        """A console line about a refused asset request of the page (see the class)."""
        message = str(entry.get("message", ""))
        # "Failed to load resource: ... 401", then "Refused to apply style / execute
        # script ... MIME type ('text/plain')" for the 401's text body.
        return bool(self.assets_refused) and "/dashboard." in message and ("401" in message or "MIME type" in message)


def start_all() -> Tuple[Daemon, Load]:
    daemon = Daemon()
    try:
        return daemon, Load(daemon)
    except BaseException:
        daemon.stop()
        raise
