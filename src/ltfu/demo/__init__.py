"""The SYNTHETIC demonstration cohort (53 made-up patients; not patient data).

``demo_path()`` is the packaged CSV, made by ``generator.generate()`` (a test checks the file is
exactly what the generator makes); ``load_demo()`` reads it through the same loader and validation
as any user file; ``write_demo(path)`` writes a copy atomically.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

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


def load_demo(*, cutoff=None, burden_threshold: float = 5.0):
    """The demonstration cohort as a validated Cohort, marked synthetic."""
    from ltfu.cohort import load_cohort

    return load_cohort(demo_path(), cutoff=cutoff, burden_threshold=burden_threshold, synthetic=True)


def write_demo(path) -> Path:
    """Write the synthetic cohort CSV to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = demo_path().read_bytes()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
