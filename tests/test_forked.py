"""Work in forked worker processes (ltfu.forked): the analysis's pieces and the figures computed
there are those computed in one process, byte for byte; failures are those of one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import inproc
from ltfu import forked

needs_fork = pytest.mark.skipif(not forked.can_fork(), reason="workers are forked on Linux only")


@needs_fork
def test_values_come_back_in_the_order_of_the_tasks():
    pids = forked.run([lambda i=i: (i, os.getpid()) for i in range(7)], 2)
    assert [i for i, _ in pids] == list(range(7))
    assert os.getpid() not in {pid for _, pid in pids}          # computed in the workers


@needs_fork
def test_a_task_error_is_raised_as_the_task_raised_it():
    def bad():
        raise ValueError("no such column")

    with pytest.raises(ValueError, match="no such column"):
        forked.run([lambda: 1, bad, lambda: 3], 2)


@needs_fork
def test_a_pool_that_breaks_leaves_the_tasks_to_this_process():
    parent = os.getpid()

    def dies_in_a_worker():
        if os.getpid() != parent:
            os._exit(3)                 # a worker killed (as by the kernel for lack of memory)
        return "here"

    assert forked.run([dies_in_a_worker, lambda: 2], 2) == ["here", 2]


def test_one_worker_runs_the_tasks_here():
    assert forked.run([os.getpid, os.getpid], 1) == [os.getpid()] * 2


def test_analysis_workers_decided_by_size_engine_and_environment(monkeypatch):
    from ltfu.analysis import PARALLEL_MIN_PATIENTS, AnalysisOptions, Plan, _workers
    from ltfu.demo import load_demo

    monkeypatch.delenv("LTFU_WORKERS", raising=False)
    plan = Plan.build(load_demo(), AnalysisOptions())
    assert plan.cohort.n < PARALLEL_MIN_PATIENTS
    assert _workers(plan, None) == 1                                # 53 patients: one process
    assert _workers(plan, 3) == 3
    monkeypatch.setenv("LTFU_WORKERS", "2")
    assert _workers(plan, None) == 2
    assert _workers(plan, 1) == 1                                   # the caller's number wins
    duck = Plan.build(load_demo(), AnalysisOptions(engine="duckdb"))
    assert _workers(duck, 2) == 1                                   # no fork beside a database's threads


@needs_fork
@pytest.mark.slow
def test_the_analysis_in_workers_is_the_analysis_in_one_process():
    """Every section's numbers and tables from two worker processes equal those of one process:
    the demonstration study (its long-term safety and persistence sections too), with the figures
    cut at 24 months (truncated in the workers).  The figures drawn in the workers are compared
    byte for byte with those drawn here through the whole report, below."""
    from ltfu.analysis import AnalysisOptions, run
    from ltfu.demo import load_demo_study
    from ltfu.report.writer import _results_json

    options = AnalysisOptions(max_months=24)
    one, _ = run(load_demo_study(), options, workers=1)
    two, _ = run(load_demo_study(), options, workers=2)
    assert _results_json(two) == _results_json(one)
    assert two.tables == one.tables and two.sections == one.sections
    assert [type(f) for f in two.figures] == [type(f) for f in one.figures]
    assert {f.max_months for f in two.figures if hasattr(f, "max_months")} == {24}


@needs_fork
@pytest.mark.slow
def test_a_registry_analysis_in_workers_is_the_analysis_in_one_process(tmp_path):
    """A simulated registry (3,000 patients, no swimmer plot) with --by centre, transplant
    censoring and the other non-responder rule: the same results.json and tables from two workers
    as from one process."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.cohort import load_cohort
    from ltfu.report.writer import _results_json
    from ltfu.simulate import write_registry

    cohort = load_cohort(write_registry(tmp_path / "reg.parquet", 3000, seed=7))
    options = AnalysisOptions(by="centre", censor_at_hct=True, efs_nonresponder="assessment")
    one, two = analyse(cohort, options, workers=1), analyse(cohort, options, workers=2)
    assert "by" in one.numbers["survival"] and one.tables == two.tables
    assert _results_json(two) == _results_json(one)


@needs_fork
@pytest.mark.slow
def test_the_report_written_from_workers_is_the_report_of_one_process(tmp_path, monkeypatch):
    """``ltfu report`` with its analysis on two workers (LTFU_WORKERS=2), which then also draw the
    figures, writes the same files, byte for byte, as with one, whose figures the report draws
    (the manifest aside: it names its run); the figures cut at 24 months."""
    from ltfu.analysis import run

    drawn_by = {}

    def spy(*args, **kwargs):
        results, drawn = run(*args, **kwargs)
        drawn_by[os.environ["LTFU_WORKERS"]] = set(drawn)
        return results, drawn

    monkeypatch.setattr("ltfu.analysis.run", spy)

    def report(name, workers):
        p = inproc.run("report", "--demo", "--out", tmp_path / name, "--quiet", "--max-months", "24",
                       env={"LTFU_WORKERS": workers})
        assert p.returncode == 0, p.stderr
        root = tmp_path / name
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != ".ltfu-manifest.json"}

    one, two = report("one", "1"), report("two", "2")
    names = {Path(f).stem for f in one if f.startswith("figures/")}
    assert drawn_by == {"1": set(), "2": names}        # drawn in the workers, or by the report
    assert set(one) == set(two) and {"report.pdf", "report.html", "results.json"} <= set(one)
    assert [name for name in one if one[name] != two[name]] == []
    assert any(Path(name).suffix == ".png" for name in one)


