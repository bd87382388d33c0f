"""The study store: every data cut of a study kept in one DuckDB file (no server).

    from ltfu import store
    store.init("trial.ltfu")
    store.add_cut("trial.ltfu", "export_2017.xlsx", "2017-06-30", label="primary")
    store.list_cuts("trial.ltfu")                  # [CutInfo, ...], oldest first
    study = store.load_cut("trial.ltfu")           # the latest cut, as ltfu.load_study returns it
    changes = store.diff("trial.ltfu", "primary", "2018-06-30")

``ltfu.store.schema`` describes the layout, the versions and the locking; ``ltfu.store.cuts``
adding and reading; ``ltfu.store.changes`` what changed between two cuts.
"""

from __future__ import annotations

from ltfu.store.cuts import CutInfo, add_cut, init, list_cuts, load_cut, load_cuts, resolve, upgrade, version
from ltfu.store.schema import SCHEMA_VERSION, StoreError


def diff(path, cut_a, cut_b):
    """What changed from cut ``cut_a`` to cut ``cut_b`` (``ltfu.store.changes.Diff``)."""
    from ltfu.store.changes import diff_cuts

    return diff_cuts(path, cut_a, cut_b)


__all__ = [
    "SCHEMA_VERSION",
    "CutInfo",
    "StoreError",
    "add_cut",
    "diff",
    "init",
    "list_cuts",
    "load_cut",
    "load_cuts",
    "resolve",
    "upgrade",
    "version",
]
