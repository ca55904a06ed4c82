"""dbt analysis cost against project size: is it linear in the number of models?

Issue 15 found dbt analysis quadratic (1,000 one-line models 16 s, 4,000 281 s, 16,000 past
900 s). This benchmark generates dbt projects of N one-line models chained with ``ref()`` (each
model selects from the previous one; every 100th reads one of a few ``source()`` tables
declared in a ``schema.yml``), analyses each through the engine exactly as a run does
(``analysis.engine.analyse_repository`` with the dbt analyzer only, no cache, the default
workers and limits), and prints per size the total time, the per-model cost and the number of
``depends_on`` edges found (which must be N: one per model), then the per-model cost of the
largest size over the smallest's. Issue 15's target: within 1.5x from 1k to 16k.

Run::

    .venv/bin/python benchmarks/dbt_scale.py [--sizes 1000,4000,16000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from freshpoc_tasks.analysis.dbt import DbtAnalyzer
from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import AnalysisConfig, SourceFile

SOURCES = 5


def project(n: int) -> list[SourceFile]:
    """A dbt project of ``n`` one-line models, ``m_i`` reading ``m_{i-1}`` (or a source)."""
    files = {
        "dbt_project.yml": "name: scale\nversion: '1.0'\nprofile: scale\n",
        "profiles.yml": "scale:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n",
        "models/sources.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n"
                              + "".join(f"      - name: t{s}\n" for s in range(SOURCES)),
    }
    for i in range(n):
        folder = f"models/g{i // 500}"
        if i % 100 == 0:
            upstream = f"{{{{ source('raw', 't{(i // 100) % SOURCES}') }}}}"
        else:
            upstream = f"{{{{ ref('m{i - 1}') }}}}"
        files[f"{folder}/m{i}.sql"] = f"select id, amount + {i} as amount from {upstream}\n"
    return [SourceFile.from_text(p, t) for p, t in files.items()]


def run(n: int) -> tuple[float, int, int]:
    files = project(n)
    start = time.perf_counter()
    delta = analyse_repository(files, f"local/dbt-scale-{n}", config=AnalysisConfig(),
                               analyzers=[DbtAnalyzer()], cache=None)
    seconds = time.perf_counter() - start
    depends = sum(1 for e in delta.edges if e.type == "depends_on")
    errors = sum(1 for d in delta.diagnostics if d.severity == "error")
    return seconds, depends, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000,16000", help="comma-separated model counts")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"{'models':>8} {'total s':>9} {'ms/model':>9} {'depends_on':>11} {'errors':>7}")
    per_model: dict[int, float] = {}
    for n in sizes:
        seconds, depends, errors = run(n)
        per_model[n] = seconds / n
        print(f"{n:>8} {seconds:>9.2f} {1000 * seconds / n:>9.3f} {depends:>11} {errors:>7}", flush=True)
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        ratio = per_model[hi] / per_model[lo]
        verdict = "linear (target <= 1.5x)" if ratio <= 1.5 else "NOT linear (target <= 1.5x)"
        print(f"per-model cost {hi}/{lo}: {ratio:.2f}x  {verdict}")


if __name__ == "__main__":
    main()
