"""Operators: thin wrappers that resolve hooks, call the core, stage artifacts and emit events."""
