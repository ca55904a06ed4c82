"""Run the analysis engine over generated hostile repositories, in this process, and print what
happened as JSON: per input, every file's diagnostic codes and node count, the run's wall time
and the peak resident memory so far of this process and of every worker it forked.

A separate process so that the peak memory measured is the analysis's alone (``ru_maxrss`` of
this process and its reaped children), not the test runner's.

    python tests/hostile/drive_analysis.py ROOT CONFIG_JSON NAME...   # NAME = folder under ROOT
    python tests/hostile/drive_analysis.py --table RESULT_JSON        # the table for a report
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def load(root: Path) -> list:
    from freshpoc_tasks.analysis.model import SourceFile

    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            files.append(SourceFile.from_text(path.relative_to(root).as_posix(), path.read_bytes()))
    return sorted(files, key=lambda f: f.path)


def run_one(root: Path, config: dict) -> dict:
    from freshpoc_tasks.analysis.engine import RunStats, analyse_repository
    from freshpoc_tasks.analysis.model import AnalysisConfig

    files = load(root)
    stats = RunStats()
    start = time.monotonic()
    try:
        delta = analyse_repository(files, f"local/{root.name}", config=AnalysisConfig(**config), stats=stats)
    except BaseException as exc:  # the point of the suite: this must never happen
        return {"crash": f"{type(exc).__name__}: {exc}"[:500], "seconds": time.monotonic() - start,
                "peak_mb": peak_rss_mb()}
    seconds = time.monotonic() - start
    codes: dict[str, set[str]] = defaultdict(set)
    for d in delta.diagnostics:
        codes[d.path].add(d.code)
    nodes: dict[str, int] = defaultdict(int)
    for n in delta.nodes:
        if n.path:
            nodes[n.path] += 1
    return {
        "seconds": seconds, "peak_mb": peak_rss_mb(),
        "files": {f.path: {"codes": sorted(codes.get(f.path, ())), "nodes": nodes.get(f.path, 0)}
                  for f in files},
        "step_codes": sorted(codes.get("", ())),
        "edges": dict(Counter(e.type for e in delta.edges)),
        "limited": dict(stats.limited), "counts": delta.counts(),
    }


def table(results: dict) -> str:
    """Markdown: input, what it attacks, what the hostile files came out as, time, memory."""
    from tests.hostile.analysis_inputs import analysis_inputs

    rows = ["| input | attack | outcome (codes on the hostile files; step codes) | s | peak MB |",
            "|---|---|---|---|---|"]
    for item in analysis_inputs():
        r = results.get(item.name)
        if r is None:
            continue
        if "crash" in r:
            outcome = f"CRASH {r['crash']}"
        else:
            hostile = [p for p in r["files"] if p not in item.good]
            outcome = "; ".join(
                f"{p.encode('unicode_escape').decode()}: {','.join(r['files'][p]['codes']) or 'ok'}"
                for p in hostile if p in item.targets or r["files"][p]["codes"])
            if r["step_codes"]:
                outcome += f"; link: {','.join(r['step_codes'])}"
            outcome = outcome or "analysed, nothing to record"
        rows.append(f"| {item.name} | {item.what} | {outcome} | {r['seconds']:.1f} | {r['peak_mb']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if argv[0] == "--table":
        print(table(json.loads(Path(argv[1]).read_text())))
        return 0
    root, config, names = Path(argv[0]), json.loads(argv[1]), argv[2:]
    out = {name: run_one(root / name, config) for name in names}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
