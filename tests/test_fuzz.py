"""The fast slice of `make fuzz` (which runs >= 10,000 cases per format and writes reports/fuzz.md)."""
import os

import pytest

from lab import formats, fuzz

CASES = int(os.environ.get("LAB_FUZZ_CASES", 300))


@pytest.mark.parametrize("name", formats.names())
def test_every_format_only_raises_format_error(name):
    r = fuzz.campaign(name, CASES, seed=1, workers=0)
    assert r["failures"] == [], r["failures"][:3]
    assert r["rejected"] + r["decoded"] == CASES
    assert r["rejected"] > CASES // 2          # the mutants reach the parsers and are refused there


def test_mutants_are_reproducible_and_cover_every_operation():
    t = formats.target("proc")
    foreign = fuzz.foreign_headers("proc")
    a = [fuzz.case(t, 0, i, foreign) for i in range(300)]
    assert a == [fuzz.case(t, 0, i, foreign) for i in range(300)]
    assert {op for op, _ in a} == set(fuzz.OPS)
    assert len({blob for _, blob in a}) > 200


def test_campaign_catches_exceptions_hangs_and_allocations():
    r = fuzz.campaign("fuzz_fixtures:broken_target", 60, seed=0, workers=2, time_cap=1.0, mem_cap_mb=256)
    kinds = {f["kind"].split(" ")[0] for f in r["failures"]}
    assert {"error", "hang", "over-cap"} <= kinds, kinds
    assert r["rejected"] + r["decoded"] + len(r["failures"]) == 60
