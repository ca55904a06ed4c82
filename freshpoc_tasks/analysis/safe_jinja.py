"""A Jinja sandbox that also bounds what a template can make: string and list sizes, loop
iterations, calls and total output per render.

Jinja's ``SandboxedEnvironment`` stops templates from reaching Python internals but not from
asking for ``'x' * 2000000000``, doubling a list forty times or looping a billion times; those
are cheap to write and fatal to render. Here every way a template grows a value is checked
*before* the value is built: the ``*``, ``+``, ``**`` and ``%`` operators, ``~`` concatenation,
size-amplifying filters (``center``, ``indent``, ``replace``, ``join``, ``format``...) and str
and list methods (``ljust``, ``replace``, ``extend``...). Loops and calls draw on a per-render
step budget, and every ``{{ }}`` output and every loop body's literal text on an output budget.
A breach raises :class:`JinjaBudgetExceeded`, a ``SecurityError`` (so a ``TemplateError``):
existing ``except TemplateError`` handlers already record it.

Budgets reset whenever a template starts a render (``Template.new_context``), so one long-lived
environment can render many models; call :meth:`SafeSandbox.reset_budget` to reset by hand.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment


@dataclass(frozen=True)
class JinjaLimits:
    max_str: int = 1_000_000  # characters in one string value
    max_list: int = 100_000  # items in one list/tuple/dict, and nodes walked in one value
    max_range: int = 100_000  # items one range() may produce
    max_steps: int = 1_000_000  # loop iterations plus calls (CALL_STEPS each), per render
    max_output: int = 20_000_000  # characters rendered, per render
    max_int_bits: int = 100_000  # size of an integer ``**`` may produce


class JinjaBudgetExceeded(SecurityError):
    """A template asked for more than its limits; the message names the limit."""


_SEQ = (str, bytes, list, tuple)
CALL_STEPS = 10  # a call (macro, method, filter) costs about as much as ten loop iterations
_PCT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")
_BODY_CHARS = "_safe_jinja_body_chars"


def _size(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


class SafeTemplate(Template):
    """Starts a fresh budget for each render, including renders driven by hand
    (``template.root_render_func(template.new_context(...))``)."""

    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        env = self.environment
        if isinstance(env, SafeSandbox):
            env.reset_budget()
        return super().new_context(*args, **kwargs)


class SafeSandbox(SandboxedEnvironment):
    """``SandboxedEnvironment`` with bounded values, loops, calls and output (see module doc).

    Subclass it as you would ``SandboxedEnvironment``; pass ``limits=JinjaLimits(...)`` to
    tighten or loosen. ``finalize`` given by the caller still runs, after the size check.
    """

    template_class = SafeTemplate
    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self, *args: Any, limits: JinjaLimits | None = None, **kwargs: Any) -> None:
        user_finalize = kwargs.pop("finalize", None)
        self.limits = limits or JinjaLimits()
        self._steps = 0
        self._output = 0

        def finalize(value: Any) -> Any:
            self._charge_output(self.measure(value))
            return user_finalize(value) if user_finalize is not None else value

        super().__init__(*args, finalize=finalize, **kwargs)
        self.globals["range"] = self._range
        self.filters = {name: self._guard_filter(name, fn) for name, fn in self.filters.items()}

    # -- budget -------------------------------------------------------------------------------
    def reset_budget(self) -> None:
        self._steps = 0
        self._output = 0

    def _refuse(self, what: str) -> JinjaBudgetExceeded:
        return JinjaBudgetExceeded(f"template budget exceeded: {what}")

    def _step(self, n: int = 1) -> None:
        self._steps += n
        if self._steps > self.limits.max_steps:
            raise self._refuse(f"more than {self.limits.max_steps} loop iterations and calls")

    def _charge_output(self, chars: int) -> None:
        self._output += chars
        if self._output > self.limits.max_output:
            raise self._refuse(f"more than {self.limits.max_output} characters of output")

    def _check_str(self, n: int, what: str = "string") -> None:
        if n > self.limits.max_str:
            raise self._refuse(f"a {what} of {n} characters (limit {self.limits.max_str})")

    def _check_list(self, n: int) -> None:
        if n > self.limits.max_list:
            raise self._refuse(f"a list of {n} items (limit {self.limits.max_list})")

    def measure(self, value: Any) -> int:
        """Characters ``str(value)`` would roughly take, walking shared references as many times
        as they appear (as ``str`` would), but stopping at the budget instead of finishing."""
        if isinstance(value, str):
            self._check_str(len(value))
            return len(value)
        if not isinstance(value, list | tuple | dict | set | frozenset):
            return 0
        nodes_left = self.limits.max_list
        chars = 0
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            nodes_left -= 1
            if nodes_left < 0:
                raise self._refuse(f"a value with more than {self.limits.max_list} parts")
            if isinstance(item, str):
                chars += len(item) + 4
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple | set | frozenset):
                stack.extend(item)
            else:
                chars += 8
            if chars > self.limits.max_str:
                self._check_str(chars, "rendered value")
        return chars

    # -- hooks the compiled template calls ----------------------------------------------------
    def bounded_iter(self, iterable: Iterable[Any], body_chars: int = 0) -> Iterator[Any]:
        for item in iterable:
            self._step()
            if body_chars:
                self._charge_output(body_chars)
            yield item

    def _bounded_items(self, items: Iterator[Any]) -> Iterator[Any]:
        for n, item in enumerate(items, 1):
            if n > self.limits.max_list:
                raise self._refuse(f"an iterable of more than {self.limits.max_list} items")
            yield item

    def bounded_concat(self, parts: list[Any]) -> str:
        self._check_str(sum(self.measure(p) if not isinstance(p, str) else len(p) for p in parts))
        return (markup_join if self.autoescape else str_join)(parts)

    def _range(self, *args: int) -> range:
        rng = range(*args)
        if len(rng) > self.limits.max_range:
            raise self._refuse(f"a range of {len(rng)} items (limit {self.limits.max_range})")
        return rng

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQ) and isinstance(times, int):
                    self._check_sized(seq, len(seq) * max(times, 0))
        elif operator_ == "+" and isinstance(left, _SEQ) and isinstance(right, _SEQ):
            self._check_sized(left, len(left) + len(right))
        elif operator_ == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(abs(left), 2).bit_length() * right > self.limits.max_int_bits:
                raise self._refuse(f"an integer power {left} ** {right}")
        elif operator_ == "%" and isinstance(left, str):
            self._check_percent_format(left, right)
        return super().call_binop(context, operator_, left, right)

    def _check_sized(self, like: Any, n: int) -> None:
        if isinstance(like, str | bytes):
            self._check_str(n)
        else:
            self._check_list(n)

    def _check_percent_format(self, fmt: str, args: Any) -> None:
        for m in _PCT_SPEC.finditer(fmt):
            for width in m.groups():
                if width == "*" or (width and int(width) > self.limits.max_str):
                    raise self._refuse(f"a %-format width {width!r}")
        self._check_str(len(fmt) + self.measure(args))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self._step(CALL_STEPS)
        if any(isinstance(a, Iterator) for a in args):  # ''.join(generator) and the like
            args = tuple(__self._bounded_items(a) if isinstance(a, Iterator) else a for a in args)
        __self._precheck_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        __self._postcheck(result)
        return result

    def _postcheck(self, result: Any) -> None:
        if isinstance(result, str | bytes):
            self._check_str(len(result))
        elif isinstance(result, list | tuple | dict | set):
            self._check_list(len(result))

    def _precheck_method(self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Methods of str and list that can grow a value far past their inputs."""
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, str):
            if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
                self._check_str(args[0])
            elif name == "expandtabs":
                tab = args[0] if args and isinstance(args[0], int) else 8
                self._check_str(len(owner) + owner.count("\t") * max(tab, 0))
            elif name == "replace" and len(args) >= 2:
                self._check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
            elif name == "join" and args:
                self._check_join(owner, args[0])
        elif isinstance(owner, list) and name in ("extend", "__iadd__") and args:
            self._check_list(len(owner) + _size(args[0]))
        elif isinstance(owner, list) and name == "insert":
            self._check_list(len(owner) + 1)

    def _check_format_fields(self, fmt: str) -> None:
        try:
            fields = list(string.Formatter().parse(fmt))
        except ValueError:
            return  # str.format will raise the same error itself
        for _literal, _name, spec, _conversion in fields:
            if not spec:
                continue
            if "{" in spec:
                raise self._refuse(f"a computed format spec {spec[:40]!r}")
            if any(int(d) > self.limits.max_str for d in _DIGITS.findall(spec)):
                raise self._refuse(f"a format width in {spec[:40]!r}")

    def wrap_str_format(self, value: Any) -> Any:
        """``'...'.format`` is wrapped by the sandbox at attribute access; check widths there."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            self._check_format_fields(value.__self__)
        return wrapped

    def _check_replace(self, s: Any, old: Any, new: Any, count: Any = -1) -> None:
        if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
            return
        hits = (len(s) + 1) if old == "" else s.count(old)
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        self._check_str(len(s) + hits * max(len(new) - len(old), 0))

    def _check_join(self, sep: Any, items: Any) -> Any:
        if not isinstance(items, list | tuple | set | frozenset | dict | str):
            return
        self._check_list(len(items))
        total = sum(self.measure(x) if not isinstance(x, str) else len(x) for x in items)
        self._check_str(total + _size(sep) * max(len(items) - 1, 0))

    # -- filters ------------------------------------------------------------------------------
    def _guard_filter(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        pre = self._filter_prechecks().get(name)

        # Filters decorated with pass_context / pass_eval_context / pass_environment get that
        # object first; the value is the first argument after it.
        offset = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._step(CALL_STEPS)
            if len(args) > offset and isinstance(args[offset], Iterator):
                # a generator (``modules.itertools.repeat('x', 10**9)``) that ``list``, ``join``
                # or ``sort`` would materialise: count its items as they are drawn
                args = (*args[:offset], self._bounded_items(args[offset]), *args[offset + 1:])
            if pre is not None:
                pre(*args[offset:], **kwargs)
            result = fn(*args, **kwargs)
            self._postcheck(result)
            return result

        return guarded

    def _filter_prechecks(self) -> dict[str, Callable[..., None]]:
        def width(value: Any = "", width: Any = 80, *_a: Any, **kw: Any) -> None:
            w = kw.get("width", width)
            if isinstance(w, int):
                self._check_str(_size(value) + max(w, 0) * (1 + str(value).count("\n")))
            elif isinstance(w, str):
                self._check_str(_size(value) + len(w) * (1 + str(value).count("\n")))

        def replace(value: Any = "", old: Any = "", new: Any = "", count: Any = None, **_k: Any) -> None:
            self._check_replace(str(value) if not isinstance(value, str) else value, old, new,
                                -1 if count is None else count)

        def join(value: Any = (), d: Any = "", *_a: Any, **kw: Any) -> None:
            self._check_join(kw.get("d", d), value)

        def whole(value: Any = None, *_a: Any, **_k: Any) -> None:
            self.measure(value)

        def fmt(value: Any = "", *args: Any, **kwargs: Any) -> None:
            if isinstance(value, str):
                self._check_percent_format(value, list(args) + list(kwargs.values()))

        def slices(value: Any = (), n: Any = 1, *_a: Any, **_k: Any) -> None:
            if isinstance(n, int):
                self._check_list(n)

        return {"center": width, "indent": width, "replace": replace, "join": join, "format": fmt,
                "tojson": whole, "pprint": whole, "string": whole, "list": whole, "sum": whole,
                "slice": slices, "batch": slices, "wordwrap": whole, "urlize": whole}

    # -- compile-time rewrite -------------------------------------------------------------------
    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        _bound_tree(source, self.autoescape)
        return super()._generate(source, name, filename, defer_init=defer_init)


def _body_chars(node: nodes.Node) -> int:
    """Literal text a loop body emits per iteration (nested loops charge their own)."""
    total = 0
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.TemplateData):
            total += len(child.data)
        elif not isinstance(child, nodes.For | nodes.Macro | nodes.CallBlock):
            total += _body_chars(child)
    return total


def _bound_tree(tree: nodes.Node, autoescape: Any) -> None:
    """Route every loop's iterable through ``environment.bounded_iter`` and every ``~`` through
    ``environment.bounded_concat``, bottom-up; marks the loops it rewrote so a tree handed to
    ``compile`` twice is never wrapped twice."""
    _rewrite(tree)


def _rewrite(node: nodes.Node) -> nodes.Node:
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, nodes.Node):
            setattr(node, field, _rewrite(value))
        elif isinstance(value, list):
            setattr(node, field, [_rewrite(v) if isinstance(v, nodes.Node) else v for v in value])
    if isinstance(node, nodes.For) and getattr(node, _BODY_CHARS, None) is None:
        chars = sum(_body_chars(n) for n in node.body)
        object.__setattr__(node, _BODY_CHARS, chars)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [node.iter, nodes.Const(chars)],
                               [], None, None, lineno=node.lineno)
    if isinstance(node, nodes.Concat):
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Call(nodes.EnvironmentAttribute("bounded_concat"), [parts], [], None, None,
                          lineno=node.lineno)
    return node


__all__ = ["JinjaBudgetExceeded", "JinjaLimits", "SafeSandbox", "SafeTemplate"]
