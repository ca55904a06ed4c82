"""Reporting core: Markdown + Mermaid reports rendered from graph and mining records."""
