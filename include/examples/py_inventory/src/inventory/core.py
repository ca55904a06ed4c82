"""Decide what to reorder; pure functions so the CLI and tests share them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One stock-keeping unit as the warehouse reports it."""

    sku: str
    on_hand: int
    reorder_point: int

    def needs_restock(self) -> bool:
        """Below the reorder point, counting reserved stock as gone."""
        return self.on_hand < self.reorder_point


@dataclass(frozen=True)
class PerishableItem(Item):
    """Stock that expires: reorder early when it is about to."""

    days_left: int = 30

    def needs_restock(self) -> bool:
        if self.days_left < 3 or self.on_hand == 0:
            return True
        return super().needs_restock()


def restock_plan(items: list[Item], minimum: int = 1) -> list[str]:
    """SKUs to reorder, most urgent first."""
    due = [item for item in items if item.needs_restock() and item.on_hand >= 0]
    due.sort(key=lambda item: item.on_hand - item.reorder_point)
    return [item.sku for item in due][: max(minimum, len(due))]
