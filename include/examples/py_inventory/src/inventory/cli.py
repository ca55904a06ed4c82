"""Command line: print the SKUs to reorder today."""

import argparse
import sys

from inventory import db
from inventory.core import restock_plan


class Reporter:
    """Writes one SKU per line so the output pipes into other tools."""

    def __init__(self, out) -> None:
        self.out = out

    def emit(self, skus: list[str]) -> None:
        for sku in skus:
            self._line(sku)

    def _line(self, sku: str) -> None:
        self.out.write(f"{sku}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inventory", description=__doc__)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the warehouse")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    items = db.load_items(args.url)
    Reporter(sys.stdout).emit(restock_plan(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
