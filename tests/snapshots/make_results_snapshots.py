"""Writes the results.json snapshots that tests/test_results_unchanged.py compares against: the
synthetic demonstration cohort and a 3,000-patient simulated registry (seed 7), every option at
its default.  Regenerate only when a change of numbers is intended, and name the change in the
commit message:  .venv/bin/python tests/snapshots/make_results_snapshots.py
"""

from pathlib import Path

HERE = Path(__file__).parent


def results_json(which: str) -> str:
    from ltfu.analysis import analyse
    from ltfu.report.writer import _results_json

    if which == "demo":
        from ltfu.demo import load_demo

        cohort = load_demo()
    else:
        import tempfile

        from ltfu.cohort import load_cohort
        from ltfu.simulate import write_registry

        with tempfile.TemporaryDirectory() as d:
            path = write_registry(Path(d) / "registry.csv", 3000, seed=7)
            cohort = load_cohort(path)
    return _results_json(analyse(cohort))


if __name__ == "__main__":
    for which in ("demo", "registry"):
        (HERE / f"results_{which}.json").write_text(results_json(which), encoding="utf-8")
        print(f"wrote {HERE / f'results_{which}.json'}")
