"""The API as Airflow serves it, and the HTML report as a browser renders it.

The Mermaid bundle the reports load is installed by ``freshpoc stack up`` (its asset step,
:meth:`Stack.install_assets`), never by a test: the rendering test proves it by running that step
on an empty cache of its own and serving the report from it.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freshpoc_tasks.stack.assets import ensure_chromium, mermaid_path
from freshpoc_tasks.stack.manager import Stack
from freshpoc_tasks.testing.serve import ServedApp
from tests.integration.api.conftest import TEST_CONN

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "api"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Routes every Airflow user may read (tests/integration/api/test_proposals.py covers them).
PROPOSAL_ROUTES = {"/proposals", "/proposals/page", "/proposals/{proposal_id}"}
# The liveness probe: no login, no data.
PUBLIC_ROUTES = {"/live"}


def test_every_plugin_route_in_the_api_server_needs_an_authorised_user(stack, tokens):
    base = f"{stack.cfg.airflow_url}/freshpoc"
    spec = httpx.get(f"{base}/openapi.json").json()
    paths = sorted(set(spec["paths"]) - PROPOSAL_ROUTES - PUBLIC_ROUTES)
    assert set(spec["paths"]) >= PROPOSAL_ROUTES | PUBLIC_ROUTES
    assert len(paths) == 21
    with httpx.Client(timeout=30) as client:
        live = client.get(f"{base}/live")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        for path in paths:
            url = base + path.replace("{name}", "repositories")
            assert client.get(url).status_code == 401, path
            r = client.get(url, headers={"Authorization": f"Bearer {tokens['viewer']}"})
            assert (r.status_code, r.headers["content-type"]) == (403, "application/problem+json"), path
            assert client.get(url, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403, path
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        for path in ("/health", "/queries", "/reports", "/proposals/page"):
            assert client.get(base + path, headers=admin).status_code == 200, path
        plugins = client.get(f"{stack.cfg.airflow_url}/api/v2/plugins", headers=admin).json()["plugins"]
    views = [v for p in plugins if p["name"] == "freshpoc" for v in p["external_views"]]
    assert [(v["name"], v["href"], v["destination"]) for v in views] == [
        ("FreshPoC reports", "/freshpoc/reports", "nav"),
        ("Ontology proposals", "/freshpoc/proposals/page", "nav")]


def test_the_running_stack_serves_the_mermaid_bundle_stack_up_installed(stack, tokens):
    """What ``stack up`` installed is what Airflow's api-server serves: the same file."""
    r = httpx.get(f"{stack.cfg.airflow_url}/freshpoc/assets/mermaid.min.js",
                  headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    assert r.status_code == 200, r.text[:200]
    assert r.content == mermaid_path(stack.cfg.cache_dir).read_bytes()


@pytest.fixture(scope="session")
def chromium(stack) -> str:
    """A headless Chromium, installed through the stack's Debian-package path when missing."""
    return ensure_chromium(stack.cfg)


def _browser(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="freshpoc-chromium-") as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def fresh_assets(stack, tmp_path_factory) -> Path:
    """The stack-up asset step run on an empty cache root of its own (the shared cache and the
    running stack are left alone); returns that root."""
    cfg = stack.cfg.with_overrides(cache_dir=tmp_path_factory.mktemp("empty-freshpoc-home"))
    assert not mermaid_path(cfg.cache_dir).exists()
    Stack(cfg).install_assets()
    return cfg.cache_dir


@pytest.fixture(scope="module")
def served(graph, fresh_assets) -> Iterator[str]:
    """The API over HTTP (uvicorn on a free loopback port), reading the bundle from the fresh
    cache and the graph from the private Dgraph. Access control is Airflow's and is tested
    above; a browser cannot send bearer tokens, so this server lets every request in."""
    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    async def anyone() -> str:
        return "browser"

    app = create_app(runner_factory=lambda: DgraphHook(TEST_CONN), auth_dependency=anyone,
                     mermaid_bundle=lambda: mermaid_path(fresh_assets))
    with ServedApp(app) as served:
        yield served.url


def test_stack_up_assets_on_an_empty_cache_render_the_served_report_in_headless_chromium(
        fresh_assets, served, chromium):
    bundle = mermaid_path(fresh_assets)
    assert bundle.is_file() and bundle.stat().st_size > 1_000_000
    url = f"{served}/reports/repository?repo=local%2Fjaffle_shop&format=html"
    assert '<script src="/assets/mermaid.min.js"></script>' in httpx.get(url, timeout=60).text
    assert httpx.get(f"{served}/assets/mermaid.min.js").content == bundle.read_bytes()
    dom = _browser(chromium, "--virtual-time-budget=15000", "--dump-dom", url).stdout
    kinds = re.findall(r'<svg[^>]*aria-roledescription="([^"]+)"', dom)
    assert kinds == ["pie", "flowchart-v2", "quadrantChart", "flowchart-v2"], kinds
    assert "Syntax error" not in dom
    labels = set(re.findall(r'<span class="nodeLabel"[^>]*>(?:<p>)?([^<]+)', dom))
    assert {"stg_customers", "stg_orders", "stg_payments", "customers", "orders", "raw.payments",
            "int_order_payments", "orders_snapshot", "models/", "ann@example.com"} <= labels, labels
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "jaffle_shop_report.png"
    shot.unlink(missing_ok=True)
    _browser(chromium, "--virtual-time-budget=15000", "--window-size=1280,4000", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000
