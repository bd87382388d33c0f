"""The long-term follow-up analysis: cohort -> plan -> one part per report section -> Results.

``analyse(cohort, options)`` runs the analysis of Park et al. (NEJM 2018) as a template: ``plan``
decides the endpoints, groups and model terms once; each section module (data, baseline, response,
toxicity, follow_up, survival with competing, transplant and models, reproduction) returns one
typed ``Part``; ``ltfu.stats`` computes, ``ltfu.report`` lays out.  Times are days internally;
months (days / 30.4375) are for display only.
"""

from __future__ import annotations

from dataclasses import replace

from ltfu import deid
from ltfu.analysis import baseline, data, follow_up, reproduction, response, survival, toxicity
from ltfu.analysis.options import AnalysisOptions
from ltfu.analysis.plan import Plan
from ltfu.cohort.model import Cohort
from ltfu.results import Part, Results
from ltfu.study.model import Study

__all__ = ["AnalysisOptions", "Plan", "analyse"]

SECTIONS = (baseline, response, toxicity, follow_up, survival)


def _marked(cohort: Cohort, opts: AnalysisOptions) -> Cohort:
    """Only the packaged demonstration cohort is synthetic; a de-identified report sees only
    controlled values (ltfu.deid)."""
    from ltfu.demo import marked

    cohort = marked(cohort)
    return deid.deidentify_cohort(cohort) if opts.deidentify else cohort


def _truncated(part: Part, max_months: float) -> Part:
    """The part with its survival and incidence figures ending at ``max_months`` (--max-months)."""
    from ltfu.results import CIFFigure, KMFigure

    figs = tuple(replace(f, max_months=float(max_months)) if isinstance(f, (KMFigure, CIFFigure)) else f
                 for f in part.figures)
    return replace(part, figures=figs)


def analyse(cohort_or_study: Cohort | Study, options: AnalysisOptions | None = None, *, cuts=None) -> Results:
    """Run the whole long-term follow-up plan on a validated cohort (or a Study: its cohort, plus the
    long-term safety section when it has adverse events or assessments) and return frozen Results.
    ``cuts``: [(name, ISO cut date, Study or Cohort)], the study's data cuts oldest first with the
    analysed one last (``ltfu.store``; default ``Study.cuts``); two or more add the maturity section."""
    opts = options or AnalysisOptions()
    study = cohort_or_study if isinstance(cohort_or_study, Study) else None
    if cuts is None and study is not None:
        cuts = study.cuts or None
    cohort = study.cohort if study is not None else cohort_or_study
    assert isinstance(cohort, Cohort)
    if study is not None and opts.deidentify:
        from ltfu.deid import deidentify_study

        study = deidentify_study(study)
        cohort = study.cohort
    plan = Plan.build(_marked(cohort, opts), opts)
    meta, defaults = data.meta(plan), data.defaults_in_force(plan)
    # a study's warnings cover every table (a repeated event row, a file named after no table)
    table_warnings = study.warnings if study is not None else None
    parts: list[Part] = [data.build(plan, meta, defaults, table_warnings)]
    parts += [section.build(plan) for section in SECTIONS]
    if study is not None and study.longitudinal:
        from ltfu.analysis import long_term

        parts.append(long_term.build(plan, study))
    if study is not None and len(study.assessments):
        from ltfu.analysis import persistence

        parts.append(persistence.build(plan, study))
    if cuts is not None and len(cuts) >= 2:
        from ltfu.analysis import maturity

        parts.append(maturity.build(plan, list(cuts)))
    if opts.max_months is not None:
        parts = [_truncated(p, opts.max_months) for p in parts]
    if plan.cohort.synthetic:
        numbers = {p.key: p.numbers for p in parts if p.key}
        parts.append(reproduction.build(numbers))
    title = "Long-term follow-up report" + (" - SYNTHETIC demonstration cohort" if plan.cohort.synthetic else "")
    return Results.from_parts(title, parts, meta=meta, defaults=defaults, synthetic=plan.cohort.synthetic,
                              warnings=data.warnings(plan, table_warnings))
