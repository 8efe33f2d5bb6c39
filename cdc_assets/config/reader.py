"""Reading the pipeline file: YAML nodes -> plain values, ``${VAR}`` substitution, collected errors."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from cdc_assets.config.options import _Opt
from cdc_assets.config.values import _text
from cdc_assets.errors import ConfigError

# Reading: YAML nodes -> plain values (text scalars), with lines, env substitution and errors.

_ENV = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NULLS = ("", "~", "null", "Null", "NULL")


class _Ctx:
    def __init__(self, origin: str, env: Mapping[str, str]) -> None:
        self.origin, self.env = origin, env
        self.errors: list[tuple[str, str]] = []
        self.lines: dict[str, int] = {}
        self.na: dict[str, str] = {}
        self.warnings: list[str] = []
        self.secrets: list[str] = []
        self.failed: set[str] = set()  # keys with an error already (one message per key)

    def error(self, key: str, message: str) -> None:
        """Record an error; the line is the key's, or else its nearest enclosing block's."""
        parent = key
        while parent and parent not in self.lines:
            parent = parent[: max(parent.rfind("."), parent.rfind("["), 0)]
        line = self.lines.get(parent)
        where = f"{self.origin}:{line}" if line else self.origin
        self.failed.add(key)
        self.errors.append((key, f"{where}: {key}: {message}"))

    def substitute(self, text: str, key: str) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(1):  # $${...} is a literal ${...}
                return m.group(0)[1:]
            name, default = m.group(2), m.group(3)
            value = self.env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    self.error(
                        key,
                        f"environment variable '{name}' is not set; export it, or write "
                        f"${{{name}:-default}} to give a default",
                    )
                    return ""
                return default
            return value

        return _ENV.sub(repl, text)

    def to_value(self, node: yaml.Node, key: str) -> Any:
        self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if node.style is None and node.value in _NULLS:
                return None
            return self.substitute(node.value, key)
        if isinstance(node, yaml.SequenceNode):
            return [self.to_value(n, f"{key}[{i}]") for i, n in enumerate(node.value)]
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                self.error(
                    key or "(top level)", f"line {k_node.start_mark.line + 1}: keys must be plain text"
                )
                continue
            name = k_node.value
            child = f"{key}.{name}" if key else name
            if name in out:
                self.lines[child] = k_node.start_mark.line + 1
                self.error(child, "is given twice; keep one")
                continue
            self.lines[child] = k_node.start_mark.line + 1
            out[name] = self.to_value(v_node, child)
        return out

    def raise_if_errors(self) -> None:
        if self.errors:
            message = "\n".join(m for _, m in self.errors)
            for secret in self.secrets:
                if len(secret) >= 4:
                    message = message.replace(secret, "******")
            raise ConfigError(message, file=self.origin, keys=[k for k, _ in self.errors])


def _section(
    ctx: _Ctx,
    raw: dict[str, Any],
    where: str,
    opts: list[_Opt],
    prefixes: Mapping[str, str] | None = None,
    map_prefixes: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Parse one mapping against an option table. ``prefixes``: Flink-only key prefixes -> reason;
    ``map_prefixes``: key prefix -> attribute collecting ``{rest of key: text}``.
    Returns (attribute values, collected maps)."""
    prefixes, map_prefixes = prefixes or {}, map_prefixes or {}
    table = {o.key: o for o in opts}
    values: dict[str, Any] = {}
    set_by: dict[str, str] = {}
    maps: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}"
        opt = table.get(key)
        if opt is not None:
            if value is None or dotted in ctx.failed:
                continue  # `key:` with no value means "not set"; a failed ${VAR} was reported
            if opt.secret and isinstance(value, str):
                ctx.secrets.append(value)
            if opt.parse is not None:
                try:
                    parsed = opt.parse(value)  # secret parsers never quote the value
                except ValueError as exc:
                    ctx.error(dotted, str(exc))
                    continue
                if opt.attr is not None:
                    if opt.attr in set_by:
                        ctx.error(dotted, f"sets the same option as {where}.{set_by[opt.attr]}; keep one")
                    values[opt.attr], set_by[opt.attr] = parsed, key
            if opt.na:
                ctx.na[dotted] = opt.na
            continue
        mp = next((p for p in map_prefixes if key.startswith(p) and len(key) > len(p)), None)
        if mp is not None:
            try:
                maps.setdefault(map_prefixes[mp], {})[key[len(mp) :]] = _text(
                    value if value is not None else ""
                )
            except ValueError as exc:
                ctx.error(dotted, str(exc))
            continue
        fp = next((p for p in prefixes if key.startswith(p) and len(key) > len(p)), None)
        if fp is not None:
            ctx.na[dotted] = prefixes[fp]
            continue
        known = list(table) + [p + "*" for p in (*map_prefixes, *prefixes)]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"the closest known option is '{difflib.get_close_matches(key, known, 1, 0.0)[0]}'"
        )
        ctx.error(dotted, f"unknown option; {hint}")
    for opt in opts:
        if opt.required and raw.get(opt.key) is None:
            state = "has no value" if opt.key in raw else "is missing"
            ctx.error(f"{where}.{opt.key}", f"required option {state}; {opt.required}")
    return values, maps


def _mapping(ctx: _Ctx, value: Any, key: str, required: bool) -> dict[str, Any] | None:
    if value is None:
        if required:
            ctx.error(key, f"required section is missing; add a '{key}:' block")
        return None
    if not isinstance(value, dict):
        ctx.error(
            key, f"expected a mapping of options, got {'a list' if isinstance(value, list) else 'a value'}"
        )
        return None
    return value
