"""The file inventory of one commit, read from git objects (no checkout).

Sizes come from ``git ls-tree -l``, so a file over the cap is recorded as skipped without its
content ever being read.  Symlinks are recorded with their target as text and never followed;
submodules are recorded and not entered.  Only the blobs that will be analysed are streamed,
through one ``cat-file --batch`` process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from freshpoc_tasks.contracts.mining import FileRecord
from freshpoc_tasks.mining.access import Repository
from freshpoc_tasks.mining.languages import count_lines, language_of, looks_binary_by_name
from freshpoc_tasks.mining.wildmatch import Glob, InvalidPattern

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
BINARY_SNIFF_BYTES = 8000  # what git itself looks at for a NUL byte

_VENDORED_RE = re.compile(
    r"(^|/)(vendor|vendors|vendored|third[_-]?party|node_modules|bower_components|"
    r"jspm_packages|Pods|Carthage|site-packages|\.venv|venv|_vendor|externals?)/",
)
_VENDORED_FILE_RE = re.compile(r"(^|/)(jquery|bootstrap)([.-][\w.-]*)?\.(js|css)$", re.IGNORECASE)
_GENERATED_RE = re.compile(
    r"(\.min\.(js|css)|\.js\.map|\.css\.map|_pb2(_grpc)?\.pyi?|\.pb\.(go|cc|h)|\.pb\.gw\.go|"
    r"_generated\.\w+|\.generated\.\w+|\.g\.dart|\.designer\.cs)$"
    r"|(^|/)(package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|Pipfile\.lock|uv\.lock|"
    r"Cargo\.lock|go\.sum|composer\.lock|Gemfile\.lock|npm-shrinkwrap\.json)$"
    r"|(^|/)(dist|__generated__|generated)/",
)
_GENERATED_MARK_RE = re.compile(
    rb"@generated|Code generated .* DO NOT EDIT|DO NOT EDIT[.!]? *(THIS FILE)?|"
    rb"[Aa]uto-?generated (by|from)|This file was automatically generated",
)


@dataclass(frozen=True)
class _Entry:
    mode: str
    kind: str
    sha: str
    size: int
    path: str
    path_is_utf8: bool


def decode_path(raw: bytes) -> tuple[str, bool]:
    """Text for a path: exact when UTF-8, with ``\\xNN`` escapes (and a flag) otherwise."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), False


def _ls_tree(repo: Repository, commit: str) -> list[_Entry]:
    out = repo.git("ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--")
    entries = []
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, raw_path = item.partition(b"\t")
        mode, kind, sha, size = meta.split()
        path, ok = decode_path(raw_path)
        length = int(size) if size != b"-" else 0
        entries.append(_Entry(mode.decode(), kind.decode(), sha.decode(), length, path, ok))
    return entries


# --- .gitattributes (only the linguist flags matter here) -------------------------------------

# A hostile repository can ship thousands of attribute lines, and each costs a match per file:
# at most MAX_ATTRIBUTE_RULES rules, and fewer in big trees so that rules x files stays within
# MAX_ATTRIBUTE_MATCHES (never fewer than MIN_ATTRIBUTE_RULES; real projects use a few dozen).
MAX_ATTRIBUTE_RULES = 2000
MIN_ATTRIBUTE_RULES = 100
MAX_ATTRIBUTE_MATCHES = 10_000_000


