"""Local-agent ids of one second stay increasing and unique, yet differ early enough that
a short prefix (as typed for `requests show PREFIX`) picks one id."""

from __future__ import annotations

from ngrok_inspect.local_agent.ksuid import ksuid_time, request_id


def test_ids_of_one_second_increase_and_stay_unique_for_many_ids() -> None:
    ids = [request_id(1_800_000_000) for _ in range(50_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {ksuid_time(i) for i in ids} == {1_800_000_000}


def test_a_short_prefix_tells_ids_of_one_second_apart() -> None:
    ids = [request_id(1_800_000_100) for _ in range(50)]
    # 'airt_' + 12 characters: the timestamp takes about 6, the rest is the random step
    prefixes = {i[:17] for i in ids}
    assert len(prefixes) == len(ids)
