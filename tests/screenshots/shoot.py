"""Screenshots of each report section in headless Chromium, reduced to small grey images, for
tests/test_screenshots.py and for writing the committed references:

    .venv/bin/python tests/screenshots/shoot.py        # rewrites tests/screenshots/*.png

Each section is rendered alone (the report's header, then that section) from the SYNTHETIC
demonstration study, shot at 1000 x 4000 CSS pixels and reduced to 100 x 400 by averaging 10 x 10
blocks: coarse on purpose, so that a missing figure, a broken table or a lost style changes the
image and a font's hinting does not."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
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


def shoot(html: Path, work: Path) -> np.ndarray:
    """The page's first WINDOW pixels, grey, reduced by BLOCK: a float array in [0, 1]."""
    from PIL import Image

    png = work / f"{html.parent.name}.png"
    proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={work / 'profile'}",
                           f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={png}", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed on {html}: {proc.stderr[-500:]}")
    with Image.open(png) as im:
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
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for section, html in section_reports(work / "reports"):
            img = shoot(html, work)
            Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L").save(HERE / f"{section}.png")
            print(f"wrote {section}.png")


if __name__ == "__main__":
    main()
