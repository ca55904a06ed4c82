"""A tiny document model with two renderers, Markdown and HTML.

Reports are built once as blocks and rendered twice, so the Markdown that GitHub shows and the
HTML page a browser shows can never disagree about a number or a diagram. HTML escaping happens
in exactly one place (``to_html``); Markdown table cells are escaped in ``_md_cell``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class Diagram:
    """A Mermaid diagram; ``source`` is Mermaid text, never HTML."""

    source: str
    caption: str = ""


Block = Heading | Para | Bullets | Table | Diagram


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self

    def diagrams(self) -> list[Diagram]:
        return [b for b in self.blocks if isinstance(b, Diagram)]


def _md_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * max(2, min(b.level, 6))} {b.text}", ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
            out.append("|" + "|".join("---" for _ in b.headers) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Diagram):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out += ["```mermaid", b.source.rstrip("\n"), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


REPORT_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:left}th{background:#f6f8fa}figure{margin:1rem 0 2rem}figcaption{color:#57606a;font-size:.9rem}
pre.mermaid{background:#fff}code{background:#f6f8fa;padding:0 .2rem}
.note{background:#fff8c5;border:1px solid #d4a72c;padding:.4rem .6rem}
"""
_CSS = REPORT_CSS  # the name older callers read; pages outside reports (search, browser) share it


def to_html(doc: Document, *, mermaid_src: str = "mermaid.min.js",
            nav: Sequence[tuple[str, str]] = (), mermaid_note: str = "") -> str:
    """A standalone page; ``mermaid_src`` is the URL of a locally served mermaid bundle.

    ``securityLevel: 'strict'`` makes Mermaid escape labels and ignore click handlers, so a
    hostile file or model name in the graph cannot inject script into the page.

    ``mermaid_note`` is shown as one visible line when the bundle may be missing (a report written
    where it was not installed): diagrams then stay readable Mermaid text under a plain sentence
    saying how to get the bundle, instead of a broken picture. The note removes itself when the
    bundle does load (say, copied next to the page later).
    """
    e = html.escape
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(doc.title)}</title><style>{REPORT_CSS}</style></head><body>"]
    if nav:
        parts.append("<nav>" + " · ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in nav)
                     + "</nav>")
    parts.append(f"<h1>{e(doc.title)}</h1>")
    if mermaid_note and doc.diagrams():
        parts.append(f'<p id="mermaid-note" class="note">{e(mermaid_note)}</p>')
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = max(2, min(b.level, 6))
            parts.append(f"<h{level}>{e(b.text)}</h{level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(str(h))}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{e('' if c is None else str(c))}</td>" for c in row)
                           + "</tr>" for row in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Diagram):
            cap = f"<figcaption>{e(b.caption)}</figcaption>" if b.caption else ""
            parts.append(f'<figure><pre class="mermaid">{e(b.source)}</pre>{cap}</figure>')
    parts.append(f'<script src="{e(mermaid_src)}"></script>')
    if mermaid_note:
        parts.append("<script>if(window.mermaid){document.getElementById('mermaid-note')?.remove();"
                     "mermaid.initialize({startOnLoad:true,securityLevel:'strict'});}</script>")
    else:
        parts.append("<script>mermaid.initialize({startOnLoad:true,securityLevel:'strict'});</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
