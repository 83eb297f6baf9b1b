"""Operations with Go/expr semantics used by compiled expressions (EXPR.md §4–§6).

The compiler emits direct Python code when static types make it safe and calls these
functions otherwise (dynamic values from ``anymap`` fields, helpers returning ``any``,
``#`` in predicates). This module is also the sandbox boundary for dynamic values: an
object is only entered through the names its class lists in ``EXPR_FIELDS`` /
``EXPR_METHODS`` (or the fixed time/duration tables); nothing else is reachable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crowdwatch.expr.regexes import compile_re2

from .errors import ExprRuntimeError
from .gotime import add_duration, methods_for, sub_times
from .values import Duration, go_type

MEMORY_BUDGET = 1_000_000
"""Elements a single evaluation may create/iterate (ranges, predicates), like expr's budget."""
MAX_STRING = 10_000_000
"""Longest string concatenation result (characters)."""


class Budget:
    """Per-evaluation allowance against resource-exhaustion expressions."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MEMORY_BUDGET

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ExprRuntimeError("memory budget exceeded")


# --- type names and model introspection ------------------------------------------------


_NO_TABLE: dict[str, str] = {}
_FIELDS: dict[type, dict[str, str]] = {}
_METHODS: dict[type, dict[str, str]] = {}


def _safe_table(table: object) -> dict[str, str]:
    if not isinstance(table, dict):
        return _NO_TABLE
    return {
        k: v
        for k, v in table.items()
        if isinstance(k, str) and isinstance(v, str) and k.isidentifier() and not k.startswith("_")
    }


def model_fields(t: type) -> dict[str, str]:
    """``EXPR_FIELDS`` of a model class (empty for other types)."""
    table = _FIELDS.get(t)
    if table is None:
        table = _FIELDS[t] = _safe_table(t.__dict__.get("EXPR_FIELDS") or _inherited(t, "EXPR_FIELDS"))
    return table


def model_methods(t: type) -> dict[str, str]:
    """``EXPR_METHODS`` of a model class: expression name -> Python method name."""
    table = _METHODS.get(t)
    if table is None:
        raw = _safe_table(t.__dict__.get("EXPR_METHODS") or _inherited(t, "EXPR_METHODS"))
        table = _METHODS[t] = {k: v for k, v in raw.items() if v.isidentifier() and not v.startswith("_")}
    return table


def _inherited(t: type, name: str) -> object:
    for base in t.__mro__[1:]:
        if name in base.__dict__:
            return base.__dict__[name]
    return None


# --- truth, equality, ordering ---------------------------------------------------------


def truth(x: object) -> bool:
    """Operand of ``&&``/``||``/``not``/``?:`` must be a bool."""
    if x is True or x is False:
        return x
    raise ExprRuntimeError(f"invalid operation: expected bool, got {go_type(x)}")


def not_(x: object) -> bool:
    return not truth(x)


def _is_num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def eq(a: Any, b: Any) -> bool:
    """Go/expr ``==``: numbers by value, bool never equals a number, lists element-wise."""
    ta = type(a)
    if ta is type(b):
        if ta is list:
            return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
        return bool(a == b)
    if ta is bool or type(b) is bool or a is None or b is None:
        return False
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return str.__eq__(a, b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict | datetime) and type(b) is type(a):
        return bool(a == b)
    return False


def ne(a: object, b: object) -> bool:
    return not eq(a, b)


def _ordered(a: object, b: object, op: str) -> None:
    if _is_num(a) and _is_num(b):
        return
    if isinstance(a, str) and isinstance(b, str):
        return
    if isinstance(a, datetime) and isinstance(b, datetime):
        return
    raise ExprRuntimeError(f"invalid operation: {go_type(a)} {op} {go_type(b)}")


def lt(a: Any, b: Any) -> bool:
    _ordered(a, b, "<")
    return bool(a < b)


def le(a: Any, b: Any) -> bool:
    _ordered(a, b, "<=")
    return bool(a <= b)


def gt(a: Any, b: Any) -> bool:
    _ordered(a, b, ">")
    return bool(a > b)


def ge(a: Any, b: Any) -> bool:
    _ordered(a, b, ">=")
    return bool(a >= b)


# --- arithmetic ----------------------------------------------------------------------


def _bad_op(a: object, op: str, b: object) -> ExprRuntimeError:
    return ExprRuntimeError(f"invalid operation: {go_type(a)} {op} {go_type(b)}")


def cat(a: str, b: str) -> str:
    """String concatenation with a size limit."""
    if len(a) + len(b) > MAX_STRING:
        raise ExprRuntimeError("string too long")
    return a + b


def add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return cat(a, b)
    if _is_num(a) and _is_num(b):
        r = a + b
        return Duration(r) if isinstance(a, Duration) and isinstance(b, Duration) else r
    if isinstance(a, datetime) and isinstance(b, Duration):
        return add_duration(a, b)
    if isinstance(a, Duration) and isinstance(b, datetime):
        return add_duration(b, a)
    raise _bad_op(a, "+", b)


def sub(a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        r = a - b
        return Duration(r) if isinstance(a, Duration) and isinstance(b, Duration) else r
    if isinstance(a, datetime) and isinstance(b, datetime):
        return sub_times(a, b)
    if isinstance(a, datetime) and isinstance(b, Duration):
        return add_duration(a, -b)
    raise _bad_op(a, "-", b)


def mul(a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        r = a * b
        if isinstance(r, int) and (isinstance(a, Duration) or isinstance(b, Duration)):
            return Duration(r)
        return r
    raise _bad_op(a, "*", b)


def div(a: Any, b: Any) -> float:
    """``/`` always yields a float; division by zero gives ±Inf/NaN like Go floats."""
    if not (_is_num(a) and _is_num(b)):
        raise _bad_op(a, "/", b)
    fa, fb = float(a), float(b)
    if fb == 0.0:
        if fa == 0.0 or math.isnan(fa):
            return math.nan
        return math.copysign(math.inf, fa) * math.copysign(1.0, fb)
    return fa / fb


def mod(a: Any, b: Any) -> int:
    """Integer remainder truncated toward zero (Go ``%``)."""
    if type(a) is bool or type(b) is bool or not isinstance(a, int) or not isinstance(b, int):
        raise _bad_op(a, "%", b)
    if b == 0:
        raise ExprRuntimeError("integer divide by zero")
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def pow_(a: Any, b: Any) -> float:
    if not (_is_num(a) and _is_num(b)):
        raise _bad_op(a, "**", b)
    try:
        return math.pow(float(a), float(b))
    except OverflowError:
        base = float(a)
        if base < 0 and float(b).is_integer() and int(b) % 2 == 1:
            return -math.inf
        return math.inf
    except ValueError:
        return math.nan


def neg(a: Any) -> Any:
    if not _is_num(a):
        raise ExprRuntimeError(f"invalid operation: -{go_type(a)}")
    return Duration(-a) if isinstance(a, Duration) else -a


def pos(a: Any) -> Any:
    if not _is_num(a):
        raise ExprRuntimeError(f"invalid operation: +{go_type(a)}")
    return a


def range_(a: Any, b: Any, budget: Budget) -> list[int]:
    if type(a) is not int or type(b) is not int:
        raise _bad_op(a, "..", b)
    if b < a:
        return []
    budget.spend(b - a + 1)
    return list(range(a, b + 1))


# --- strings -------------------------------------------------------------------------


def _str_operands(a: object, b: object, op: str) -> bool:
    """True if both are strings; False if either is nil; runtime error otherwise."""
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        return True
    raise _bad_op(a, op, b)


def contains(a: Any, b: Any) -> bool:
    return _str_operands(a, b, "contains") and b in a


def starts_with(a: Any, b: Any) -> bool:
    return _str_operands(a, b, "startsWith") and a.startswith(b)


def ends_with(a: Any, b: Any) -> bool:
    return _str_operands(a, b, "endsWith") and a.endswith(b)


def match_re(a: Any, regex: Any) -> bool:
    """``a matches <constant pattern>``."""
    if a is None:
        return False
    if not isinstance(a, str):
        raise ExprRuntimeError(f"invalid operation: {go_type(a)} matches string")
    return regex.search(a) is not None


def matches(a: Any, pattern: Any) -> bool:
    """``a matches <computed pattern>``: the pattern is compiled (and cached) at run time."""
    if not _str_operands(a, pattern, "matches"):
        return False
    try:
        regex = compile_re2(pattern)
    except Exception as exc:
        raise ExprRuntimeError(str(exc)) from None
    return regex.search(a) is not None


# --- membership, access ----------------------------------------------------------------


def in_(x: Any, coll: Any) -> bool:
    if coll is None:
        return False
    if isinstance(coll, list | tuple):
        if type(x) is str:
            return x in coll
        return any(eq(x, e) for e in coll)
    if isinstance(coll, dict):
        try:
            return x in coll
        except TypeError:
            raise ExprRuntimeError(f"invalid map key type {go_type(x)}") from None
    fields = model_fields(type(coll))
    if fields:
        if not isinstance(x, str):
            raise ExprRuntimeError(f"invalid operation: {go_type(x)} in {go_type(coll)}")
        return x in fields
    raise ExprRuntimeError(f'operator "in" not defined on {go_type(coll)}')


def _list_index(seq: list[Any] | tuple[Any, ...], key: object) -> Any:
    if type(key) is bool or not _is_num(key):
        raise ExprRuntimeError(f"invalid index type {go_type(key)} for {go_type(seq)}")
    i = int(key)  # type: ignore[call-overload]
    n = len(seq)
    j = i + n if i < 0 else i
    if not 0 <= j < n:
        raise ExprRuntimeError(f"index out of range: {i} (array length is {n})")
    return seq[j]


def fetch(obj: Any, key: Any) -> Any:
    """``obj.key`` / ``obj[key]`` on a dynamic value."""
    t = type(obj)
    if t is dict:
        try:
            return obj.get(key)
        except TypeError:
            raise ExprRuntimeError(f"invalid map key type {go_type(key)}") from None
    if t is list:
        return _list_index(obj, key)
    if obj is None:
        raise ExprRuntimeError(f"cannot fetch {key} from <nil>")
    fields = model_fields(t)
    if fields:
        if type(key) is str and key in fields:
            return getattr(obj, key)
        raise ExprRuntimeError(f"cannot fetch {key} from {go_type(obj)}")
    if isinstance(obj, dict):
        return obj.get(key)
    if isinstance(obj, list | tuple):
        return _list_index(obj, key)
    raise ExprRuntimeError(f"cannot fetch {key} from {go_type(obj)}")


def fetch2(obj: Any, k1: str, k2: str) -> Any:
    """``obj.k1.k2`` keeping the string-map rule (missing key = ``""``) for model fields."""
    fields = model_fields(type(obj))
    if fields and fields.get(k1) == "strmap":
        m = getattr(obj, k1)
        return m.get(k2, "") if m is not None else ""
    return fetch(fetch(obj, k1), k2)


def sget(m: dict[str, str], key: Any) -> str:
    """``strmap[key]`` with a computed key."""
    if not isinstance(key, str):
        raise ExprRuntimeError(f"invalid map key type {go_type(key)}")
    return m.get(key, "")


def get(obj: Any, key: Any) -> Any:
    """Builtin ``get(x, k)``: like ``x[k]`` but nil instead of errors."""
    try:
        return fetch(obj, key)
    except ExprRuntimeError:
        return None


def slice_(x: Any, lo: Any, hi: Any) -> Any:
    """``x[lo:hi]`` with clamping; strings are sliced by UTF-8 bytes."""
    if isinstance(x, str):
        if x.isascii():
            seq: Any = x
        else:
            seq = x.encode("utf-8", "surrogatepass")
    elif isinstance(x, list | tuple):
        seq = x
    else:
        raise ExprRuntimeError(f"cannot slice {go_type(x)}")
    n = len(seq)
    a = 0 if lo is None else _int_bound(lo)
    b = n if hi is None else _int_bound(hi)
    if a < 0:
        a = max(a + n, 0)
    if b < 0:
        b = max(b + n, 0)
    b = min(b, n)
    a = min(a, b)
    out = seq[a:b]
    return out.decode("utf-8", "replace") if isinstance(out, bytes) else out


def _int_bound(v: object) -> int:
    if type(v) is bool or not _is_num(v):
        raise ExprRuntimeError(f"invalid slice index type {go_type(v)}")
    return int(v)  # type: ignore[call-overload]


def length(x: Any) -> int:
    """Builtin ``len``: list/map length, string length in code points."""
    if isinstance(x, str | list | tuple | dict):
        return len(x)
    raise ExprRuntimeError(f"invalid argument for len (type {go_type(x)})")


def call_method(obj: Any, name: str, args: tuple[Any, ...]) -> Any:
    """``obj.name(args)`` on a dynamic value: only model EXPR_METHODS and the time tables."""
    if obj is None:
        raise ExprRuntimeError(f"cannot call method {name} on <nil>")
    table = methods_for(obj)
    if table is not None:
        entry = table.get(name)
        if entry is None:
            raise ExprRuntimeError(f"type {go_type(obj)} has no method {name}")
        fn, _kind, arity = entry
        if len(args) != arity:
            raise ExprRuntimeError(f"{name}: expected {arity} arguments, got {len(args)}")
        return fn(obj, *args)
    pyname = model_methods(type(obj)).get(name)
    if pyname is None:
        raise ExprRuntimeError(f"type {go_type(obj)} has no method {name}")
    return getattr(obj, pyname)(*args)


# --- predicate builtins ----------------------------------------------------------------

Pred = Callable[[Any, int], Any]


def _collection(x: Any, name: str, budget: Budget) -> list[Any] | tuple[Any, ...]:
    if isinstance(x, list | tuple):
        budget.spend(len(x))
        return x
    if isinstance(x, dict):
        budget.spend(len(x))
        return list(x.values())
    raise ExprRuntimeError(f"{name}: cannot iterate over {go_type(x)}")


def all_items(items: list[Any] | tuple[Any, ...], fn: Pred) -> bool:
    return all(truth(fn(e, i)) for i, e in enumerate(items))


def any_items(items: list[Any] | tuple[Any, ...], fn: Pred) -> bool:
    return any(truth(fn(e, i)) for i, e in enumerate(items))


def none_items(items: list[Any] | tuple[Any, ...], fn: Pred) -> bool:
    return not any(truth(fn(e, i)) for i, e in enumerate(items))


def p_all(coll: Any, fn: Pred, budget: Budget) -> bool:
    return all_items(_collection(coll, "all", budget), fn)


def p_any(coll: Any, fn: Pred, budget: Budget) -> bool:
    return any_items(_collection(coll, "any", budget), fn)


def p_none(coll: Any, fn: Pred, budget: Budget) -> bool:
    return none_items(_collection(coll, "none", budget), fn)


def p_one(coll: Any, fn: Pred, budget: Budget) -> bool:
    found = 0
    for i, e in enumerate(_collection(coll, "one", budget)):
        if truth(fn(e, i)):
            found += 1
            if found > 1:
                return False
    return found == 1


def p_filter(coll: Any, fn: Pred, budget: Budget) -> list[Any]:
    return [e for i, e in enumerate(_collection(coll, "filter", budget)) if truth(fn(e, i))]


def p_map(coll: Any, fn: Pred, budget: Budget) -> list[Any]:
    return [fn(e, i) for i, e in enumerate(_collection(coll, "map", budget))]


def p_count(coll: Any, fn: Pred | None, budget: Budget) -> int:
    items = _collection(coll, "count", budget)
    if fn is None:
        return sum(1 for e in items if truth(e))
    return sum(1 for i, e in enumerate(items) if truth(fn(e, i)))


def p_sum(coll: Any, fn: Pred | None, budget: Budget) -> Any:
    items = _collection(coll, "sum", budget)
    total: Any = 0
    for i, e in enumerate(items):
        v = e if fn is None else fn(e, i)
        if not _is_num(v):
            raise ExprRuntimeError(f"sum: invalid element type {go_type(v)}")
        total += v
    return total


def p_find(coll: Any, fn: Pred, budget: Budget) -> Any:
    for i, e in enumerate(_collection(coll, "find", budget)):
        if truth(fn(e, i)):
            return e
    return None


def p_find_index(coll: Any, fn: Pred, budget: Budget) -> int:
    for i, e in enumerate(_collection(coll, "findIndex", budget)):
        if truth(fn(e, i)):
            return i
    return -1


def p_find_last(coll: Any, fn: Pred, budget: Budget) -> Any:
    items = _collection(coll, "findLast", budget)
    for i in range(len(items) - 1, -1, -1):
        if truth(fn(items[i], i)):
            return items[i]
    return None


def p_find_last_index(coll: Any, fn: Pred, budget: Budget) -> int:
    items = _collection(coll, "findLastIndex", budget)
    for i in range(len(items) - 1, -1, -1):
        if truth(fn(items[i], i)):
            return i
    return -1


def p_group_by(coll: Any, fn: Pred, budget: Budget) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for i, e in enumerate(_collection(coll, "groupBy", budget)):
        key = fn(e, i)
        try:
            groups.setdefault(key, []).append(e)
        except TypeError:
            raise ExprRuntimeError(f"groupBy: invalid key type {go_type(key)}") from None
    return groups


def p_sort_by(coll: Any, fn: Pred, budget: Budget, order: Any = "asc") -> list[Any]:
    if order not in ("asc", "desc"):
        raise ExprRuntimeError(f"sortBy: unknown order {order!r}")
    items = _collection(coll, "sortBy", budget)
    keyed = [(fn(e, i), e) for i, e in enumerate(items)]
    for k, _ in keyed:
        _ordered(k, keyed[0][0], "<")
    keyed.sort(key=lambda kv: kv[0], reverse=order == "desc")
    return [e for _, e in keyed]


_NO_INIT = object()


def p_reduce(coll: Any, fn: Callable[[Any, Any, int], Any], budget: Budget, init: Any = _NO_INIT) -> Any:
    items = _collection(coll, "reduce", budget)
    start = 0
    acc = init
    if acc is _NO_INIT:
        if not items:
            raise ExprRuntimeError("reduce of empty array with no initial value")
        acc, start = items[0], 1
    for i in range(start, len(items)):
        acc = fn(acc, items[i], i)
    return acc


RUNTIME: dict[str, Any] = {
    "_Budget": Budget,
    "_truth": truth,
    "_not": not_,
    "_eq": eq,
    "_ne": ne,
    "_lt": lt,
    "_le": le,
    "_gt": gt,
    "_ge": ge,
    "_cat": cat,
    "_add": add,
    "_sub": sub,
    "_mul": mul,
    "_div": div,
    "_mod": mod,
    "_pow": pow_,
    "_neg": neg,
    "_pos": pos,
    "_range": range_,
    "_contains": contains,
    "_startswith": starts_with,
    "_endswith": ends_with,
    "_match_re": match_re,
    "_matches": matches,
    "_in": in_,
    "_fetch": fetch,
    "_fetch2": fetch2,
    "_sget": sget,
    "_get": get,
    "_slice": slice_,
    "_len": length,
    "_callm": call_method,
    "_p_all": p_all,
    "_p_any": p_any,
    "_p_none": p_none,
    "_p_one": p_one,
    "_p_filter": p_filter,
    "_p_map": p_map,
    "_p_count": p_count,
    "_p_sum": p_sum,
    "_p_find": p_find,
    "_p_findIndex": p_find_index,
    "_p_findLast": p_find_last,
    "_p_findLastIndex": p_find_last_index,
    "_p_groupBy": p_group_by,
    "_p_sortBy": p_sort_by,
    "_p_reduce": p_reduce,
}
"""Names the generated code may use (plus its own constants); the module has no builtins."""
