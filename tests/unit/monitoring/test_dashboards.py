"""Grafana dashboards (include/monitoring/grafana): well-formed, on the provisioned datasource,
querying only metrics that exist, valid PromQL, and listed for Prometheus's UI (PANELS.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from freshpoc_tasks.cli.stack import dashboards_dir, panel_queries, panels_markdown
from freshpoc_tasks.operators import metrics

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "include" / "monitoring" / "grafana"
BOARDS = {p.name: json.loads(p.read_text()) for p in sorted(dashboards_dir(ROOT).glob("*.json"))}
MAPPING = yaml.safe_load((ROOT / "include" / "monitoring" / "statsd_mapping.yml").read_text())
EXPRS = [expr for _b, _p, expr in panel_queries(dashboards_dir(ROOT))]


def test_the_four_dashboards() -> None:
    titles = {b["title"] for b in BOARDS.values()}
    assert titles == {"FreshPoC / Pipeline overview", "FreshPoC / Analyzers",
                      "FreshPoC / Graph growth", "FreshPoC / Servers"}
    assert len({b["uid"] for b in BOARDS.values()}) == len(BOARDS)


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    sources = yaml.safe_load((ROOT / "docker" / "grafana-datasources.yaml").read_text())["datasources"]
    uid = next(s["uid"] for s in sources if s["type"] == "prometheus")
    for name, board in BOARDS.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": uid}
                assert target["expr"].strip()


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(freshpoc_[a-z_]+|airflow_[a-z_]+)\b", expr)) - {"freshpoc_pipeline"}


def test_freshpoc_metrics_on_the_dashboards_are_the_mapped_ones_and_all_are_shown() -> None:
    mapped = {m["name"] for m in MAPPING["mappings"] if m["name"].startswith("freshpoc_")}
    series = {n + suffix for n in mapped for suffix in ("", "_bucket", "_sum", "_count")}
    used = {n for expr in EXPRS for n in _metric_names(expr) if n.startswith("freshpoc_")}
    assert used <= series, f"panels query unmapped metrics: {used - series}"
    shown = {n for n in mapped if any(u.startswith(n) for u in used)}
    assert shown == mapped, f"metrics no panel shows: {mapped - shown}"
    assert len(mapped) == len(metrics.CATALOGUE)


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every expression (as recording rules, which it checks one by one)."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.skip("promtool is not installed (Debian's prometheus package; freshpoc stack up installs it)")
    rules = {"groups": [{"name": "panels", "rules": [
        {"record": f"panel:check_{i}", "expr": expr} for i, expr in enumerate(EXPRS)]}]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_panels_md_is_generated_from_the_dashboards() -> None:
    """Regenerate with ``freshpoc stack panels --prometheus-url http://127.0.0.1:9090 >
    include/monitoring/grafana/PANELS.md``."""
    expected = panels_markdown("http://127.0.0.1:9090", dashboards_dir(ROOT))
    assert (GRAFANA / "PANELS.md").read_text() == expected
    assert expected.count("](http://127.0.0.1:9090/graph?g0.expr=") == len(EXPRS)
