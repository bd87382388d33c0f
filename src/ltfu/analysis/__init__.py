"""The long-term follow-up analysis: cohort -> plan -> one part per report section -> Results.

``analyse(cohort, options)`` runs the analysis of Park et al. (NEJM 2018) as a template: ``plan``
decides the endpoints, groups and model terms once; each section module (data, baseline, response,
toxicity, follow_up, survival with competing, transplant and models, reproduction) returns one
typed ``Part``; ``ltfu.stats`` computes, ``ltfu.report`` lays out.  Times are days internally;
months (days / 30.4375) are for display only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from ltfu import deid
from ltfu.analysis import (
    baseline,
    competing,
    data,
    follow_up,
    models,
    reproduction,
    response,
    survival,
    toxicity,
    transplant,
)
from ltfu.analysis.options import AnalysisOptions
from ltfu.analysis.plan import Plan
from ltfu.cohort.model import Cohort
from ltfu.machine import one_blas_thread
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


def analyse(cohort_or_study: Cohort | Study, options: AnalysisOptions | None = None, *, cuts=None,
            workers: int | None = 1) -> Results:
    """Run the whole long-term follow-up plan on a validated cohort (or a Study: its cohort, plus the
    long-term safety section when it has adverse events or assessments) and return frozen Results.
    ``cuts``: [(name, ISO cut date, Study or Cohort)], the study's data cuts oldest first with the
    analysed one last (``ltfu.store``; default ``Study.cuts``); two or more add the maturity section.
    ``workers``: processes computing the sections' parts (``run``); the results are the same."""
    return run(cohort_or_study, options, cuts=cuts, workers=workers)[0]


# below, the report's figures already use every core (its own pool) and the sections' arithmetic is
# too short to gain from workers (measured on 2 cores: 1e5 patients no faster, 3e5 0.3 s faster,
# 1e6 about 1.5 s at the median; benchmarks/REPORT_TIMES_REGISTRY.md)
PARALLEL_MIN_PATIENTS = 500_000
# the pieces that take longest at 1e6 patients (figures drawn), given to the workers first
LONGEST_FIRST = (models.build, toxicity.build, survival._km_piece, baseline.build, transplant.build,
                 competing.build)


def _workers(plan: Plan, workers: int | None) -> int:
    """``workers`` when given, else ``LTFU_WORKERS``, else one per core (``ltfu.machine.cores``) from
    ``PARALLEL_MIN_PATIENTS`` patients when the memory available holds a worker's working set per
    worker (``forked.room_for``); always 1 for the DuckDB and Spark engines (a process is not
    forked while a database or a JVM may hold threads in it)."""
    from ltfu import forked
    from ltfu.machine import cores

    if plan.counter.engine != "numpy":
        return 1
    if workers is None:
        workers = forked.env_workers("LTFU_WORKERS")
    if workers is None:
        workers = forked.room_for(cores()) if plan.cohort.n >= PARALLEL_MIN_PATIENTS else 1
    return max(1, workers)


@one_blas_thread()
def run(cohort_or_study: Cohort | Study, options: AnalysisOptions | None = None, *, cuts=None,
        workers: int | None = 1, draw=None) -> tuple[Results, dict]:
    """``analyse``, its sections' independent pieces (each section, the survival section's parts)
    computed by ``workers`` forked processes (None: ``_workers`` decides; ``ltfu.forked``), and
    with ``draw`` (a function of one figure object) each figure drawn where its part was computed:
    (Results, {figure name: draw(figure)}; empty when the pieces run in this process).  The
    numbers are those of one process, bit for bit (tested): a piece is the same code on the same
    data, and only its value travels back; BLAS has one thread meanwhile (``machine.one_blas_thread``:
    the numbers do not depend on the machine's cores, and the workers inherit it)."""
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
    # each section: how its pieces' parts are joined, and its pieces
    sections: list[tuple[Callable[[list], Part], list]] = [
        (partial(survival.assemble, plan), survival.pieces(plan)) if s is survival
        else (_only, [partial(s.build, plan)]) for s in SECTIONS]
    if study is not None and study.longitudinal:
        from ltfu.analysis import long_term

        sections.append((_only, [partial(long_term.build, plan, study)]))
    if study is not None and len(study.assessments):
        from ltfu.analysis import persistence

        sections.append((_only, [partial(persistence.build, plan, study)]))
    if cuts is not None and len(cuts) >= 2:
        from ltfu.analysis import maturity

        sections.append((_only, [partial(maturity.build, plan, list(cuts))]))
    pieces = [piece for _, ps in sections for piece in ps]
    order = sorted(range(len(pieces)), key=lambda i: (_rank(pieces[i]), i))
    from ltfu import forked

    n_workers = _workers(plan, workers)
    if n_workers == 1:
        draw = None         # one process: the figures are drawn by the report's own pool, in parallel
    else:
        plan.share()        # looked up here once, not in each worker (nor its patient ids copied there)
    done = forked.run([partial(_piece, pieces[i], opts.max_months, draw) for i in order], n_workers)
    values: list = [None] * len(pieces)
    for i, value in zip(order, done):
        values[i] = value
    drawn = {name: pages for _, figs in values for name, pages in figs.items()}
    parts = [_finished(data.build(plan, meta, defaults, table_warnings), opts.max_months)]
    at = 0
    for join, ps in sections:
        parts.append(join([part for part, _ in values[at:at + len(ps)]]))
        at += len(ps)
    if plan.cohort.synthetic:
        numbers = {p.key: p.numbers for p in parts if p.key}
        parts.append(reproduction.build(numbers))
    title = "Long-term follow-up report" + (" - SYNTHETIC demonstration cohort" if plan.cohort.synthetic else "")
    results = Results.from_parts(title, parts, meta=meta, defaults=defaults, synthetic=plan.cohort.synthetic,
                                 warnings=data.warnings(plan, table_warnings))
    return results, drawn


def _only(parts: list) -> Part:
    return parts[0]


def _rank(piece) -> int:
    fn = getattr(piece, "func", None)
    return LONGEST_FIRST.index(fn) if fn in LONGEST_FIRST else len(LONGEST_FIRST)


def _finished(part: Part, max_months) -> Part:
    return part if max_months is None else _truncated(part, max_months)


def _piece(piece, max_months, draw) -> tuple[Part, dict]:
    """One piece's part (its figures ending at ``max_months`` when set) and, with ``draw``, its
    figures drawn."""
    part = _finished(piece(), max_months)
    return part, ({} if draw is None else {f.name: draw(f) for f in part.figures})
