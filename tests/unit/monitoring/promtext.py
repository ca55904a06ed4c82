"""Reading Prometheus's text exposition format, enough for the monitoring tests."""

from __future__ import annotations

import re

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample line; comments and blank lines are skipped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def select(samples: list[tuple[str, dict[str, str], float]], name: str,
           **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(lab, v) for n, lab, v in samples
            if n == name and all(lab.get(k) == val for k, val in labels.items())]


def one(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The value of the only sample of ``name`` with these labels (fails if not exactly one)."""
    found = select(samples, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0][1]
