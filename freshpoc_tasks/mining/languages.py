"""Language of a file and its code/comment/blank line counts.

Names come from ``identify`` (file name, extension, shebang interpreter) so we share its
maintained table instead of growing our own.  Line counting is deliberately simple (comment
markers at line starts and block comments, no string parsing): it is for size and hotspot
weighting, where cloc-level precision changes nothing.
"""

from __future__ import annotations

import re

from identify import identify

# identify tags that describe a kind of file rather than a language.
_NOT_LANGUAGES = frozenset(
    {
        "text", "binary", "file", "directory", "symlink", "socket", "executable",
        "non-executable", "plain-text", "header", "image", "audio", "video", "archive",
        "font", "zip", "gzip", "tar", "bz2", "xz", "lzma", "zstd", "jar", "pdf", "svg", "icon",
        "python3", "python2", "jsx-ish", "c++-header", "def",
    }
)  # fmt: skip
# When identify gives several language tags, prefer the more specific one.
_PREFER = ("tsx", "jsx", "ts", "pyi", "cython", "c++", "objective-c", "cuda", "vue", "svelte")

_SHEBANG_RE = re.compile(rb"^#!\s*(\S+)(?:[ \t]+(\S+))?")

# language -> (line comment prefixes, block comment (open, close) pairs)
_HASH = (("#",), ())
_C = (("//",), (("/*", "*/"),))
_COMMENT_SYNTAX: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "python": (("#",), (('"""', '"""'), ("'''", "'''"))),
    "pyi": (("#",), (('"""', '"""'),)),
    "cython": _HASH,
    "shell": _HASH, "bash": _HASH, "zsh": _HASH, "fish": _HASH, "ruby": (("#",), (("=begin", "=end"),)),
    "perl": _HASH, "r": _HASH, "yaml": _HASH, "toml": _HASH, "makefile": _HASH, "dockerfile": _HASH,
    "cmake": _HASH, "ini": ((";", "#"), ()), "elixir": _HASH, "nim": _HASH,
    "powershell": (("#",), (("<#", "#>"),)),
    "javascript": _C, "jsx": _C, "ts": _C, "tsx": _C, "c": _C, "c++": _C, "cuda": _C, "objective-c": _C,
    "java": _C, "kotlin": _C, "scala": _C, "groovy": _C, "go": _C, "rust": _C, "swift": _C, "c#": _C,
    "dart": _C, "php": (("//", "#"), (("/*", "*/"),)), "css": ((), (("/*", "*/"),)), "scss": _C, "less": _C,
    "proto": _C, "solidity": _C, "zig": (("//",), ()), "json5": _C, "jsonnet": _C, "vue": _C, "svelte": _C,
    "sql": (("--",), (("/*", "*/"),)), "lua": (("--",), (("--[[", "]]"),)),
    "haskell": (("--",), (("{-", "-}"),)),
    "elm": (("--",), (("{-", "-}"),)), "ada": (("--",), ()),
    "html": ((), (("<!--", "-->"),)), "xml": ((), (("<!--", "-->"),)), "markdown": ((), (("<!--", "-->"),)),
    "erlang": (("%",), ()), "tex": (("%",), ()), "matlab": (("%",), (("%{", "%}"),)),
    "lisp": ((";",), ()), "clojure": ((";",), ()), "scheme": ((";",), ()), "vim": (('"',), ()),
    "fortran": (("!",), ()), "ocaml": ((), (("(*", "*)"),)), "fsharp": (("//",), (("(*", "*)"),)),
    "terraform": (("#", "//"), (("/*", "*/"),)), "hcl": (("#", "//"), (("/*", "*/"),)),
}  # fmt: skip


def _pick(tags: set[str]) -> str | None:
    if "binary" in tags:
        return None
    langs = tags - _NOT_LANGUAGES
    if not langs:
        return None
    for preferred in _PREFER:
        if preferred in langs:
            return preferred
    return sorted(langs)[0]


def language_of(path: str, head: bytes | None = None) -> str | None:
    """identify's language tag from the file name, else from a ``#!`` line in ``head``."""
    name = path.rsplit("/", 1)[-1]
    lang = _pick(identify.tags_from_filename(name))
    if lang is None and head and head.startswith(b"#!"):
        match = _SHEBANG_RE.match(head.split(b"\n", 1)[0])
        if match:
            interp = match.group(1).decode("ascii", "replace").rsplit("/", 1)[-1]
            if interp == "env" and match.group(2):
                interp = match.group(2).decode("ascii", "replace")
            lang = _pick(identify.tags_from_interpreter(interp))
    return lang


def looks_binary_by_name(path: str) -> bool:
    return "binary" in identify.tags_from_filename(path.rsplit("/", 1)[-1])


def count_lines(text: str, language: str | None) -> tuple[int, int, int]:
    """(code, comment, blank) lines.  A line with code and a trailing comment is code."""
    line_prefixes, blocks = _COMMENT_SYNTAX.get(language or "", ((), ()))
    code = comment = blank = 0
    close: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if close is not None:
            comment += 1
            if close in line:
                rest = line.split(close, 1)[1].strip()
                close = None
                if rest and not rest.startswith(line_prefixes or ("\0",)):
                    comment -= 1
                    code += 1
            continue
        if not line:
            blank += 1
            continue
        if line_prefixes and line.startswith(line_prefixes):
            comment += 1
            continue
        for opener, closer in blocks:
            if line.startswith(opener):
                tail = line[len(opener) :]
                if closer not in tail:
                    close = closer
                comment += 1
                break
        else:
            code += 1
    return code, comment, blank
