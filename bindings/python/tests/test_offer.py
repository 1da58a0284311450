"""The offer rules (protocol/protocol.json "offer", PROTOCOL.md §4 OFFER, SPEC 3), as the
Python worker checks them before connecting: the same verdicts as the manager's.

A guarantee for the range starting at 0 is ignored (range 0 always gets slots minus
the other guarantees); the guarantees of the ranges above 0 must not sum to more than
slots; slots is an integer SLOTS_MIN .. SLOTS_MAX; a range start is a finite number
>= 0; a guarantee an integer >= 0; a service name a non-empty string. Every breach is
EBADOFFER, raised by the Worker constructor.
"""

from __future__ import annotations

import math

import pytest

from conftest import WAIT
from proletariat import EBADOFFER, ProletariatError, Worker
from proletariat import _spec

ENDPOINT = "tcp://127.0.0.1:1"  # never connected: the constructor checks the offer


def offer_header(worker: Worker):
    return worker._offer_header()


def refused(**kwargs) -> str:
    with pytest.raises(ProletariatError) as info:
        Worker(ENDPOINT, **kwargs)
    assert info.value.code == EBADOFFER, kwargs
    return info.value.message


def test_a_guarantee_for_range_0_is_ignored():
    # Refused by the Python worker before issue 10, accepted by the manager and Node.
    worker = Worker(ENDPOINT, slots=10, priority_slots={0: 10, 1: 5})
    assert offer_header(worker) == {"slots": 10, "prioritySlots": {"1": 5}}
    # A guarantee for 0 alone, of any size, leaves nothing to send.
    assert offer_header(Worker(ENDPOINT, slots=5, priority_slots={0: 1_000_000_000})) == {"slots": 5}
    assert offer_header(Worker(ENDPOINT, slots=5, priority_slots={"0.0": 7, "2.5": 5})) == {
        "slots": 5, "prioritySlots": {"2.5": 5}}


def test_guarantees_above_0_may_take_every_slot_but_not_more():
    assert offer_header(Worker(ENDPOINT, slots=10, priority_slots={1: 4, 2: 6})) == {
        "slots": 10, "prioritySlots": {"1": 4, "2": 6}}
    assert "11" in refused(slots=10, priority_slots={1: 6, 2: 5})
    # The ignored guarantee for 0 does not count towards the sum.
    assert "11" in refused(slots=10, priority_slots={0: 1, 1: 6, 2: 5})


def test_slots_range_comes_from_the_spec():
    assert Worker(ENDPOINT).slots == _spec.SLOTS_DEFAULT
    assert Worker(ENDPOINT, slots=_spec.SLOTS_MIN).slots == _spec.SLOTS_MIN
    assert Worker(ENDPOINT, slots=_spec.SLOTS_MAX).slots == _spec.SLOTS_MAX
    for slots in (_spec.SLOTS_MIN - 1, _spec.SLOTS_MAX + 1, -1, 2.5, "10", True, None, math.nan):
        refused(slots=slots)


@pytest.mark.parametrize("start", [-1, -0.5, "-1", math.inf, -math.inf, math.nan, "inf", "nan", "1e400",
                                   "high", "", " 1", "1_0", True, None])
def test_bad_range_starts_are_refused(start):
    refused(slots=10, priority_slots={start: 1})


@pytest.mark.parametrize("guarantee", [-1, 2.5, "3", True, None, math.inf])
@pytest.mark.parametrize("start", [0, 1])
def test_bad_guarantees_are_refused_even_for_range_0(start, guarantee):
    # The manager type-checks the guarantee for 0 before it ignores it.
    refused(slots=10, priority_slots={start: guarantee})


def test_one_range_named_twice_is_refused():
    assert "twice" in refused(slots=10, priority_slots={1: 2, "1.0": 3})


def test_priority_slots_must_be_a_mapping():
    refused(slots=10, priority_slots=[(1, 2)])


def test_service_names_must_be_non_empty_strings():
    refused(services=["ok", ""])
    refused(services=[3])
    with pytest.raises(ProletariatError) as info:
        Worker(ENDPOINT).on_work(lambda job: None, "")
    assert info.value.code == EBADOFFER


def test_the_manager_takes_the_offer_with_a_guarantee_for_0(make_worker):
    worker = make_worker(lambda job: None, slots=10, priority_slots={0: 10, 1: 5})
    ranges = worker.my_status(timeout=WAIT)["ranges"]
    assert [(r["start"], r["slots"]) for r in ranges] == [(0, 5), (1, 5)]
