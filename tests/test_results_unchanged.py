"""Issue 15: restructuring keeps every number.  results.json of the demonstration cohort and of a
simulated registry equal the committed snapshots (tests/snapshots/make_results_snapshots.py);
a change of numbers is intended only with a commit that regenerates them and says why."""

import json

import pytest

from snapshots.make_results_snapshots import HERE, results_json


def _flat(d, p=""):
    if isinstance(d, dict):
        return {k2: v2 for k, v in d.items() for k2, v2 in _flat(v, f"{p}.{k}" if p else k).items()}
    if isinstance(d, list):
        return {k2: v2 for i, v in enumerate(d) for k2, v2 in _flat(v, f"{p}[{i}]").items()}
    return {p: d}


@pytest.mark.slow
@pytest.mark.parametrize("which", ["demo", "registry"])
def test_results_json_equals_the_snapshot(which):
    got = _flat(json.loads(results_json(which)))
    want = _flat(json.loads((HERE / f"results_{which}.json").read_text()))
    def same(a, b):   # floats to 1e-12 relative: a changed algorithm (e.g. Fisher's) moves the last bits
        if isinstance(a, float) and isinstance(b, float):
            return abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300)
        return a == b

    diff = sorted(k for k in set(got) | set(want) if not same(got.get(k, "<absent>"), want.get(k, "<absent>")))
    assert not diff, "changed: " + "; ".join(f"{k}: {want.get(k, '<absent>')} -> {got.get(k, '<absent>')}"
                                             for k in diff[:20])
