"""The FreshPoC MCP server: the code graph's questions as tools a coding agent calls.

One server definition, two transports: streamable HTTP inside Airflow's api-server under
``/freshpoc/mcp`` (:func:`mount`, authorised like the query API) and stdio for ``freshpoc mcp
--graph DIR`` on a laptop. The tools are thin: each validates its arguments and calls
:class:`~freshpoc_tasks.mcp.answers.GraphTools`, which asks the graph through the same interface
and route functions the query API uses.

Descriptions are written for a model: what the tool answers, which ids it takes and where to get
them, and what to do with ``more`` (the cursor of the next page; every list answer is cut at
``limit`` items and about 24k characters of JSON).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer, ResourceSecurity
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from freshpoc_tasks import __version__
from freshpoc_tasks.mcp.answers import Backend, GraphTools, ToolProblem
from freshpoc_tasks.mcp.paging import DEFAULT_LIMIT, MAX_LIMIT, CursorError

INSTRUCTIONS = """\
FreshPoC is a code knowledge graph of git repositories: files, Python modules/classes/functions,
SQL tables and columns, dbt models, Airflow DAGs and tasks, Pulumi resources, commits and people,
with dependency, lineage and history edges, versioned by commit.

Node ids (xid) look like `<type>:<scope>:<key>`, e.g.
`dbt.model:local/jaffle_shop:jaffle_shop.customers`,
`sql.column:default:jaffle_shop.main.customers.lifetime_value`,
`py.function:local/app:app.billing.charge`, `file:local/app:app/billing.py`.
Start with `search` (or the `freshpoc://repositories` resource) to find ids, then ask `node`,
`dependencies`, `lineage`, `impact`, `owners`, `hotspots`, `graph_diff` or `run_saved_query`.
Every list answer is a page: when `more` is not null, call the same tool with the same arguments
and `cursor` set to `more` for the next page (search answers at most `limit` hits, no cursor).
"""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)

Xid = Annotated[str, Field(min_length=1, max_length=2000, description=(
    "A node id (xid) such as 'dbt.model:local/jaffle_shop:jaffle_shop.orders'; the search tool finds ids."))]
Repo = Annotated[str, Field(min_length=1, max_length=300, description=(
    "Repository id, e.g. 'local/jaffle_shop' or 'github.com/pallets/flask' (see freshpoc://repositories)."))]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}.")]
Cursor = Annotated[str | None, Field(max_length=100, description=(
    "The 'more' value of the previous answer, to get the next page; omit for the first page."))]
Commit = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F]+$", description=(
    "A processed commit: its sha or a unique prefix of it (at least 4 hex digits)."))]


def _answer(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one answer; what the caller can act on becomes the tool's error text."""
    try:
        return fn()
    except (ToolProblem, CursorError) as exc:
        raise ToolError(str(exc)) from None
    except ValueError as exc:  # a bound the stores check (depth, limit)
        raise ToolError(str(exc)) from None


