"""The API as Airflow serves it, and the HTML report as a browser renders it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from freshpoc_tasks.stack.assets import ensure_mermaid

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "api"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_every_plugin_route_in_the_api_server_needs_an_authorised_user(stack, tokens):
    base = f"{stack.cfg.airflow_url}/freshpoc"
    spec = httpx.get(f"{base}/openapi.json").json()
    paths = sorted(spec["paths"])
    assert len(paths) == 21
    with httpx.Client(timeout=30) as client:
        for path in paths:
            url = base + path.replace("{name}", "repositories")
            assert client.get(url).status_code == 401, path
            r = client.get(url, headers={"Authorization": f"Bearer {tokens['viewer']}"})
            assert (r.status_code, r.headers["content-type"]) == (403, "application/problem+json"), path
            assert client.get(url, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403, path
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        for path in ("/health", "/queries", "/reports"):
            assert client.get(base + path, headers=admin).status_code == 200, path
        plugins = client.get(f"{stack.cfg.airflow_url}/api/v2/plugins", headers=admin).json()["plugins"]
    views = [v for p in plugins if p["name"] == "freshpoc" for v in p["external_views"]]
    assert [(v["name"], v["href"], v["destination"]) for v in views] == [
        ("FreshPoC reports", "/freshpoc/reports", "nav")]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed on first use (the test machine is a root Debian box)."""
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, capture_output=True,
                       env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        found = shutil.which("chromium")
    assert found, "chromium could not be installed"
    return found


def _browser(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="freshpoc-chromium-") as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, check=False)


def test_html_report_renders_mermaid_to_svg_in_headless_chromium(api, chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(ensure_mermaid(), ARTIFACTS / "mermaid.min.js")
    page = api.get("/reports/repository?repo=local/jaffle_shop&format=html").text
    page = page.replace('src="/assets/mermaid.min.js"', 'src="mermaid.min.js"')  # served next to the file
    report = ARTIFACTS / "jaffle_shop_report.html"
    report.write_text(page)
    url = report.as_uri()
    dom = _browser(chromium, "--virtual-time-budget=15000", "--dump-dom", url).stdout
    kinds = re.findall(r'<svg[^>]*aria-roledescription="([^"]+)"', dom)
    assert kinds == ["pie", "flowchart-v2", "quadrantChart", "flowchart-v2"], kinds
    assert "Syntax error" not in dom
    labels = set(re.findall(r'<span class="nodeLabel"[^>]*>(?:<p>)?([^<]+)', dom))
    assert {"stg_customers", "stg_orders", "stg_payments", "customers", "orders", "raw.payments",
            "int_order_payments", "orders_snapshot", "models/", "ann@example.com"} <= labels, labels
    shot = ARTIFACTS / "jaffle_shop_report.png"
    shot.unlink(missing_ok=True)
    _browser(chromium, "--virtual-time-budget=15000", "--window-size=1280,4000", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000
