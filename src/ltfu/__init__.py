"""ltfu: long-term follow-up analysis of cell-therapy trials.

Data enter through :func:`ltfu.load` and :func:`ltfu.validate`, become numbers in ``ltfu.stats``
and ``ltfu.analysis``, and numbers become a report in ``ltfu.report``.  Heavy modules are imported
lazily so that the command line starts fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "load": "ltfu.cohort", "validate": "ltfu.frames", "load_cohort": "ltfu.cohort",
    "Problem": "ltfu.cohort", "Cohort": "ltfu.cohort.model",
    "LtfuError": "ltfu.errors", "InvalidInputError": "ltfu.errors", "DataError": "ltfu.errors",
    "ConvergenceError": "ltfu.errors", "LoadError": "ltfu.errors",
    "analyse": "ltfu.analysis", "AnalysisOptions": "ltfu.analysis",
    "load_study": "ltfu.study", "Study": "ltfu.study",
}
_SUBMODULES = {"report", "plot", "stats", "analysis", "study", "safety"}      # ltfu.report(cohort, out=...) is callable

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"ltfu.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ltfu' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
