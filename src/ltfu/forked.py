"""Work spread over forked worker processes: the report's analysis pieces and its figures.

Forked, not spawned: a worker starts with the parent's modules and data (the cohort, the plan) and
imports or copies nothing, so a piece computed there is the piece computed here, byte for byte.
Only on Linux: macOS offers fork too, but forking there is unsafe with its system libraries (why
Python's default is spawn there), and spawn would re-import everything and copy the data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


def can_fork() -> bool:
    """Whether worker processes may be forked here (Linux with the fork start method)."""
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def room_for(workers: int) -> int:
    """How many of ``workers`` the memory available can take: each worker shares this process's
    pages but may need as much again for its own arrays (measured at 1e6 patients: up to 0.4 GB of
    its own beside a 0.75 GB parent), so each needs this process's resident size free
    (``ltfu.machine.available_memory``: MemAvailable, within a container's limit); at least 1, and
    ``workers`` where the figures cannot be read."""
    from ltfu.machine import available_memory, resident_memory

    free, rss = available_memory(), resident_memory()
    if free is None or not rss:
        return workers
    return max(1, min(workers, free // rss))


def env_workers(name: str) -> int | None:
    """A whole number of workers from environment variable ``name`` (0 counts as 1), else None."""
    value = os.environ.get(name, "").strip()
    return max(1, int(value)) if value.isdigit() else None


def worker_start(parent: int) -> None:
    """A worker ends with the process that forked it: Linux's parent-death signal (SIGKILL: a worker
    only computes into memory, it has nothing to clean up), so that a report killed while its
    workers run leaves no process behind (tested); and if the parent is already gone, now."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):                 # not Linux: no such call
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _trim() -> None:
    """Garbage collected and the C heap's free pages given back to the system before forking: a
    worker shares the parent's pages, the garbage among them included, until either writes there
    (glibc's ``malloc_trim``; elsewhere nothing is given back)."""
    import gc

    gc.collect()
    _give_back()


_TASKS: Sequence[Callable[[], Any]] = ()      # the running pool's tasks, inherited by its forked workers


def _run(i: int):
    value = _TASKS[i]()
    _give_back()
    return value


def _give_back() -> None:
    """The C heap's free pages given back to the system after a task in a worker (glibc's
    ``malloc_trim``): a task's temporaries are freed but glibc keeps their pages, so each worker
    stayed at the high-water mark of every task it had run, and two workers' marks added up at the
    report's peak.  Nothing elsewhere."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run(tasks: Sequence[Callable[[], Any]], workers: int) -> list:
    """Each task's value, in the order of ``tasks``: computed here one after the other when
    ``workers`` is 1, else by that many forked processes taking the tasks in order (list the longest
    first).  The tasks are zero-argument callables of any kind (closures included: the workers
    inherit them, only their values travel back, pickled).  A task's exception is raised here as
    it would be by the task itself; a pool that cannot start or breaks (a worker killed) is not an
    error: the tasks are then run here."""
    global _TASKS
    tasks = list(tasks)
    workers = min(workers, len(tasks))
    if workers > 1 and can_fork():
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        _TASKS = tasks
        _trim()
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                     initializer=worker_start, initargs=(os.getpid(),)) as pool:
                try:
                    futures = [pool.submit(_run, i) for i in range(len(tasks))]
                except OSError:                     # no process could be forked (memory, limits)
                    futures = None
                if futures is not None:
                    try:
                        return [f.result() for f in futures]
                    except BaseException:
                        # a task's error (or Ctrl-C) is said now: the tasks not yet started are
                        # dropped rather than run to the end first
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise
        except BrokenProcessPool:
            pass
        finally:
            _TASKS = ()
    return [task() for task in tasks]
