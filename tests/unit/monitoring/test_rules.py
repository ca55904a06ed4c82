"""Prometheus rules (include/monitoring/prometheus/rules.yml) through Prometheus's own promtool.

``promtool check rules`` validates them and ``promtool test rules`` runs the committed cases
(tests/rules_test.yml): every alert has a case where it must fire and one where it must not.
promtool comes with Debian's prometheus package, which ``freshpoc stack up`` installs; the test
is skipped only where it is not installed yet (``make unit`` on a new machine).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = ROOT / "include" / "monitoring" / "prometheus"
RULES = RULES_DIR / "rules.yml"
RULE_TESTS = RULES_DIR / "tests" / "rules_test.yml"


def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if found is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; freshpoc stack up installs it)")
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_are_valid() -> None:
    out = run("check", "rules", str(RULES), cwd=RULES_DIR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_unit_tests_pass() -> None:
    out = run("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
              if "alert" in r}
    cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for c in t.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts == fires, f"alerts never expected to fire: {alerts - fires}"
    assert alerts == quiet, f"alerts never expected to stay quiet: {alerts - quiet}"


@pytest.mark.parametrize(("rule_edit", "why"), [
    (("ratio:1h > 0.25", "ratio:1h > 0.5"), "the parse-failure threshold"),
    (("        for: 1m\n", "        for: 0s\n"), "ServerDown's one-minute grace"),
    (("freshpoc_dlq_messages_total unless", "freshpoc_dlq_messages_total and"), "a first dead letter"),
])
def test_a_wrong_rule_fails_the_rule_tests(tmp_path: Path, rule_edit: tuple[str, str], why: str) -> None:
    """The committed cases catch a broken rule (so the green run above means something)."""
    old, new = rule_edit
    text = RULES.read_text()
    assert old in text, why
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules.yml").write_text(text.replace(old, new))
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)
    out = run("test", "rules", RULE_TESTS.name, cwd=tmp_path / "tests")
    assert out.returncode != 0, f"breaking {why} went unnoticed:\n{out.stdout}"
