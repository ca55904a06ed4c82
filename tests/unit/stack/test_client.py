"""Commands from a plain shell: connections from the checkout, one-line errors, demo links."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from freshpoc_tasks.cli.demo import report_links
from freshpoc_tasks.stack import client
from freshpoc_tasks.stack.assets import cache_root, mermaid_path
from freshpoc_tasks.stack.config import StackConfig


@pytest.fixture
def cfg(tmp_path) -> StackConfig:
    return StackConfig.from_env().with_overrides(state_dir=tmp_path / "state", cache_dir=tmp_path / "home")


def test_use_local_stack_sets_the_connections_but_never_overrides_the_user(cfg, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # what the call adds stays in this test
    monkeypatch.setenv("AIRFLOW_CONN_FRESHPOC_DGRAPH", "dgraph://elsewhere:9080")
    monkeypatch.delenv("AIRFLOW_CONN_FRESHPOC_POSTGRES", raising=False)
    added = client.use_local_stack(cfg)
    assert os.environ["AIRFLOW_CONN_FRESHPOC_DGRAPH"] == "dgraph://elsewhere:9080"
    assert "AIRFLOW_CONN_FRESHPOC_DGRAPH" not in added
    assert '"conn_type": "postgres"' in os.environ["AIRFLOW_CONN_FRESHPOC_POSTGRES"]
    assert "AIRFLOW_CONN_FRESHPOC_POSTGRES" in added


def test_a_shell_command_sends_no_metrics_unless_told(cfg, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.delenv("AIRFLOW__METRICS__STATSD_ON", raising=False)
    client.use_local_stack(cfg)
    assert os.environ["AIRFLOW__METRICS__STATSD_ON"] == "False"
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")  # the user's setting wins
    client.use_local_stack(cfg)
    assert os.environ["AIRFLOW__METRICS__STATSD_ON"] == "True"


def test_without_a_checkout_the_error_says_what_to_set(cfg, tmp_path):
    elsewhere = StackConfig(cache_dir=cfg.cache_dir, state_dir=cfg.state_dir, checkout=tmp_path / "none",
                            venv=cfg.venv)
    with pytest.raises(client.ClientSetupError, match="AIRFLOW_CONN_FRESHPOC_<NAME>"):
        client.use_local_stack(elsewhere)


class NotDefined(Exception):
    pass


NotDefined.__name__ = "AirflowNotFoundException"


@pytest.mark.parametrize(("exc", "expected"), [
    (NotDefined("The conn_id `freshpoc_postgres` isn't defined"), "set AIRFLOW_CONN_<CONN_ID>"),
    (ConnectionRefusedError(111, "Connection refused"), "is the stack up? 'freshpoc stack status'"),
    (ValueError("bad\nsecond line"), "ValueError: bad"),
])
def test_errors_become_one_line(exc, expected, capsys):
    @client.one_line_errors
    def command(args):
        raise exc

    assert command(argparse.Namespace(verbose=0)) == 1
    err = capsys.readouterr().err
    assert expected in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    with pytest.raises(type(exc)):
        command(argparse.Namespace(verbose=1))  # -v keeps the traceback


def test_report_links_open_in_a_browser_next_to_the_s3_uris(cfg):
    links = report_links(cfg, "local/jaffle_shop-1a2b3c4d", "abc123")
    port = cfg.ports["airflow"]
    assert links == {
        "page": f"http://127.0.0.1:{port}/freshpoc/reports/repository?format=html&repo=local%2Fjaffle_shop-1a2b3c4d",
        "s3": "s3://freshpoc/reports/local/jaffle_shop-1a2b3c4d/abc123/report.html",
        "s3_md": "s3://freshpoc/reports/local/jaffle_shop-1a2b3c4d/abc123/report.md",
        "console": f"http://127.0.0.1:{cfg.ports['minio_console']}/browser/freshpoc/"
                   "reports%2Flocal%2Fjaffle_shop-1a2b3c4d%2Fabc123%2Freport.html",
    }
    assert set(report_links(cfg, "local/x", None)) == {"page"}


def test_stack_up_and_the_api_agree_on_where_the_mermaid_bundle_is(cfg, monkeypatch):
    """The stack installs under cfg.cache_dir and hands it to Airflow as FRESHPOC_HOME; the API
    resolves the bundle from FRESHPOC_HOME at request time: both must name the same file."""
    from freshpoc_tasks.api.app import _default_mermaid
    from freshpoc_tasks.stack.services import airflow_env

    monkeypatch.setenv("FRESHPOC_HOME", airflow_env(cfg)["FRESHPOC_HOME"])
    assert _default_mermaid() == mermaid_path(cfg.cache_dir)
    assert cache_root() == Path(cfg.cache_dir)
    assert mermaid_path(cfg.cache_dir).is_relative_to(cfg.cache_dir / "npm")