def test_workers_only_as_many_as_the_free_memory_holds(monkeypatch):
    """Each worker needs about this process's resident size free; never below 1."""
    from ltfu import machine

    def room(rss_mb, free_mb, workers):
        monkeypatch.setattr(machine, "resident_memory", lambda: rss_mb << 20)
        monkeypatch.setattr(machine, "available_memory", lambda: free_mb << 20)
        return forked.room_for(workers)

    assert room(750, 24_000, 2) == 2
    assert room(750, 1_000, 4) == 1
    assert room(750, 2_300, 4) == 3
    assert room(750, 0, 2) == 1


def test_available_memory_is_bounded_by_a_container_limit(monkeypatch):
    """MemAvailable counts the whole machine; a container's cgroup limit less its use bounds it
    (v2, else v1; "max" or v1's huge number: no limit)."""
    from ltfu import machine

    meminfo = "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n"

    def files(found):
        monkeypatch.setattr(machine, "_read", lambda path: {"/proc/meminfo": meminfo, **found}.get(path))
        return machine.available_memory()

    assert files({}) == 20_000_000 * 1024
    assert files({"/sys/fs/cgroup/memory.max": "4294967296\n", "/sys/fs/cgroup/memory.current": "1073741824\n"}) \
        == 3 << 30
    assert files({"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "1073741824\n"}) \
        == 20_000_000 * 1024
    assert files({"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n",
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes": "536870912\n"}) == (3 << 29)
    assert files({"/sys/fs/cgroup/memory/memory.limit_in_bytes": str(1 << 62),
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes": "5"}) == 20_000_000 * 1024



def test_cores_without_cpu_affinity(monkeypatch):
    """Where the system has no CPU affinity (macOS, Windows: the batched validation and the
    prepared table's converter ask too) the machine's count, at most MAX_WORKERS."""
    import os

    from ltfu import machine

    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    for count, want in ((None, 1), (1, 1), (3, 3), (64, machine.MAX_WORKERS)):
        monkeypatch.setattr(os, "cpu_count", lambda c=count: c)
        assert machine.cores() == want

@needs_fork
def test_a_task_error_does_not_wait_for_the_tasks_not_yet_started():
    """The error of the first task is raised while the later, slow tasks are dropped, not run."""
    import time

    def bad():
        raise RuntimeError("bad piece")

    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="bad piece"):
        forked.run([bad, *[lambda: time.sleep(2) for _ in range(6)]], 2)
    assert time.perf_counter() - start < 6           # 6 tasks of 2 s on 2 workers: 6 s to run them all


def _blas_threads() -> set:
    from threadpoolctl import threadpool_info

    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_a_long_dot_product_rounds_the_same_whatever_the_blas_threads_outside():
    """Inside ``one_blas_thread`` a dot product of 200,000 terms (a univariable Cox model's sums at
    registry size) has the bits of the one-thread BLAS, whatever the limit set outside it (OpenBLAS
    splits such a product between its threads, whose partial sums round otherwise: measured on
    numpy's OpenBLAS 0.3.31, 2 threads against 1); the limits outside are put back after."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from ltfu.machine import one_blas_thread

    rng = np.random.default_rng(0)
    x, v = rng.normal(size=200_000), rng.random(200_000)
    with threadpool_limits(limits=1, user_api="blas"):
        want = float(x @ v)
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        with one_blas_thread():
            assert _blas_threads() == {1}
            got = float(x @ v)
        assert _blas_threads() == {2}
    assert got == want


@needs_fork
def test_the_analysis_and_its_workers_compute_with_one_blas_thread(monkeypatch):
    """``analysis.run`` holds BLAS to one thread while its pieces run, here and in forked workers
    (which inherit it), and puts the caller's limit back after."""
    from threadpoolctl import threadpool_limits

    import ltfu.analysis as A
    from ltfu.demo import load_demo

    seen = []
    original = A._piece

    def observed(piece, max_months, draw):
        part, drawn = original(piece, max_months, draw)
        return part, {**drawn, "blas threads": (os.getpid(), _blas_threads())}

    monkeypatch.setattr(A, "_piece", observed)
    with threadpool_limits(limits=2, user_api="blas"):
        for workers in (1, 2):
            _, drawn = A.run(load_demo(), A.AnalysisOptions(), workers=workers, draw=lambda f: None)
            seen.append(drawn["blas threads"])
        assert _blas_threads() == {2}
    assert seen[0] == (os.getpid(), {1})                         # one process: here
    assert seen[1][0] != os.getpid() and seen[1][1] == {1}       # two: in a worker


@needs_fork
def test_a_worker_gives_back_the_heap_a_task_freed():
    """After each task a worker gives glibc's free heap pages back (``_give_back``): a task that
    freed 200 MB of small blocks, below a block it kept (so glibc would not trim them itself), left
    them resident before; measured in a forked child, the resident size falls by most of them."""
    import ctypes

    try:
        has_trim = hasattr(ctypes.CDLL("libc.so.6"), "malloc_trim")
    except OSError:
        has_trim = False
    if not has_trim:
        pytest.skip("not glibc")
    from ltfu import machine

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the child: nothing of pytest's is touched
        try:
            blocks = [bytearray(64 * 1024) for _ in range(3200)]     # 200 MB under the mmap threshold
            pin = bytearray(64 * 1024)                               # kept: the heap's top stays in use
            del blocks
            before = machine.resident_memory()
            forked._give_back()
            after = machine.resident_memory()
            os.write(write, f"{before} {after} {len(pin)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    before, after, _ = map(int, os.read(read, 100).split())
    os.waitpid(pid, 0)
    assert before - after > 150 * 2**20, (before >> 20, after >> 20)
