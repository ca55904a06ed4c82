"""FreshPoC: git repositories into a queryable code knowledge graph, orchestrated by Airflow 3."""

__version__ = "0.1.0"
