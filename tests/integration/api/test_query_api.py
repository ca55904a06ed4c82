"""Every route of the query API over the examples' graph, with exact answers and Airflow's auth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from freshpoc_tasks.graph.queries import flatten as queries_flatten
from freshpoc_tasks.graph.validity import to_us

J = "local/jaffle_shop"
P = "local/py_inventory"
COL = "sql.column:default:jaffle_shop.main."
MODEL = "dbt.model:local/jaffle_shop:jaffle_shop."


def route_samples(graph) -> list[str]:
    """One valid request per route (kept in step with the OpenAPI document by a test below)."""
    s = graph["jaffle_shas"]
    return [
        "/health", "/repositories", f"/repositories/overview?repo={J}", f"/files?repo={J}",
        f"/symbols?repo={J}&name=orders", f"/nodes?xid={MODEL}orders",
        f"/dependencies?xid={MODEL}orders", f"/lineage?xid={COL}customers.lifetime_value",
        f"/hotspots?repo={J}", f"/coupling?repo={J}", f"/owners?repo={J}&path=models",
        f"/graph/as-of?repo={J}&commit={s[0]}", f"/graph/diff?repo={J}&from_commit={s[0]}&to_commit={s[2]}",
        "/queries", f"/queries/files?repo={J}",
        f"/reports/repository?repo={J}", f"/reports/impact?repo={J}&commit={s[1]}", "/reports",
        "/assets/mermaid.min.js", "/search?q=customer%20orders", "/search/page?q=customer%20orders",
    ]


# Ontology proposals have their own access rule (every user reads, admins decide): they are
# tested in test_proposals.py.
PROPOSAL_ROUTES = {"/proposals", "/proposals/page", "/proposals/{proposal_id}"}
# The liveness probe answers without a login and holds no data (tested below).
PUBLIC_ROUTES = {"/live"}


def test_samples_cover_every_route(api, graph):
    documented = set(api.app.openapi()["paths"])
    sampled = {u.split("?")[0].replace("/queries/files", "/queries/{name}") for u in route_samples(graph)}
    assert sampled | PROPOSAL_ROUTES | PUBLIC_ROUTES == documented


def test_liveness_answers_without_a_login_and_says_nothing_else(api):
    resp = api.get("/live", headers={"Authorization": ""})
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})


def test_every_route_answers_401_403_200(api, graph, tokens):
    for url in route_samples(graph):
        assert api.get(url, headers={"Authorization": ""}).status_code == 401, url
        forbidden = api.get(url, headers={"Authorization": f"Bearer {tokens['viewer']}"})
        assert forbidden.status_code == 403, url
        assert forbidden.headers["content-type"] == "application/problem+json", url
        assert api.get(url).status_code == 200, url


def test_repositories_and_overview(api):
    assert [r["repo_id"] for r in api.get("/repositories").json()["items"]] == [J, P]
    page = api.get("/repositories?limit=1&offset=1").json()
    assert (page["total"], page["next_offset"], [r["repo_id"] for r in page["items"]]) == (2, None, [P])
    ov = api.get(f"/repositories/overview?repo={J}").json()
    # Nodes the repository owns (warehouse tables and columns are shared: scope "default").
    assert ov["counts_by_type"] == {
        "commit": 3, "dbt.macro": 1, "dbt.model": 6, "dbt.project": 1, "dbt.snapshot": 1, "dbt.source": 3,
        "dbt.test": 11, "file": 13, "folder": 6, "repository": 1}
    assert ov["files_by_language"] == {"sql": 8, "yaml": 5}
    assert (ov["last_commit"]["seq"], ov["last_commit"]["committed_at"]) == (3, "2024-03-01T10:00:00+00:00")


def test_files_filter_by_prefix_and_language(api):
    marts = api.get(f"/files?repo={J}&path_prefix=models/marts/").json()
    assert [f["path"] for f in marts["items"]] == [
        "models/marts/customers.sql", "models/marts/orders.sql", "models/marts/schema.yml"]
    yml = api.get(f"/files?repo={J}&language=YAML&limit=2").json()
    assert (yml["total"], yml["next_offset"], [f["path"] for f in yml["items"]]) == (
        5, 2, ["dbt_project.yml", "models/marts/schema.yml"])
    assert api.get(f"/files?repo={J}&language=Python").json()["total"] == 0
    # Through the folder tree at any depth, then the rest of the prefix matched by name.
    assert api.get(f"/files?repo={J}&path_prefix=models/").json()["total"] == 9
    assert api.get(f"/files?repo={J}&path_prefix=models/st").json()["total"] == 5


def test_symbol_and_node(api):
    got = api.get(f"/symbols?repo={J}&name=orders").json()["items"]
    assert [(s["type"], s["xid"], s["files"]) for s in got] == [
        ("dbt.model", f"{MODEL}orders", ["models/marts/orders.sql"]),
        ("sql.table", "sql.table:default:jaffle_shop.main.orders", []),
        ("sql.table", "sql.table:default:jaffle_shop.raw.orders", []),
    ]
    node = api.get(f"/nodes?xid={MODEL}orders").json()
    assert (node["type"], node["name"], node["files"], node["valid_from"], node["valid_to"]) == (
        "dbt.model", "orders", ["models/marts/orders.sql"], to_us(datetime(2024, 1, 1, 10, tzinfo=UTC)), None)
    assert api.get("/nodes?xid=nope").status_code == 404


def test_dependencies_up_and_down(api):
    down = api.get(f"/dependencies?xid=py.module:{P}:inventory.cli&depth=1").json()
    assert [(n["xid"], n["depth"]) for n in down["nodes"]] == [
        ("py.distribution:pypi:python-stdlib", 1), (f"py.function:{P}:inventory.cli.main", 1),
        (f"py.module:{P}:inventory.core", 1), (f"py.module:{P}:inventory.db", 1)]
    assert {(e["type"], e["dst"].split(":")[-1]) for e in down["edges"]} == {
        ("imports", "inventory.core"), ("imports", "inventory.db"), ("imports", "python-stdlib"),
        ("calls", "inventory.cli.main")}
    two = api.get(f"/dependencies?xid=py.module:{P}:inventory.cli&depth=2").json()
    assert ("imports", f"py.module:{P}:inventory.db", f"py.module:{P}:inventory.core") in {
        (e["type"], e["src"], e["dst"]) for e in two["edges"]}
    up = api.get(f"/dependencies?xid=py.module:{P}:inventory.core&direction=up&depth=3").json()
    assert [(n["name"], n["depth"]) for n in up["nodes"]] == [("inventory", 1), ("cli", 1), ("db", 1)]
    models = api.get(f"/dependencies?xid={MODEL}customers&depth=1").json()
    assert [n["name"] for n in models["nodes"]] == ["orders", "stg_customers"]


def test_lineage_of_a_mart_column_up_and_down(api):
    up = api.get(f"/lineage?xid={COL}customers.lifetime_value&direction=up&depth=5").json()
    assert [(n["xid"], n["depth"]) for n in up["nodes"]] == [
        (f"{COL}orders.amount", 1), (f"{COL}stg_payments.amount", 2),
        ("sql.column:default:jaffle_shop.raw.payments.amount", 3)]
    assert [e["type"] for e in up["edges"]] == ["derives_from"] * 3
    down = api.get(f"/lineage?xid={COL}stg_payments.amount&direction=down&depth=5").json()
    # Through the ephemeral int_order_payments: orders' amounts derive straight from staging.
    assert [(n["xid"], n["depth"]) for n in down["nodes"]] == [
        (f"{COL}orders.amount", 1), (f"{COL}orders.bank_transfer_amount", 1),
        (f"{COL}orders.coupon_amount", 1),
        (f"{COL}orders.credit_card_amount", 1), (f"{COL}orders.gift_card_amount", 1),
        (f"{COL}customers.lifetime_value", 2)]
    model_up = api.get(f"/lineage?xid={MODEL}orders&direction=up&depth=1").json()
    assert sorted(n["name"] for n in model_up["nodes"]) == ["int_order_payments", "orders", "stg_orders"]


def test_hotspots_coupling_owners(api):
    hs = api.get(f"/hotspots?repo={J}&limit=2").json()
    assert [(h["path"], h["revisions"], h["authors"]) for h in hs["items"]] == [
        ("models/marts/orders.sql", 2, 2), ("models/staging/sources.yml", 1, 1)]
    pairs = api.get(f"/coupling?repo={J}&path_prefix=models/marts/c").json()
    assert [(p["a"], p["b"], p["shared_revisions"], p["degree"]) for p in pairs["items"]] == [
        ("models/marts/customers.sql", "models/marts/orders.sql", 1, 66.6667)]
    # The 11 files committed once, together, in the first commit: C(11, 2) pairs at 100 %.
    assert api.get(f"/coupling?repo={J}&min_degree=100").json()["total"] == 55
    folder = api.get(f"/owners?repo={J}&path=models/marts/").json()
    assert folder["owner"]["main_author"] == "ann@example.com"
    assert [(f["path"], f["main_author"], f["bus_factor"]) for f in folder["files"]["items"]] == [
        ("models/marts/customers.sql", "bob@example.com", 1),
        ("models/marts/orders.sql", "ann@example.com", 1),
        ("models/marts/schema.yml", "ann@example.com", 1)]
    one = api.get(f"/owners?repo={J}&path=models/marts/orders.sql").json()
    assert (one["owner"]["main_author"], [f["path"] for f in one["files"]["items"]]) == (
        "ann@example.com", ["models/marts/orders.sql"])
    table = api.get(f"/owners?repo={J}&xid=sql.table:default:jaffle_shop.main.customers").json()
    assert [(f["path"], f["main_author"]) for f in table["files"]["items"]] == [
        ("models/marts/customers.sql", "bob@example.com")]


def test_graph_as_of_each_commit_and_diff(api, graph):
    s = graph["jaffle_shas"]
    counts = [api.get(f"/graph/as-of?repo={J}&commit={sha[:10]}&limit=1").json()["counts_by_type"]
              for sha in s]
    assert [(c.get("dbt.model"), c.get("dbt.seed"), c.get("file")) for c in counts] == [
        (5, 1, 13), (6, 1, 14), (6, None, 13)]
    d = api.get(f"/graph/diff?repo={J}&from_commit={s[1]}&to_commit={s[2]}").json()
    assert d["counts"] == {"added": 0, "removed": 3}
    # The repository's own nodes (the seed's warehouse table and columns are shared, timeless).
    assert [(n["change"], n["xid"]) for n in d["changes"]["items"]] == [
        ("removed", "dbt.seed:local/jaffle_shop:jaffle_shop.payment_methods"),
        ("removed", "file:local/jaffle_shop:seeds/payment_methods.csv"),
        ("removed", "folder:local/jaffle_shop:seeds")]
    added = [f"{MODEL}customers",
             "dbt.test:local/jaffle_shop:jaffle_shop.not_null.customers.customer_id",
             "dbt.test:local/jaffle_shop:jaffle_shop.unique.customers.customer_id",
             "file:local/jaffle_shop:models/marts/customers.sql"]
    d = api.get(f"/graph/diff?repo={J}&from_commit={s[0]}&to_commit={s[1]}").json()
    assert d["counts"] == {"added": 4, "removed": 0} and d["changes"]["next_after"] is None
    assert [(n["change"], n["xid"]) for n in d["changes"]["items"]] == [("added", x) for x in added]
    # Paged by cursor: pages of 3 join into the whole list, the last one says there is no more.
    d = api.get(f"/graph/diff?repo={J}&from_commit={s[0]}&to_commit={s[1]}&limit=3").json()
    assert [n["xid"] for n in d["changes"]["items"]] == added[:3] and d["changes"]["next_after"] == "3"
    d = api.get(f"/graph/diff?repo={J}&from_commit={s[0]}&to_commit={s[1]}&limit=3&after=3").json()
    assert [n["xid"] for n in d["changes"]["items"]] == added[3:] and d["changes"]["next_after"] is None
    assert api.get(f"/graph/diff?repo={J}&from_commit={s[2]}&to_commit={s[0]}").status_code == 400
    assert api.get(f"/graph/as-of?repo={J}&commit=abcdef12").status_code == 404


def test_saved_queries_run_with_declared_parameters_only(api):
    names = [q["name"] for q in api.get("/queries").json()]
    assert {"files", "lineage_up", "hotspots", "graph_as_of", "coupling", "symbols"} <= set(names)
    got = api.get(f"/queries/files?repo={J}").json()
    assert [f["path"] for f in got["items"]][:2] == ["dbt_project.yml", "macros/cents_to_dollars.sql"]
    deps = api.get(f"/queries/lineage_up?xid={COL}customers.lifetime_value&depth=4").json()
    assert sorted(queries_flatten(deps)) == [
        f"{COL}customers.lifetime_value", f"{COL}orders.amount", f"{COL}stg_payments.amount",
        "sql.column:default:jaffle_shop.raw.payments.amount"]
    bad = api.get(f"/queries/files?repo={J}&nope=1")
    assert (bad.status_code, bad.headers["content-type"]) == (400, "application/problem+json")
    assert "unknown parameter" in bad.json()["detail"]
    assert api.get("/queries/no_such_query").status_code == 404
    # The saved overview query counts what the overview (the stored figures) counts.
    saved = api.get(f"/queries/repository_overview?repo={J}").json()
    overview = api.get(f"/repositories/overview?repo={J}").json()
    assert {g["language"]: g["count"] for b in saved["by_language"] for g in b["@groupby"]} == \
        overview["files_by_language"]


INJECTIONS = ['") { uid } q2(func: has(xid)) { xid ', '"}}', "$repo", "\\", "' OR 1=1 --",
              "}) @filter(has(xid)", "orders\n}\n{ all(func: has(xid)) { xid } }", "a" * 5000]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_dql_injection_in_every_string_parameter_is_inert(api, evil):
    urls = [("/repositories/overview", {"repo": evil}), ("/files", {"repo": evil}),
            ("/files", {"repo": J, "path_prefix": evil}), ("/files", {"repo": J, "language": evil}),
            ("/symbols", {"repo": J, "name": evil}), ("/nodes", {"xid": evil}),
            ("/dependencies", {"xid": evil}), ("/lineage", {"xid": evil}), ("/hotspots", {"repo": evil}),
            ("/coupling", {"repo": J, "path_prefix": evil}), ("/owners", {"repo": J, "path": evil}),
            ("/owners", {"repo": J, "xid": evil}), ("/graph/as-of", {"repo": evil, "commit": "abcd"}),
            ("/queries/symbols", {"name": evil}), ("/reports/repository", {"repo": evil})]
    for path, params in urls:
        r = api.get(path, params=params)
        assert r.status_code in (200, 400, 404), (path, params, r.status_code, r.text[:200])
        if r.status_code == 200 and "items" in r.json():
            assert r.json()["items"] == [], (path, params)
        if r.status_code == 200 and "files" in r.json() and isinstance(r.json()["files"], dict):
            assert r.json()["files"]["items"] == [], (path, params)


def test_reports_markdown_and_browser(api, graph):
    md = api.get(f"/reports/repository?repo={J}")
    assert md.headers["content-type"].startswith("text/markdown")
    assert "  n3[\"raw.customers\"]\n  n4[\"stg_customers\"]" in md.text
    page = api.get(f"/reports/repository?repo={J}&format=html").text
    assert '<script src="/assets/mermaid.min.js"></script>' in page
    impact = api.get(f"/reports/impact?repo={J}&commit={graph['jaffle_shas'][1]}").text
    assert impact.splitlines()[2].endswith("4 added, 0 removed, 0 changed; 1 downstream nodes affected.")
    assert "| sql.table | customers | bob@example.com |" in impact
    browser = api.get("/reports").text
    assert '/reports/repository?format=html&amp;repo=local%2Fjaffle_shop' in browser
    assert "font-family:system-ui" in browser  # the HTML reports' stylesheet
    js = api.get("/assets/mermaid.min.js")
    assert js.headers["content-type"].startswith("text/javascript") and len(js.content) > 1_000_000
