"""The report in a real browser (headless Chromium, Debian package `chromium`): it loads without
console errors, every figure is drawn with a non-zero size, the synthetic banner is visible, and an
XSS payload placed in every text field does not run.  The report allows no scripts (its
Content-Security-Policy), so no probe script can run inside it: the checks read the DOM Chromium
has after load (--dump-dom), its log, and a screenshot."""

import shutil
import subprocess

import pytest

from ltfu.analysis import AnalysisOptions, analyse
from ltfu.demo import load_demo
from ltfu.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package chromium) is not "
                                                          "installed; .ci/run installs it")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium(tmp_path, *args, timeout=120):
    profile = tmp_path / "profile"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                           *args], capture_output=True, text=True, timeout=timeout)
    return proc


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    write_report(analyse(load_demo(), AnalysisOptions()), out, formats=("html",))
    return out / "report.html"


def test_page_renders_with_banner_figures_and_no_console_errors(report, tmp_path):
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="synthetic-banner"' in html and "SYNTHETIC DEMONSTRATION DATA" in html
    assert html.count("<img ") >= 10
    for line in dom.stderr.splitlines():
        assert "CONSOLE" not in line.upper() or "ERROR" not in line.upper(), line
        assert "Uncaught" not in line, line
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, "--window-size=1200,3000", f"--screenshot={shot}", report.as_uri())
    assert proc.returncode == 0 and shot.stat().st_size > 50_000
    # the first rows of the screenshot are the red banner (#b00020)
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    top = img[5:30, 100:1100, :3].reshape(-1, 3).mean(axis=0)
    assert top[0] > 0.55 and top[1] < 0.15 and top[2] < 0.25, top


def test_figures_have_non_zero_size(report, tmp_path):
    """Each inline SVG figure decodes and declares a positive size."""
    import base64
    import re

    html = report.read_text()
    imgs = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert len(imgs) >= 10
    for b64, w, h in imgs:
        svg = base64.b64decode(b64).decode()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert int(w) > 100 and int(h) > 100


def _title(dom_html: str) -> str:
    import re

    m = re.search(r"<title>(.*?)</title>", dom_html, re.S)
    return m.group(1) if m else ""


def test_xss_payloads_do_not_execute(tmp_path):
    """Payloads that would set document.title to PWNED sit in every text field; after load the title
    is the report's own.  The control page (the same payload unescaped, no CSP) shows the check
    detects execution."""
    from test_report_render import PAYLOADS, _hostile_results

    out = write_report(_hostile_results(), tmp_path / "r", formats=("html",))
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", out.as_uri())
    assert dom.returncode == 0
    assert _title(dom.stdout) != "PWNED" and "&lt;script&gt;" in _title(dom.stdout)
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>ok</title></head><body>{PAYLOADS[1]}</body></html>")
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", control.as_uri())
    assert _title(dom.stdout) == "PWNED"
