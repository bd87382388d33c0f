"""The SYNTHETIC demonstration cohort (53 made-up patients; not patient data).

``demo_path()`` is the packaged CSV, made by ``generator.generate()`` (a test checks the file is
exactly what the generator makes); ``load_demo()`` reads it through the same loader and validation
as any user file; ``write_demo(path)`` writes a copy atomically.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

from ltfu.defaults import BURDEN_THRESHOLD

FILENAME = "park2018_synthetic.csv"


def demo_path() -> Path:
    return Path(str(resources.files("ltfu.demo").joinpath(FILENAME)))


@functools.lru_cache(maxsize=1)
def _demo_sha256() -> str:
    return hashlib.sha256(demo_path().read_bytes()).hexdigest()


def is_packaged_demo(cohort) -> bool:
    """Whether ``cohort`` was read from the packaged demonstration file (or a byte-identical copy of
    it, as ``ltfu demo`` writes).  Only that cohort is ever treated as synthetic: a user file's
    ``synthetic`` column is an ordinary extra column."""
    return cohort.sha256 is not None and cohort.sha256 == _demo_sha256()


def marked(cohort):
    """``cohort`` with ``synthetic`` set exactly when it is the packaged demonstration file (or a
    byte-identical copy): the one rule, for the analysis and the command line."""
    from dataclasses import replace

    demo = is_packaged_demo(cohort)
    return cohort if cohort.synthetic == demo else replace(cohort, synthetic=demo)


def load_demo(*, cutoff=None, burden_threshold: float = BURDEN_THRESHOLD):
    """The demonstration cohort as a validated Cohort, marked synthetic."""
    from ltfu.cohort import load_cohort

    return load_cohort(demo_path(), cutoff=cutoff, burden_threshold=burden_threshold, synthetic=True)


SUFFIXES = (".csv",)


def write_demo(path, *, overwrite: bool = False) -> Path:
    """Write the synthetic cohort CSV to ``path`` atomically (temporary file, then one move).

    ``path`` must end in ``.csv``; an existing file is replaced only with ``overwrite``; a directory,
    a symbolic link or a special file never is (:class:`ltfu.errors.OutputError`)."""
    from ltfu.outputs import check_out_file, write_file_atomic

    path = check_out_file(path, suffixes=SUFFIXES, overwrite=overwrite, example="synthetic.csv")
    data = demo_path().read_bytes()
    return write_file_atomic(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)
