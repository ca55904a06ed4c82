"""``freshpoc analyse`` end to end on a throwaway git repository made from an example."""

from __future__ import annotations

import shutil
import subprocess

from conftest import EXAMPLES, node_set

from freshpoc_tasks.cli.main import main
from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
from freshpoc_tasks.mining.access import repo_id_for


def _git_repo(tmp_path, example: str):
    repo = tmp_path / example
    shutil.copytree(EXAMPLES / example, repo)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "example"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env)
    return repo


def test_analyse_command_writes_the_delta_and_reuses_the_cache(tmp_path, capsys, example):
    repo = _git_repo(tmp_path, "py_inventory")
    argv = ["analyse", str(repo), "--out", str(tmp_path / "out"), "--mirrors", str(tmp_path / "mirrors"),
            "--cache", str(tmp_path / "cache"), "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "4 analyzer runs + 0 from cache" in first
    delta = GraphDelta.from_records(read_jsonl(tmp_path / "out" / "analysis.jsonl.gz", GRAPH_RECORDS))
    assert delta.repo_id == repo_id_for(str(repo)) and len(delta.commit or "") == 40
    assert node_set(delta) == node_set(example("py_inventory"))

    assert main(argv) == 0
    assert "0 analyzer runs + 4 from cache" in capsys.readouterr().out


def test_analyse_command_rejects_an_unknown_ref(tmp_path, capsys):
    repo = _git_repo(tmp_path, "py_inventory")
    code = main(["analyse", str(repo), "--ref", "no-such-branch", "--out", str(tmp_path / "o"),
                 "--mirrors", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), "--quiet"])
    assert code == 2
    assert "no-such-branch" in capsys.readouterr().err
