"""The frame of the small HTML pages the API serves itself (report browser, search results,
ontology proposals): the HTML reports' own stylesheet and one navigation bar.

The stylesheet is read from :mod:`freshpoc_tasks.reporting.document` rather than copied, so a
change to how reports look changes these pages too and the three never drift apart.
"""

import html
from collections.abc import Sequence


def report_css() -> str:
    """The stylesheet of the HTML reports."""
    from freshpoc_tasks.reporting.document import REPORT_CSS

    return REPORT_CSS


# Extra rules for what only these pages have (forms, result lists); the base look is the reports'.
PAGE_CSS = """
nav{margin-bottom:1rem}nav a{margin-right:.8rem}form.inline{display:inline}
input[type=text],input:not([type]){padding:.25rem .4rem;border:1px solid #d0d7de;border-radius:4px}
button{padding:.2rem .7rem;border:1px solid #d0d7de;border-radius:4px;background:#f6f8fa;cursor:pointer}
ol.hits>li{margin-bottom:1rem}.meta{color:#57606a;font-size:.9rem}
.tag{display:inline-block;background:#ddf4ff;color:#0969da;border-radius:1em;padding:0 .5rem;font-size:.8rem}
pre.snippet{background:#f6f8fa;padding:.5rem;overflow-x:auto;max-height:12rem}
"""


def nav_links(base: str) -> list[tuple[str, str]]:
    return [("Reports", f"{base}/reports"), ("Ontology proposals", f"{base}/proposals/page"),
            ("API documentation", f"{base}/docs")]


def html_page(title: str, body: str, base: str, *, nav: Sequence[tuple[str, str]] | None = None) -> str:
    """A complete page: ``body`` is trusted HTML built by the caller (every value escaped)."""
    e = html.escape
    links = nav_links(base) if nav is None else nav
    bar = " ".join(f'<a href="{e(href, quote=True)}">{e(text)}</a>' for text, href in links)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{report_css()}{PAGE_CSS}</style></head><body>"
            f"<nav>{bar}</nav><h1>{e(title)}</h1>{body}</body></html>\n")
