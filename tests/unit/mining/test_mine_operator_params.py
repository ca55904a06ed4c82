"""The mine task's renames/bots: DAG params reach MiningOptions through templated fields."""

from __future__ import annotations

import pytest

pytest.importorskip("airflow")

from airflow.sdk.definitions.param import ParamsDict

from freshpoc_tasks.operators.pipeline import MineOperator


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"renames": "off", "bots": "include"}, ("off", "include")),
        ({"renames": "follow", "bots": "exclude"}, ("follow", "exclude")),
        ({}, ("follow", "exclude")),  # a DAG without these params (on-push, reprocess): defaults
    ],
)
def test_params_render_into_the_mine_task(params: dict, expected: tuple[str, str]) -> None:
    op = MineOperator(task_id="mine", ingest={"repo_id": "r"})
    assert {"renames", "bots"} <= set(op.template_fields)
    op.render_template_fields({"params": ParamsDict(params)})
    assert (op.renames, op.bots) == expected


def test_explicit_values_and_a_bad_value_fail_clearly() -> None:
    op = MineOperator(task_id="mine", ingest={"repo_id": "r", "skip": False}, renames="sideways")
    op.render_template_fields({"params": ParamsDict({})})
    with pytest.raises(ValueError, match="renames must be follow"):
        op.execute({})
