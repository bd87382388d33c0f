"""Where ltfu may write, and how: the rule that no user file is ever lost to an output path.

**A report directory** (``ltfu report --out DIR``).  ltfu only ever replaces a directory that ltfu
made.  ``DIR`` may be

- a path that does not exist: it is created, parents too, with the user's umask;
- an existing empty directory: it is used (its permissions are kept);
- an ltfu report: a directory holding ``.ltfu-manifest.json`` (every file ltfu wrote, with its
  SHA-256, and the ltfu version) in which every file is still one the manifest lists with the same
  checksum and nothing else is present.  It is replaced as a whole.

Anything else is refused before anything is written (:class:`OutputError` with ``usage=True``,
exit 2): the empty string, a path ending in ``.`` or ``..``, ``/``, the home directory or one that
contains it, the current directory or one that contains it, the directory holding an input file or
one that contains it, a symbolic link (never followed), an existing file, or a directory holding
anything ltfu did not write (or a file changed since).

The write itself: the report is built in a hidden sibling ``.DIR.tmp-XXXX`` marked with
``.ltfu-partial`` (held under ``flock`` while its run is alive); then, under a lock on
``.DIR.lock`` beside ``DIR``, the directory is checked again and swapped in: the previous report
is renamed to ``.DIR.old-XXXX``, the new one renamed to ``DIR``, the old one removed file by file
(each checked against its manifest, the manifest last).  A run that dies between the two renames
leaves ``DIR`` missing and ``.DIR.old-XXXX`` complete: the next run renames it back first.
Leftovers are removed only when they are provably ltfu's: a temporary whose marker is not held by a
live run, or a directory whose every file checks against its manifest.  The lock file is removed
when the lock is released.

**A single file** (``ltfu demo --out FILE``, ``ltfu simulate --out FILE``): the extension picks the
format and must be one of the accepted ones; an existing file is refused unless ``overwrite``; a
directory, a symbolic link or anything but a regular file is always refused.  The file is written
to a hidden temporary sibling and moved into place in one step.
"""

from __future__ import annotations

from ltfu.outputs.cleanup import LOCK_TIMEOUT, clean_stale, locked, recover
from ltfu.outputs.files import check_out_file, write_file_atomic
from ltfu.outputs.manifest import check_ltfu_dir, check_report_target, write_manifest
from ltfu.outputs.target import MANIFEST, MANIFEST_KIND, PARTIAL, ReportTarget, resolve_report_target
from ltfu.outputs.transaction import report_transaction

__all__ = [
    "LOCK_TIMEOUT",
    "MANIFEST",
    "MANIFEST_KIND",
    "PARTIAL",
    "ReportTarget",
    "check_ltfu_dir",
    "check_out_file",
    "check_report_target",
    "clean_stale",
    "locked",
    "recover",
    "report_transaction",
    "resolve_report_target",
    "write_file_atomic",
    "write_manifest",
]
