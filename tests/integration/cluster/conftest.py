"""Tests of the cluster profile (``freshpoc stack up --profile cluster``), marked ``cluster``.

They run on the profile that ``make cluster-test`` brings up (and takes down), never on the
default stack, and never start servers themselves. Where the profile is not up, every test here
is skipped with the reason: the profile needs memory a small CI machine may not have (three
Kafka JVMs, three alphas, Airflow and two Celery workers: ~5 GB), so CI runs it only when the
machine has it (``make cluster-test`` checks and says so).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from freshpoc_tasks.stack.manager import Stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the cluster profile "
                            "(freshpoc stack up --profile cluster; make cluster-test)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Stack]:
    """The running cluster profile; this process's hooks point at it while its tests run (the
    default profile's connections, if another test set them, are put back after)."""
    from freshpoc_tasks.stack.cluster import cluster_config, connection_env, use_cluster
    from freshpoc_tasks.stack.supervisor import Supervisor

    cfg = cluster_config()
    if not Supervisor(cfg).running():  # asked before Stack(), which writes its state folder
        pytest.skip(f"the cluster profile is not running (state {cfg.state_dir}): "
                    "'make cluster-test' brings it up when the machine has the memory")
    stack = Stack(cfg, profile="cluster")
    # Each test asks for the services it needs to be healthy (test_drills.need).
    saved = dict(os.environ)
    os.environ.update(connection_env(stack.cfg))  # over any default-profile connection
    use_cluster(stack.cfg)
    try:
        yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def cluster_api(cluster: Stack):
    from freshpoc_tasks.stack.airflow_rest import AirflowRest

    with AirflowRest(cluster.cfg.airflow_url) as api:
        yield api
