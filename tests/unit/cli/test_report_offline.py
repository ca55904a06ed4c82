"""The HTML report ``freshpoc report`` writes draws its diagrams offline, from a file:// URL.

The Mermaid bundle the stack installed is shipped next to the report; headless Chromium opens the
page from disk (no server, no network) and must find rendered SVG diagrams, not Mermaid text.
Needs the bundle (``freshpoc stack up`` installs it) and a Chromium on PATH (the browser tests
install one); without them this test is skipped, saying which is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from freshpoc_tasks.reporting.offline import find_bundle

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=15000"]


@pytest.fixture
def browser():
    """(chromium, bundle), or a skip naming what is missing — asked before the repository is built."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    bundle = find_bundle()
    missing = [what for what, found in (("chromium on PATH", chromium),
                                        ("the Mermaid bundle (freshpoc stack up)", bundle)) if found is None]
    if missing:
        pytest.skip("needs " + " and ".join(missing))
    return chromium, bundle


def test_report_html_renders_its_diagrams_from_disk(browser, reported, tmp_path):
    chromium, bundle = browser
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", "report", str(reported["path"]),
                           "--ref", reported["c2"], "--out", str(out), *reported["caches"]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (out / "mermaid.min.js").read_bytes() == bundle.read_bytes()
    page = (out / "report.html").read_text()
    assert '<script src="mermaid.min.js"></script>' in page and "mermaid-note" not in page
    with tempfile.TemporaryDirectory(prefix="freshpoc-chromium-") as profile:
        dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              (out / "report.html").as_uri()],
                             capture_output=True, text=True, timeout=120, check=False).stdout
    kinds = re.findall(r'<svg[^>]*aria-roledescription="([^"]+)"', dom)
    assert kinds[:2] == ["pie", "flowchart-v2"] and len(kinds) >= 4, kinds
    assert "Syntax error" not in dom