def attribute_rule_budget(files: int) -> int:
    """How many linguist rules a tree of ``files`` entries may use (see the constants)."""
    return max(MIN_ATTRIBUTE_RULES, min(MAX_ATTRIBUTE_RULES, MAX_ATTRIBUTE_MATCHES // max(1, files)))


@dataclass(frozen=True)
class _AttrRule:
    """One ``pattern attr`` pair of a ``.gitattributes`` in folder ``base`` (``""`` = root).

    As in git: a pattern with a slash (other than a trailing one) is matched against the path
    relative to the file's folder, one without against the file name in that folder or below.
    Matching never backtracks (see :mod:`freshpoc_tasks.mining.wildmatch`).
    """

    glob: Glob
    base: str
    anchored: bool
    attr: str
    value: bool | None  # None: "!attr", unspecified again

    def matches(self, path: str) -> bool:
        if self.base:
            if not path.startswith(self.base):
                return False
            path = path[len(self.base) :]
        if self.anchored:
            return self.glob.match(path)
        return self.glob.match(path.rsplit("/", 1)[-1])


def parse_gitattributes(
    text: str, directory: str, skipped: list[str] | None = None, limit: int = MAX_ATTRIBUTE_RULES
) -> list[_AttrRule]:
    """Rules for ``linguist-generated`` / ``linguist-vendored`` from one ``.gitattributes``.

    Lines git would ignore or never match with are left out; with ``skipped`` given, a line
    describing each (file, line number, reason) is appended to it.
    """
    rules = []
    base = f"{directory}/" if directory else ""
    where = f"{base}.gitattributes"
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("[attr]"):
            continue
        pattern, *attrs = line.split()
        wanted = []
        for attr in attrs:
            value: bool | None = True
            name = attr
            if attr.startswith("-"):
                name, value = attr[1:], False
            elif attr.startswith("!"):  # git: back to unspecified, so our own heuristics decide
                name, value = attr[1:], None
            elif "=" in attr:
                name, raw = attr.split("=", 1)
                value = raw.lower() not in ("false", "0", "no")
            if name in ("linguist-generated", "linguist-vendored"):
                wanted.append((name, value))
        if not wanted:
            continue  # only these two attributes matter here: nothing else is even compiled
        if len(rules) >= limit:
            if skipped is not None:
                skipped.append(f"{where}:{number}: this and later rules skipped: over the budget "
                               "of gitattributes rules for this tree (see attribute_rule_budget)")
            break

        def skip(why: str, number: int = number, pattern: str = pattern) -> None:
            if skipped is not None:
                skipped.append(f"{where}:{number}: pattern {pattern[:100]!r} skipped: {why}")

        if pattern.startswith("!"):
            skip("negative patterns are forbidden in gitattributes")
            continue
        if pattern.startswith('"'):
            skip("quoted patterns are not supported")
            continue
        if pattern.endswith("/"):
            skip("a folder pattern matches no file in gitattributes (use folder/**)")
            continue
        anchored = "/" in pattern
        try:
            glob = Glob(pattern.lstrip("/"))
        except InvalidPattern as exc:
            skip(str(exc))
            continue
        rules += [_AttrRule(glob, base, anchored, name, value) for name, value in wanted]
    return rules


def _attr(rules: list[_AttrRule], attr: str, path: str) -> bool | None:
    result = None
    for rule in rules:  # ordered shallow to deep, top to bottom: later wins, as in git
        if rule.attr == attr and rule.matches(path):
            result = rule.value
    return result


def is_vendored_path(path: str) -> bool:
    return bool(_VENDORED_RE.search(path) or _VENDORED_FILE_RE.search(path))


def is_generated_path(path: str) -> bool:
    return bool(_GENERATED_RE.search(path))


def iter_inventory(
    repo: Repository, commit: str, *, max_bytes: int = DEFAULT_MAX_BYTES, notes: list[str] | None = None
) -> Iterator[FileRecord]:
    """One :class:`FileRecord` per tree entry at ``commit``, in path order.

    ``notes``, when given, receives one line per ``.gitattributes`` rule that was skipped
    (invalid pattern, over the rule budget) with the reason.
    """
    for rec, _data in iter_inventory_content(repo, commit, max_bytes=max_bytes, notes=notes):
        yield rec


def iter_inventory_content(
    repo: Repository, commit: str, *, max_bytes: int = DEFAULT_MAX_BYTES, notes: list[str] | None = None,
    count: bool = True,
) -> Iterator[tuple[FileRecord, bytes | None]]:
    """:func:`iter_inventory` with the content each record was read from (None when not read:
    over the cap, submodules), for a caller that needs the files themselves (the analysis):
    reading every blob a second time was a tenth of analysing a 10,000-file repository.

    ``count=False`` leaves the line counts at 0 (the analysis does not read them; counting is
    most of the inventory's own cost).
    """
    entries = _ls_tree(repo, commit)
    attr_files = [e for e in entries if e.path.rsplit("/", 1)[-1] == ".gitattributes" and e.kind == "blob"]
    attr_files.sort(key=lambda e: e.path.count("/"))
    rules: list[_AttrRule] = []
    sizes = {e.sha: e.size for e in attr_files}
    wanted = [e.sha for e in attr_files if sizes[e.sha] <= max_bytes and e.mode != "120000"]
    texts = dict(repo.read_blobs(wanted))
    budget = attribute_rule_budget(len(entries))
    for e in attr_files:
        if e.sha in texts:
            directory = e.path.rsplit("/", 1)[0] if "/" in e.path else ""
            rules += parse_gitattributes(texts[e.sha].decode("utf-8", "replace"), directory, notes,
                                         limit=budget - len(rules))  # fmt: skip

    def base_record(e: _Entry) -> dict:
        generated = _attr(rules, "linguist-generated", e.path)
        vendored = _attr(rules, "linguist-vendored", e.path)
        return {
            "path": e.path,
            "path_is_utf8": e.path_is_utf8,
            "blob_sha": e.sha,
            "size": e.size,
            "mode": e.mode,
            "is_generated": is_generated_path(e.path) if generated is None else generated,
            "is_vendored": is_vendored_path(e.path) if vendored is None else vendored,
        }

    def needs_content(e: _Entry) -> bool:
        return e.kind == "blob" and (e.mode == "120000" or e.size <= max_bytes)

    contents = repo.read_blobs(e.sha for e in entries if needs_content(e))
    for e in entries:
        rec = base_record(e)
        if e.kind == "commit":
            yield FileRecord(**rec, skipped_reason="submodule"), None
            continue
        if not needs_content(e):
            binary = looks_binary_by_name(e.path)
            yield FileRecord(
                **rec,
                language=None if binary else language_of(e.path),
                is_binary=binary,
                skipped_reason="too_large",
            ), None
            continue
        sha, data = next(contents)
        if sha != e.sha:  # cat-file answers in request order; anything else is a bug
            raise RuntimeError(f"blob stream out of order: wanted {e.sha}, got {sha}")
        if e.mode == "120000":
            target, _ = decode_path(data)
            yield FileRecord(**rec, is_symlink=True, symlink_target=target, skipped_reason="symlink"), data
            continue
        yield _content_record(rec, e.path, data, count), data


def _content_record(rec: dict, path: str, data: bytes, count: bool = True) -> FileRecord:
    head = data[:BINARY_SNIFF_BYTES]
    if b"\0" in head:
        return FileRecord(**rec, is_binary=True, skipped_reason="binary")
    language = language_of(path, head)
    if not rec["is_generated"] and _GENERATED_MARK_RE.search(data[:1024]):
        rec["is_generated"] = True
    try:
        text = data.decode("utf-8")
        reason = None
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        reason = "not_utf8"
    code, comment, blank = count_lines(text, language) if count else (0, 0, 0)
    return FileRecord(
        **rec,
        language=language,
        skipped_reason=reason,
        lines_code=code,
        lines_comment=comment,
        lines_blank=blank,
    )
