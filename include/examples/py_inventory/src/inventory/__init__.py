"""Restock planning from the warehouse's stock levels."""

from .core import Item, restock_plan

__all__ = ["Item", "restock_plan"]
