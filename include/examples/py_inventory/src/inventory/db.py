"""Read stock levels from the analytics warehouse."""

import pandas as pd
from sqlalchemy import create_engine

from .core import Item

STOCK_QUERY = "select sku, on_hand, reorder_point from analytics.stock_levels"


def load_items(url: str) -> list[Item]:
    engine = create_engine(url)
    frame = pd.read_sql("select sku, on_hand, reorder_point from analytics.stock_levels", engine)
    return [Item(**row) for row in frame.to_dict("records")]
