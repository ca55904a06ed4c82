"""The result cache is shared by every repository; ids must still carry the right scope."""

from __future__ import annotations

from freshpoc_tasks.analysis.engine import ResultCache, analyse_repository
from freshpoc_tasks.analysis.model import SourceFile

CODE = b"def total(xs):\n    return sum(xs)\n"


def test_same_blob_in_two_repositories_gets_each_repositorys_ids(tmp_path):
    cache = ResultCache(tmp_path)
    files = [SourceFile(path="pkg/calc.py", blob_sha="a" * 40, content=CODE, language="python")]
    first = analyse_repository(files, "local/one", commit="1" * 40, cache=cache)
    second = analyse_repository(files, "local/two", commit="2" * 40, cache=cache)
    assert "py.function:local/one:pkg.calc.total" in {n.id for n in first.nodes}
    assert "py.function:local/two:pkg.calc.total" in {n.id for n in second.nodes}
    assert not [n.id for n in second.nodes if ":local/one:" in n.id]
