"""What this machine offers the current process: its cores and the memory it may still use."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator

MAX_WORKERS = 4


ARROW_POOL = "jemalloc"      # the command line's allocator for Arrow's memory (choose_arrow_allocator)


def choose_arrow_allocator() -> None:
    """jemalloc for every allocation Arrow makes in this process (``ARROW_POOL``), unless the user
    named an allocator in ``ARROW_DEFAULT_MEMORY_POOL``; for the command line, called before
    pyarrow is imported.  Arrow's C++ library reads that variable once, when it makes its default
    pool, which importing pyarrow does: pyarrow's ``set_memory_pool`` afterwards changes only the
    pool its Python functions pass, and the Parquet reader's own buffers stayed in the first pool
    (mimalloc in the wheels), so that two allocators each kept the pages the reading had freed.
    Measured on the 1e6-patient registry report (peak PSS summed over the processes, three runs
    each): 993-1,104 MiB with pyarrow's pool set after import, 891-937 MiB with the variable.
    Only on x86-64 Linux, where pyarrow's wheels include jemalloc (a build without it would print
    a warning and keep its default); nothing once pyarrow is imported (too late to matter)."""
    if sys.platform.startswith("linux") and platform.machine() == "x86_64" and "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", ARROW_POOL)


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one: Linux; else
    the machine's count, as macOS and Windows give it), at most ``MAX_WORKERS``."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, usable))


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def _kib_line(path: str, key: str) -> int | None:
    """Bytes of the ``key:  N kB`` line of a Linux /proc file, or None."""
    text = _read(path)
    for line in (text or "").splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_room() -> int | None:
    """Bytes the process's control group (a container's memory limit) still allows: its limit less
    its use (cgroup v2, else v1), or None where no limit is set or none can be read."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_file), _read(usage_file)
        if limit is None or usage is None:
            continue
        limit, usage = limit.strip(), usage.strip()
        if not (limit.isdigit() and usage.isdigit()):
            return None                            # "max": no limit
        if int(limit) >= 1 << 60:                  # cgroup v1's "no limit" is a huge number
            return None
        return max(0, int(limit) - int(usage))
    return None


def available_memory() -> int | None:
    """Bytes of memory available now: Linux's MemAvailable (else the free physical pages), and no
    more than a container's memory limit leaves (``_cgroup_room``); None when nothing can be read."""
    free = _kib_line("/proc/meminfo", "MemAvailable:")
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    room = _cgroup_room()
    if room is not None:
        free = room if free is None else min(free, room)
    return free


def resident_memory() -> int | None:
    """Bytes this process holds in memory now (Linux VmRSS), or None."""
    return _kib_line("/proc/self/status", "VmRSS:")


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS (numpy's and scipy's OpenBLAS) limited to one thread inside, the limits in force before
    put back after (threadpoolctl).  A report is computed inside it, for two reasons:

    * its numbers then do not depend on the machine: OpenBLAS splits a long dot product (65,536
      terms or more, e.g. a univariable Cox model's sums over 1e5 rows) between its threads, and
      the halves' sums round differently, so 1 and 2 threads gave results.json files differing in
      the last digit of 59 numbers at 1e6 patients;
    * a report's forked workers already take every core, and each worker's extra BLAS threads only
      competed with them: 1.5 s of 19 s and 3 s of CPU at 1e6 patients.
    Where threadpoolctl finds no BLAS library loaded, nothing is limited."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
