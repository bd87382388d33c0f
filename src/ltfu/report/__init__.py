"""ltfu.report: lays out a finished analysis (HTML, PDF, JSON, CSV, SVG/PNG), never computes one.

From Python the module itself is callable, so a notebook user writes the whole report in one line::

    import ltfu
    cohort = ltfu.load_cohort("trial.csv")
    ltfu.report(cohort, out="report/")            # analyse + write, as `ltfu report trial.csv`
"""

from __future__ import annotations

import sys
import types

from ltfu.report.writer import write_report

__all__ = ["make_report", "write_report"]


def make_report(cohort, out="report", *, formats=None, options=None, **option_values):
    """Analyse ``cohort`` (a validated Cohort) and write the report into ``out``; return the path of
    its main file.  ``options`` is an ``AnalysisOptions``, or give its fields as keywords
    (``conf_type="log"``, ``deidentify=True`` ...).  ``out`` follows the command line's rule: a new
    path, an empty directory, or a report ltfu wrote."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.defaults import REPORT_FORMATS
    from ltfu.errors import InvalidInputError

    if options is not None and option_values:
        raise InvalidInputError("options: give an AnalysisOptions or its fields as keywords, not both")
    opts = options or AnalysisOptions(**option_values)
    source = getattr(cohort, "source", None)
    inputs = (source,) if source and source != "<memory>" else ()
    return write_report(analyse(cohort, opts), out, formats=tuple(formats or REPORT_FORMATS), inputs=inputs)


class _CallableModule(types.ModuleType):
    def __call__(self, cohort, out="report", **kwargs):
        return make_report(cohort, out, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
