"""Screenshots of each report section in headless Chromium, reduced to small grey images, for
tests/test_screenshots.py and for writing the committed references:

    .venv/bin/python tests/screenshots/shoot.py        # rewrites tests/screenshots/*.png

Each section is rendered alone (the report's header, then that section) from the SYNTHETIC
demonstration study, shot at 1000 x 4000 CSS pixels and reduced to 100 x 400 by averaging 10 x 10
blocks: coarse on purpose, so that a missing figure, a broken table or a lost style changes the
image and a font's hinting does not.  One Chromium takes every screenshot (``Browser``): a launch
costs 1.5-2 s, a page over its DevTools pipe about 0.3 s."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
WINDOW = (1000, 4000)
BLOCK = 10
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--force-device-scale-factor=1", "--font-render-hinting=none"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def demo_results():
    """The results of `ltfu report --demo`: the SYNTHETIC demo study with its three earlier cuts."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.demo import load_demo_study
    from ltfu.demo.cuts import demo_cut_studies

    study = load_demo_study()
    earlier = [(label, date, s) for date, label, s in demo_cut_studies()]
    study = replace(study, cuts=(*earlier, ("SYNTHETIC demonstration study", study.cohort.cutoff_date, study)))
    return analyse(study, AnalysisOptions())


def section_reports(out: Path, results=None):
    """(section id, report.html) of every section of the demo study's report (``results``, by
    default ``demo_results()``), each alone."""
    from ltfu.report import write_report

    results = demo_results() if results is None else results
    for sec in results.sections:
        one = replace(results, sections=(sec,), figures=tuple(f for f in results.figures if f.name in sec.figures))
        yield sec.id, write_report(one, out / sec.id, formats=("html",))


class Browser:
    """One headless Chromium for many screenshots, driven over its DevTools pipe
    (``--remote-debugging-pipe``: JSON messages ended by NUL, commands read from its fd 3, answers
    and events written to its fd 4): a page of WINDOW CSS pixels at scale 1, shot after its load
    event.  The images are those of ``--screenshot`` (every reference compared equal when it
    was introduced).  Use as a context manager."""

    TIMEOUT = 120.0

    def __init__(self, work: Path):
        commands, self._commands = os.pipe()       # we write, Chromium reads on its fd 3
        self._answers, answers = os.pipe()         # Chromium writes on its fd 4, we read
        log = work / "chromium.log"                 # a file, not a pipe nobody reads while it fills
        self._log = log
        # started by posix_spawn, whose file actions put the pipes on fds 3 and 4 without Python code
        # in the child (a preexec_fn is not safe in a process with threads, as xdist's workers are);
        # the pipes first go to fds above 9, so that no move overwrites the other pipe's end
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands, answers)]
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            self._pid = os.posix_spawn(chromium(), [chromium(), *FLAGS, f"--user-data-dir={work / 'profile'}",
                                                    "--remote-debugging-pipe", "about:blank"], os.environ,
                                       file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                                                     (os.POSIX_SPAWN_DUP2, out, 2),
                                                     (os.POSIX_SPAWN_DUP2, high[0], 3),
                                                     (os.POSIX_SPAWN_DUP2, high[1], 4)])
        finally:
            for fd in (commands, answers, *high, out, null):
                os.close(fd)
        self._status: int | None = None
        self._id, self._pending = 0, b""
        try:
            target = self._call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self._call("Page.enable", session=True)
            self._call("Emulation.setDeviceMetricsOverride", session=True, width=WINDOW[0], height=WINDOW[1],
                       deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _message(self) -> dict:
        while b"\0" not in self._pending:
            ready, _, _ = select.select([self._answers], [], [], self.TIMEOUT)
            chunk = os.read(self._answers, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError(f"chromium gave no answer ({'closed' if ready else 'timed out'}): "
                                   f"{self._log.read_text(errors='replace')[-500:]}")
            self._pending += chunk
        message, self._pending = self._pending.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, *, session: bool = False, until: str | None = None, **params) -> dict:
        """Send a command; return its result, after the event ``until`` when one is named."""
        self._id += 1
        command = {"id": self._id, "method": method, "params": params}
        if session:
            command["sessionId"] = self._session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        result, seen = None, until is None
        while result is None or not seen:
            m = self._message()
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"chromium {method}: {m['error']}")
                result = m.get("result", {})
            seen = seen or m.get("method") == until
        return result

    def png(self, html: Path) -> bytes:
        self._call("Page.navigate", session=True, until="Page.loadEventFired", url=html.as_uri())
        return base64.b64decode(self._call("Page.captureScreenshot", session=True, format="png")["data"])

    def _exited(self, wait: float = 0.0) -> bool:
        """Whether Chromium has exited, waiting up to ``wait`` seconds for it."""
        deadline = time.monotonic() + wait
        while self._status is None:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                self._status = status
            elif time.monotonic() >= deadline:
                return False
            else:
                time.sleep(0.05)
        return True

    def close(self) -> None:
        if not self._exited():
            with contextlib.suppress(RuntimeError, OSError):
                self._call("Browser.close")
            if not self._exited(wait=30):
                os.kill(self._pid, signal.SIGKILL)
                self._exited(wait=30)
        for fd in (self._commands, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def shoot(html: Path, browser: Browser) -> np.ndarray:
    """The page's first WINDOW pixels, grey, reduced by BLOCK: a float array in [0, 1]."""
    from PIL import Image

    with Image.open(io.BytesIO(browser.png(html))) as im:
        grey = np.asarray(im.convert("L").resize(WINDOW), float) / 255.0
    h, w = WINDOW[1] // BLOCK, WINDOW[0] // BLOCK
    return grey[:h * BLOCK, :w * BLOCK].reshape(h, BLOCK, w, BLOCK).mean(axis=(1, 3))


def load_reference(section: str) -> np.ndarray | None:
    from PIL import Image

    p = HERE / f"{section}.png"
    if not p.exists():
        return None
    with Image.open(p) as im:
        return np.asarray(im, float) / 255.0


def main() -> None:
    from PIL import Image

    if chromium() is None:
        sys.exit("headless Chromium is needed (Debian package chromium)")
    with tempfile.TemporaryDirectory() as d, Browser(Path(d)) as browser:
        work = Path(d)
        for section, html in section_reports(work / "reports"):
            img = shoot(html, browser)
            Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L").save(HERE / f"{section}.png")
            print(f"wrote {section}.png")


if __name__ == "__main__":
    main()
