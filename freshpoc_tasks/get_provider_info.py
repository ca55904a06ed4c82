"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

It declares the ``dgraph`` connection type (with its form fields) so the Airflow UI can create
``freshpoc_dgraph`` connections, and names our hooks and operators for discovery.
"""

from __future__ import annotations

from typing import Any

from freshpoc_tasks import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "freshpoc-tasks",
        "name": "FreshPoC",
        "description": "Code knowledge graphs from git repositories: Dgraph, Weaviate, Kafka, MinIO.",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "freshpoc_tasks.hooks.dgraph.DgraphHook",
                "hook-name": "Dgraph",
                "connection-type": "dgraph",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {"host": "Alpha gRPC host", "port": "Alpha gRPC port",
                                   "login": "User (ACL)", "password": "Password (ACL)"},
                    "placeholders": {"host": "127.0.0.1", "port": "9082"},
                },
                "conn-fields": {
                    "http_port": {"label": "Alpha HTTP port (health, admin)",
                                  "schema": {"type": ["integer", "null"], "default": 8080}},
                    "namespace": {"label": "Namespace (multi-tenancy)",
                                  "schema": {"type": ["integer", "null"], "default": 0}},
                    "tls": {"label": "Use TLS", "schema": {"type": ["boolean", "null"], "default": False}},
                    "timeout": {"label": "Request timeout (seconds)",
                                "schema": {"type": ["integer", "null"], "default": 60}},
                },
            }
        ],
    }