def build_server(backend: Backend | Callable[[], Backend], *, name: str = "freshpoc") -> MCPServer:
    """The MCP server over ``backend`` (or a function giving it, called on first use, so the
    plugin opens no Dgraph connection at import)."""
    state: dict[str, GraphTools] = {}

    def tools() -> GraphTools:
        if "tools" not in state:
            state["tools"] = GraphTools(backend() if callable(backend) else backend)
        return state["tools"]

    server = MCPServer(name, title="FreshPoC code graph", version=__version__, instructions=INSTRUCTIONS,
                       description="A code knowledge graph: lineage, dependencies, impact, owners, search.")

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(min_length=1, max_length=500, description=(
            "What you look for, in words or as a name: 'where is churn computed', 'lifetime_value', "
            "'orders'."))],
        repo: Annotated[str | None, Field(max_length=300, description="Only this repository.")] = None,
        node_type: Annotated[str | None, Field(max_length=50, description=(
            "Only this node type, e.g. 'py.function', 'dbt.model', 'sql.column'."))] = None,
        limit: Annotated[int, Field(ge=1, le=50, description="Hits, 1-50.")] = 10,
    ) -> dict[str, Any]:
        """Find graph nodes (functions, models, tables, columns, files...) for a question or a name.

        On the stack this is hybrid search (keywords + meaning) over code and docs, each hit
        answered as a graph node with its repository, path, a snippet and one-hop neighbours. On a
        local graph (`freshpoc mcp --graph`) it matches node ids, keys, names and paths exactly.
        Use the returned `xid` with the other tools. No cursor: when `omitted` is above 0 the hits
        did not fit one answer; ask with a smaller limit or a narrower query."""
        return _answer(lambda: tools().search(query, repo, node_type, limit))

    @server.tool(annotations=READ_ONLY)
    def node(xid: Xid) -> dict[str, Any]:
        """One node as it is now: type, name, key, path, language, size, repository, validity
        (commit times in µs since the epoch) and the files it is defined in."""
        return _answer(lambda: tools().node(xid))

    @server.tool(annotations=READ_ONLY)
    def dependencies(
        xid: Xid,
        direction: Annotated[Literal["down", "up"], Field(description=(
            "'down': what the node uses (imports, calls, bases, refs, reads); "
            "'up': what uses it."))] = "down",
        depth: Annotated[int, Field(ge=1, le=10, description="Hops to follow, 1-10.")] = 1,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Code dependencies of a node: imports, calls, inheritance, dbt refs, SQL reads, DAG task
        order. Answers the reached nodes with their hop distance (`depth`) and the stored edges
        touching them (`src -type-> dst`)."""
        return _answer(lambda: tools().walk("deps", xid, direction, depth, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def lineage(
        xid: Xid,
        direction: Annotated[Literal["up", "down"], Field(description=(
            "'up': where the data comes from (sources); 'down': what is computed from it."))] = "up",
        depth: Annotated[int, Field(ge=1, le=10, description="Hops to follow, 1-10.")] = 3,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Data lineage of a column, table, dbt model, source or SQL statement, column-level where
        the SQL allows: e.g. the lineage up of `sql.column:default:jaffle_shop.main.customers.lifetime_value`
        is the columns it derives from, hop by hop. Answers the reached nodes with their hop
        distance and the stored edges (derives_from, depends_on, reads, writes, materializes_as)."""
        return _answer(lambda: tools().walk("lineage", xid, direction, depth, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def impact(
        repo: Repo,
        commit: Annotated[str | None, Field(max_length=64, pattern=r"^[0-9a-fA-F]{4,64}$", description=(
            "A processed commit (sha or unique prefix): the change it made against its parent."))] = None,
        changed: Annotated[list[str] | None, Field(max_length=50, description=(
            "Instead of a commit: node ids or file paths (relative to the repository root) you are "
            "about to change."))] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """What breaks if this changes: the nodes a change reaches (lineage downstream and
        dependants, 3 hops) with the main authors of the files they are defined in. Give either
        `commit` or `changed`. Answers the changed nodes, `impact_edges` (changed -> reached, as
        "name (type)") and the paged `affected` nodes with `owners`."""
        return _answer(lambda: tools().impact(repo, commit, changed, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def hotspots(repo: Repo, limit: Limit = 20, cursor: Cursor = None) -> dict[str, Any]:
        """Files that change most (revisions, then size): where bugs and review effort gather.
        Each with churn, number of authors and main author."""
        return _answer(lambda: tools().hotspots(repo, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def owners(
        repo: Repo,
        path: Annotated[str, Field(max_length=1000, description=(
            "A file or folder path in the repository; empty for the whole repository."))] = "",
        xid: Annotated[str | None, Field(max_length=2000, description=(
            "Instead of a path: a node id; answers the owners of the files behind it."))] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Who knows this code: main author, their share of the changes, bus factor and number of
        authors of a file or folder (`owner`), and of each file under it (`files`, paged)."""
        return _answer(lambda: tools().owners(repo, path, xid, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def graph_diff(repo: Repo, from_commit: Commit, to_commit: Commit, limit: Limit = DEFAULT_LIMIT,
                   cursor: Cursor = None) -> dict[str, Any]:
        """Nodes added and removed between two processed commits of a repository (older first),
        e.g. which models, functions or columns a release brought or dropped."""
        return _answer(lambda: tools().graph_diff(repo, from_commit, to_commit, limit, cursor))

    @server.tool(annotations=READ_ONLY)
    def run_saved_query(
        name: Annotated[str | None, Field(max_length=64, description=(
            "A saved query's name; omit it to list the saved queries with their parameters."))] = None,
        params: Annotated[dict[str, str] | None, Field(description=(
            "The query's parameters by name, as strings, e.g. {\"repo\": \"local/jaffle_shop\"}."))] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Run one of the graph's saved queries (named, parameterised DQL, the ones the query API
        serves under /freshpoc/queries): the answer's blocks with their rows, paged as one list."""
        return _answer(lambda: tools().run_saved_query(name, params, limit, cursor))

    def _read(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ToolProblem as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("freshpoc://repositories", name="repositories", mime_type="application/json",
                     description="The repositories in the graph (ids for the other tools and resources).")
    def repositories() -> dict[str, Any]:
        return _read(lambda: {"repositories": tools().backend.repositories()})

    @server.resource("freshpoc://reports/repository/{+repo}", name="repository report",
                     mime_type="text/markdown",
                     description=("The repository report (Markdown with Mermaid): counts, languages, module "
                                  "and lineage graphs, hotspots, coupling, owners."),
                     security=ResourceSecurity(exempt_params={"repo"}))
    def repository_report(repo: str) -> str:
        return _read(lambda: tools().backend.repository_report(repo))

    @server.resource("freshpoc://reports/impact/{commit}/{+repo}", name="impact report",
                     mime_type="text/markdown",
                     description="The impact report of a processed commit: its changes and what they reach.",
                     security=ResourceSecurity(exempt_params={"repo"}))
    def impact_report(commit: str, repo: str) -> str:
        return _read(lambda: tools().backend.impact_report(repo, commit))

    return server


@contextlib.asynccontextmanager
async def _running(server: MCPServer) -> AsyncIterator[None]:
    async with server.session_manager.run():
        yield


def http_handler(server: MCPServer) -> tuple[Any, Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """(ASGI handler for the MCP endpoint, the context that must be running while it serves).

    Stateless and JSON answers: every POST is a whole exchange, so any api-server worker answers
    any request and no session outlives a restart. DNS-rebinding checks are the SDK's defence for
    unauthenticated local servers; this endpoint authenticates every request with Airflow's token
    and is served on whatever host Airflow is, so they are off."""
    from mcp.server.transport_security import TransportSecuritySettings

    server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True,
                               transport_security=TransportSecuritySettings(
                                   enable_dns_rebinding_protection=False))
    return server.session_manager.handle_request, lambda: _running(server)
