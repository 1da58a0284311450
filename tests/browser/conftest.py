"""Fixtures of the browser tests: one daemon under load and one Chromium for the whole
module (starting them takes a few seconds; the tests only read), stopped at the end
whatever happened."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import pytest

import harness


@pytest.fixture(scope="module")
def stack() -> Iterator[Tuple[harness.Daemon, harness.Load]]:
    daemon, load = harness.start_all()
    try:
        yield daemon, load
    finally:
        load.stop()
        daemon.stop()


@pytest.fixture(scope="module")
def daemon(stack: Tuple[harness.Daemon, harness.Load]) -> harness.Daemon:
    return stack[0]


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = harness.chrome()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def dashboard(driver: Any, daemon: harness.Daemon) -> harness.Dashboard:
    return harness.Dashboard(driver, daemon)
