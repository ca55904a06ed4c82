"""Mining core: repository access, file inventory and git history. No Airflow, no servers."""

from freshpoc_tasks.mining.access import (
    Credentials,
    RefNotFoundError,
    Repository,
    UnsafeLocationError,
    open_repository,
    validate_location,
)
from freshpoc_tasks.mining.history import HistoryAggregates, HistoryMiner, mine_history
from freshpoc_tasks.mining.inventory import iter_inventory
from freshpoc_tasks.mining.pipeline import STAGE_FILE, MineResult, load_previous, mine_repository

__all__ = [
    "STAGE_FILE",
    "Credentials",
    "HistoryAggregates",
    "HistoryMiner",
    "MineResult",
    "RefNotFoundError",
    "Repository",
    "UnsafeLocationError",
    "iter_inventory",
    "load_previous",
    "mine_history",
    "mine_repository",
    "open_repository",
    "validate_location",
]
