"""A fast yes/no JSON Schema check, compiled from the schema, with jsonschema kept for the errors.

Why: jsonschema resolves every ``$ref`` anew for every value (about 2.5 ms per index entry, most of a
6000-entry ``validate``). An index is nearly always valid, and a valid document needs no error messages,
only the answer "valid". So the schema is compiled once into plain Python closures that answer that
question; only a document (or entry) that the closures reject goes to jsonschema, which then produces the
messages users see. The closures may be stricter than jsonschema (then jsonschema has the last word and
finds nothing) but never laxer: a keyword the compiler does not know makes it refuse to compile, and the
caller falls back to jsonschema for everything (:func:`compile_schema` returns None).

:func:`schema_errors` is the one entry point: jsonschema's errors for a document, as ``(path prefix,
error)`` pairs, computed with jsonschema only where the fast check fails. The tests hold it to the same
problems as jsonschema alone on every corpus case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Plan", "compile_schema", "schema_errors"]

Check = Callable[[Any], bool]

# keywords that never change validity
_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "x-expected", "$defs"}


class _Unsupported(Exception):
    """The schema uses a keyword (or a form of one) this compiler does not implement."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_integer(x: Any) -> bool:
    # jsonschema (draft 2020-12): 1.0 is an integer, True is not
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def _all(checks: list[Check]) -> Check:
    """One check that passes when all pass (nested ``and``s: no generator per value)."""
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    if len(checks) == 3:
        a, b, c = checks
        return lambda x: a(x) and b(x) and c(x)
    head, rest = checks[0], _all(checks[1:])
    return lambda x: head(x) and rest(x)


class _Compiler:
    def __init__(self, root: dict) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer in self.refs:
            return self.refs[pointer]
        if not pointer.startswith("#/"):
            raise _Unsupported(f"$ref {pointer!r}")
        target: Any = self.root
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise _Unsupported(f"$ref {pointer!r}")
            target = target[part]
        slot: list[Check] = []
        self.refs[pointer] = lambda x: slot[0](x)  # late binding, used only where a ref recurses
        compiled = self.compile(target)
        slot.append(compiled)
        self.refs[pointer] = compiled  # later users call the check directly
        return compiled

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise _Unsupported(f"schema {schema!r}")
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            method = getattr(self, "k_" + keyword.replace("$", "dollar_"), None)
            if method is None:
                raise _Unsupported(keyword)
            if keyword in ("additionalProperties",):
                continue  # compiled together with properties
            checks.append(method(value, schema))
        if "additionalProperties" in schema and "properties" not in schema:
            checks.append(self.k_properties({}, schema))
        return _all(checks)

    # --- keywords -----------------------------------------------------------------------------------
    def k_dollar_ref(self, value, schema) -> Check:
        return self.ref(value)

    def k_type(self, value, schema) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        if not all(n in _TYPES for n in names):
            raise _Unsupported(f"type {value!r}")
        tests = [_TYPES[n] for n in names]
        return tests[0] if len(tests) == 1 else (lambda x: any(t(x) for t in tests))

    def k_properties(self, value, schema) -> Check:
        props = {k: self.compile(v) for k, v in value.items()}
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)

        def check(x):
            if not isinstance(x, dict):
                return True
            for key, item in x.items():
                sub = props.get(key)
                if sub is not None:
                    if not sub(item):
                        return False
                elif extra_check is not None and not extra_check(item):
                    return False
            return True

        return check

    def k_additionalProperties(self, value, schema) -> Check:  # handled in k_properties
        raise AssertionError("unreachable")

    def k_required(self, value, schema) -> Check:
        keys = list(value)
        return lambda x: not isinstance(x, dict) or all(k in x for k in keys)

    def k_items(self, value, schema) -> Check:
        if not isinstance(value, (dict, bool)):
            raise _Unsupported("items as a list")
        item = self.compile(value)

        def check(x):
            if isinstance(x, list):
                for i in x:
                    if not item(i):
                        return False
            return True

        return check

    def k_minItems(self, value, schema) -> Check:
        return lambda x: not isinstance(x, list) or len(x) >= value

    def k_maxItems(self, value, schema) -> Check:
        return lambda x: not isinstance(x, list) or len(x) <= value

    def k_minProperties(self, value, schema) -> Check:
        return lambda x: not isinstance(x, dict) or len(x) >= value

    def k_maxProperties(self, value, schema) -> Check:
        return lambda x: not isinstance(x, dict) or len(x) <= value

    def k_minLength(self, value, schema) -> Check:
        return lambda x: not isinstance(x, str) or len(x) >= value

    def k_maxLength(self, value, schema) -> Check:
        return lambda x: not isinstance(x, str) or len(x) <= value

    def k_pattern(self, value, schema) -> Check:
        search = re.compile(value).search  # jsonschema: re.search, unanchored
        return lambda x: not isinstance(x, str) or search(x) is not None

    def _bound(self, value, ok) -> Check:
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise _Unsupported("bound")
        return lambda x: not _is_number(x) or ok(x)

    def k_minimum(self, value, schema) -> Check:
        return self._bound(value, lambda x: x >= value)

    def k_maximum(self, value, schema) -> Check:
        return self._bound(value, lambda x: x <= value)

    def k_exclusiveMinimum(self, value, schema) -> Check:
        return self._bound(value, lambda x: x > value)

    def k_exclusiveMaximum(self, value, schema) -> Check:
        return self._bound(value, lambda x: x < value)

    def k_enum(self, value, schema) -> Check:
        if not all(isinstance(v, str) for v in value):
            raise _Unsupported("enum of non-strings")  # jsonschema's equality of 1, 1.0 and True differs
        allowed = frozenset(value)
        return lambda x: isinstance(x, str) and x in allowed

    def k_const(self, value, schema) -> Check:
        if not isinstance(value, str):
            raise _Unsupported("const of a non-string")
        return lambda x: isinstance(x, str) and x == value

    def k_anyOf(self, value, schema) -> Check:
        subs = [self.compile(s) for s in value]
        if len(subs) == 2:
            a, b = subs
            return lambda x: a(x) or b(x)
        return lambda x: any(s(x) for s in subs)

    def k_allOf(self, value, schema) -> Check:
        return _all([self.compile(s) for s in value])

    def k_oneOf(self, value, schema) -> Check:
        subs = [self.compile(s) for s in value]
        return lambda x: sum(1 for s in subs if s(x)) == 1

    def k_not(self, value, schema) -> Check:
        sub = self.compile(value)
        return lambda x: not sub(x)


