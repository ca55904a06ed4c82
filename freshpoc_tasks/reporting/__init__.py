"""Reporting core: Markdown + Mermaid reports rendered from graph and mining values (no I/O).

Entry points for the report operator: :func:`render_repository_report` and
:func:`render_impact_report`, each returning ``(markdown, html)``.
"""

from freshpoc_tasks.reporting.metrics import CouplingPair, Ownership, coupling, ownership_by_folder
from freshpoc_tasks.reporting.reports import (
    Affected,
    Hotspot,
    ImpactReport,
    ParseFailure,
    RepositoryReport,
    TrendPoint,
    render_impact_report,
    render_repository_report,
)

__all__ = [
    "Affected", "CouplingPair", "Hotspot", "ImpactReport", "Ownership", "ParseFailure",
    "RepositoryReport", "TrendPoint", "coupling", "ownership_by_folder", "render_impact_report",
    "render_repository_report",
]
