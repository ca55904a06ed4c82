"""safe_yaml: small-on-disk, huge-in-memory documents are refused before anything is built."""

from __future__ import annotations

import datetime
import json
import time

import pytest
import yaml

from freshpoc_tasks.analysis.safe_yaml import (
    YamlLimits,
    YamlRefused,
    measure,
    refusal_code,
    safe_load,
    safe_load_or_none,
)


def billion_laughs(levels: int = 9, indent: str = "") -> str:
    lines = [f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


MERGE_LAUGHS = "a0: &a0 {k0: 1, k1: 2, k2: 3}\n" + "".join(
    f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 3) + f"], k{i}x: 1}}\n" for i in range(1, 30))


@pytest.mark.parametrize(("text", "code"), [
    (billion_laughs(), "yaml_alias_budget"),
    ("name: p\nvars:\n" + billion_laughs(indent="  "), "yaml_alias_budget"),
    (MERGE_LAUGHS, "yaml_alias_budget"),
    ("a: &a [*a]\n", "yaml_recursive_alias"),
    ("a: &a {b: {c: *a}}\n", "yaml_recursive_alias"),
    ("".join("  " * i + f"k{i}:\n" for i in range(5_000)) + "  " * 5_000 + "v\n", "yaml_too_deep"),
    ("x: [*y, *y]\ny: &y 1\n", "yaml_error"),  # alias before its anchor
])
def test_hostile_documents_are_refused_quickly_with_a_code(text, code):
    start = time.monotonic()
    with pytest.raises(yaml.YAMLError) as info:
        safe_load(text)
    assert time.monotonic() - start < 1.0
    assert refusal_code(info.value) == code


def test_flow_nesting_five_thousand_deep_is_a_yaml_error_not_a_recursion_error():
    with pytest.raises(yaml.YAMLError):
        safe_load("a: " + "[" * 5_000 + "]" * 5_000 + "\n")


def test_alias_count_budget():
    text = "y: &y 1\nx: [" + ", ".join(["*y"] * 50) + "]\n"
    assert safe_load(text)["x"] == [1] * 50
    with pytest.raises(YamlRefused, match="more than 10 aliases"):
        safe_load(text, YamlLimits(max_aliases=10))


def test_measure_counts_nodes_as_expanded():
    assert measure("a: &a [1, 2]\nb: *a\nc: *a\n") == 1 + 3 + 3 + 3 + 3  # map, keys, list, 2 aliases
    assert measure(billion_laughs(2), YamlLimits(max_alias_nodes=10**9)) == 1 + 3 + 11 + 111 + 1111


def test_non_core_tags_read_as_the_plain_values_written():
    doc = safe_load("b: !!binary aGVsbG8=\nr: !Ref bucket\ng: !GetAtt [a, b]\n"
                    "p: !!python/object:os.system {}\ns: !!set {a, b}\no: !!omap [{k: 1}]\n")
    assert doc == {"b": "aGVsbG8=", "r": "bucket", "g": ["a", "b"], "p": {}, "s": {"a": None, "b": None},
                   "o": [{"k": 1}]}
    json.dumps(doc)  # everything it yields can be written


def test_ordinary_documents_load_as_safe_load_does():
    text = ("name: jaffle\nversion: '1.0'\nvars:\n  start: 2020-01-01\n  base: &b {x: 1}\n"
            "  other: {<<: *b, y: 2}\nmodels:\n  jaffle:\n    +materialized: table\n")
    assert safe_load(text) == yaml.safe_load(text)
    assert safe_load(text)["vars"]["start"] == datetime.date(2020, 1, 1)


def test_or_none_reads_refused_and_malformed_files_as_absent():
    assert safe_load_or_none(billion_laughs()) is None
    assert safe_load_or_none("models: [: :") is None
    assert safe_load_or_none("") is None and safe_load_or_none(None) is None
    assert safe_load_or_none("name: p\n") == {"name": "p"}