class Plan:
    """A compiled schema, split so that a document's list items are judged one by one.

    ``whole`` checks a document; ``lists`` maps each top-level property whose schema has ``items`` to the
    item check and the item schema; ``top`` is the root schema without those ``items`` (for jsonschema to
    report what is wrong outside the items, at the cost of the top level only).
    """

    def __init__(self, schema: dict) -> None:
        compiler = _Compiler(schema)
        self.whole = compiler.compile(schema)
        self.lists: dict[str, tuple[Check, Any]] = {}
        top = dict(schema)
        props = dict(schema.get("properties") or {})
        for key, sub in props.items():
            if isinstance(sub, dict) and "items" in sub:
                self.lists[key] = (compiler.compile(sub["items"]), sub["items"])
                props[key] = {k: v for k, v in sub.items() if k != "items"}
        top["properties"] = props
        self.top = top


def compile_schema(schema: dict) -> Plan | None:
    """The compiled plan, or None when the schema uses something the compiler does not implement."""
    try:
        return Plan(schema)
    except (_Unsupported, re.error, TypeError, ValueError):
        return None


def schema_errors(validator: Any, plan: Plan | None, data: Any) -> Iterator[tuple[tuple, Any]]:
    """jsonschema's errors for ``data`` as (path prefix, error) pairs; the error's own path follows the prefix.

    ``validator`` is a jsonschema validator of the whole schema. With a plan, a document the fast check
    accepts costs no jsonschema call at all; one it rejects is judged by jsonschema at its top level, and
    item by item only for the list items the fast check rejects. The union is exactly what jsonschema
    reports for the whole document, because ``items`` reports each item's errors under the item's path.
    """
    if plan is None:
        for error in validator.iter_errors(data):
            yield (), error
        return
    if plan.whole(data):
        return
    top = validator.evolve(schema=plan.top)
    for error in top.iter_errors(data):
        yield (), error
    if not isinstance(data, dict):
        return
    for key, (check, item_schema) in plan.lists.items():
        items = data.get(key)
        if not isinstance(items, list):
            continue
        item_validator = None
        for i, item in enumerate(items):
            if check(item):
                continue
            if item_validator is None:
                item_validator = validator.evolve(schema=item_schema)
            for error in item_validator.iter_errors(item):
                yield (key, i), error
