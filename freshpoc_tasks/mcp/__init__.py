"""FreshPoC's MCP server: the graph's questions as tools for coding agents (issue 19).

``answers`` and ``paging`` need no SDK; ``server`` builds the ``mcp`` SDK server; ``stack`` is the
backend inside the plugin (the query API's routes), ``local`` the one over ``freshpoc report``'s
output folder (``freshpoc mcp --graph DIR``).
"""

INSTALL_HINT = "the MCP server needs the 'mcp' package: pip install 'freshpoc-tasks[mcp]'"
