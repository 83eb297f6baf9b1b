"""Expression → Python code generation (EXPR.md; sandbox rules in the module docstring of runtime.py).

The syntax tree is translated once into the source of one Python function, compiled with
``compile()`` and executed in a namespace without builtins that only holds the runtime
operations (:data:`runtime.RUNTIME`) and this expression's constants. Nothing of the
expression's text reaches the generated code except as ``repr()`` literals or as attribute
names that were validated against the model's ``EXPR_FIELDS``/``EXPR_METHODS`` tables;
identifiers are renamed (``v0``, ``l3``, ``p4``…).

Static kinds (``str``, ``int``, ``float``, ``bool``, ``nil``, ``list``, ``map``,
``strmap``, ``anymap``, ``time``, ``duration``, ``weekday``, ``month``, a model class
name, or ``any``) drive compile-time checks and fast paths: e.g. ``evt.Meta.x == 'a'``
becomes ``v0.Meta.get('x', '') == 'a'``.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crowdwatch.event import MODEL_CLASSES
from crowdwatch.expr.regexes import compile_re2

from . import ast, fastpaths, gotime, registry
from .errors import ExprCompileError
from .parser import OPTIONAL_PREDICATE, PREDICATE_BUILTINS
from .runtime import RUNTIME

NUMBERS = frozenset({"int", "float", "duration", "weekday", "month"})
PLAIN_NUMBERS = frozenset({"int", "float"})
SCALAR_KINDS = frozenset({"str", "int", "float", "bool", "time", "duration", "weekday", "month"})
VARIABLE_KINDS = frozenset({"any", "str", "int", "float", "bool", "list", "map", "strmap", "anymap", "time"})
_SAFE_ATTR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_INT64_MAX = 2**63 - 1

_PREDICATE_KINDS = {
    "all": "bool",
    "any": "bool",
    "none": "bool",
    "one": "bool",
    "filter": "list",
    "map": "list",
    "count": "int",
    "findIndex": "int",
    "findLastIndex": "int",
    "sortBy": "list",
}
_HELPER_KINDS = {"str", "int", "float", "bool", "list", "duration", "time"}
_COMPARE_FN = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
_KIND_NAMES = {"str": "string", "float": "float64", "anymap": "map", "strmap": "map", "nil": "nil"}


def family(kind: str) -> str | None:
    """Type family for static compatibility checks; None when anything may be compatible."""
    if kind in ("any", "nil"):
        return None
    if kind in NUMBERS:
        return "number"
    if kind in ("strmap", "anymap", "map"):
        return "map"
    return kind


def kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind)


@dataclass(slots=True)
class Code:
    """Generated Python expression text and its static kind."""

    text: str
    kind: str
    fetch: tuple[str, str] | None = None  # (object code, key code) when text is `_fetch(obj, key)`


def _annotation_kind(annotation: object) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if text in ("str", "int", "float", "bool"):
        return text
    if text.startswith(("list", "List")):
        return "list"
    return "any"


def method_signature(cls: type, pyname: str) -> tuple[int, int | None, str]:
    """(min args, max args or None, result kind) of a model method."""
    sig = inspect.signature(getattr(cls, pyname))
    params = list(sig.parameters.values())[1:]
    lo = sum(1 for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD)
    hi: int | None = len(params)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        hi = None
    return lo, hi, _annotation_kind(sig.return_annotation)


class Compiler:
    """Compiles one syntax tree; see :func:`compile_tree`."""

    def __init__(self, source: str, variables: dict[str, str], fast_paths: bool = True) -> None:
        self.source = source
        self.fast_paths = fast_paths
        self.ns: dict[str, Any] = dict(RUNTIME)
        self.ns["__builtins__"] = {}
        self.counter = 0
        self.scopes: list[dict[str, tuple[str, str]]] = [
            {name: (f"v{i}", kind) for i, (name, kind) in enumerate(variables.items())}
        ]
        self.params = [f"v{i}" for i in range(len(variables))]
        self.preds: list[tuple[str, str, str | None]] = []
        self.guards: list[list[str]] = []
        self.uses_budget = False
        self.result_kind = "any"

    # --- utilities ---------------------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: object) -> str:
        name = self.fresh("k")
        self.ns[name] = value
        return name

    def error(self, node: ast.Node, message: str) -> ExprCompileError:
        return ExprCompileError(message, self.source, node.line, node.col)

    def compile(self, node: ast.Node) -> Code:
        method: Callable[[Any], Code] = getattr(self, "c_" + type(node).__name__)
        return method(node)

    def function_source(self, tree: ast.Node) -> str:
        body = self.compile(tree)
        lines = [f"def _expr({', '.join(self.params)}):"]
        if self.uses_budget:
            lines.append("    _b = _Budget()")
        lines.append(f"    return {body.text}")
        self.result_kind = body.kind
        return "\n".join(lines) + "\n"

    # --- literals ----------------------------------------------------------------------
    def c_Nil(self, node: ast.Nil) -> Code:
        return Code("None", "nil")

    def c_Bool(self, node: ast.Bool) -> Code:
        return Code("True" if node.value else "False", "bool")

    def c_Int(self, node: ast.Int) -> Code:
        if node.value > _INT64_MAX:
            return self.float_code(float(node.value))
        return Code(repr(node.value), "int")

    def c_Float(self, node: ast.Float) -> Code:
        return self.float_code(node.value)

    def float_code(self, value: float) -> Code:
        if math.isfinite(value):
            return Code(repr(value), "float")
        return Code(self.const(value), "float")

    def c_Str(self, node: ast.Str) -> Code:
        return Code(repr(node.value), "str")

    def c_Array(self, node: ast.Array) -> Code:
        items = [self.compile(x).text for x in node.items]
        return Code("[" + ", ".join(items) + "]", "list")

    def c_MapLit(self, node: ast.MapLit) -> Code:
        parts = []
        for k, v in node.pairs:
            kc = self.compile(k)
            if kc.kind not in ("str", "int", "any"):
                raise self.error(k, f"invalid map key type {kind_name(kc.kind)}")
            parts.append(f"{kc.text}: {self.compile(v).text}")
        return Code("{" + ", ".join(parts) + "}", "map")

    # --- names ---------------------------------------------------------------------------
    def c_Ident(self, node: ast.Ident) -> Code:
        for scope in reversed(self.scopes):
            if node.name in scope:
                pyname, kind = scope[node.name]
                return Code(pyname, kind)
        if node.name in registry.HELPERS or node.name in registry.BUILTINS or node.name in PREDICATE_BUILTINS:
            raise self.error(node, f"function {node.name} must be called")
        raise self.error(node, f"unknown name {node.name}")

    def c_Pointer(self, node: ast.Pointer) -> Code:
        if not self.preds:
            raise self.error(node, "'#' can only be used inside a predicate")
        elem, index, acc = self.preds[-1]
        if node.name == "":
            return Code(elem, "any")
        if node.name == "index":
            return Code(index, "int")
        if acc is None:
            raise self.error(node, "#acc can only be used inside reduce")
        return Code(acc, "any")

    def c_Let(self, node: ast.Let) -> Code:
        value = self.compile(node.value)
        pyname = self.fresh("l")
        self.scopes.append({node.name: (pyname, value.kind)})
        try:
            body = self.compile(node.body)
        finally:
            self.scopes.pop()
        return Code(f"(lambda {pyname}: {body.text})({value.text})", body.kind)

    def c_Sequence(self, node: ast.Sequence) -> Code:
        codes = [self.compile(x) for x in node.items]
        return Code("(" + ", ".join(c.text for c in codes) + ")[-1]", codes[-1].kind)

    # --- member access -------------------------------------------------------------------
    def guard(self, node: ast.Node, obj: Code) -> str:
        """For `?.`: evaluate obj once into a temporary, make the enclosing chain nil if it is nil."""
        if not self.guards:
            raise self.error(node, "'?.' outside of a member chain")
        tmp = self.fresh("t")
        self.guards[-1].append(f"({tmp} := {obj.text}) is None")
        return tmp

    def c_Chain(self, node: ast.Chain) -> Code:
        self.guards.append([])
        try:
            inner = self.compile(node.node)
        finally:
            guards = self.guards.pop()
        if not guards:
            return inner
        kind = inner.kind if inner.kind in MODEL_CLASSES else "any"
        return Code(f"(None if ({' or '.join(guards)}) else {inner.text})", kind)

    def c_Member(self, node: ast.Member) -> Code:
        obj = self.compile(node.obj)
        ocode = self.guard(node, obj) if node.optional else obj.text
        key = node.key
        const: str | int | None = None
        if isinstance(key, ast.Str | ast.Int):
            const = key.value
        kind = obj.kind
        if kind in MODEL_CLASSES:
            cls = MODEL_CLASSES[kind]
            if isinstance(const, str):
                fields: dict[str, str] = cls.EXPR_FIELDS  # type: ignore[attr-defined]
                if const not in fields or not _SAFE_ATTR.match(const):
                    if const in cls.EXPR_METHODS:  # type: ignore[attr-defined]
                        raise self.error(node, f"method {const} of {kind} must be called")
                    raise self.error(node, f"type {kind} has no field {const}")
                return Code(f"{ocode}.{const}", fields[const])
            if const is not None:
                raise self.error(node, f"cannot index {kind} with {const!r}")
            return Code(f"_fetch({ocode}, {self.compile(key).text})", "any")
        if kind == "strmap":
            if isinstance(const, str):
                return Code(f"{ocode}.get({const!r}, '')", "str")
            kc = self.compile(key)
            if kc.kind not in ("str", "any"):
                raise self.error(key, f"cannot use {kind_name(kc.kind)} as map key")
            return Code(f"_sget({ocode}, {kc.text})", "str")
        if kind == "anymap" and isinstance(const, str):
            return Code(f"{ocode}.get({const!r})", "any")
        if kind == "list":
            if isinstance(const, str):
                raise self.error(node, f"cannot fetch {const} from list")
            kc = self.compile(key)
            if kc.kind not in ("int", "any"):
                raise self.error(key, f"invalid index type {kind_name(kc.kind)}")
            return Code(f"_fetch({ocode}, {kc.text})", "any")
        if kind == "str" and not node.dotted:
            raise self.error(node, "strings cannot be indexed (use a slice or a helper)")
        if kind in SCALAR_KINDS or kind == "nil":
            what = const if const is not None else "[...]"
            raise self.error(node, f"type {kind_name(kind)} has no field {what}")
        # dynamic value (any, map literal, anymap with computed key)
        kcode = repr(const) if const is not None else self.compile(key).text
        if obj.fetch is not None and not node.optional and isinstance(const, str):
            base, k1 = obj.fetch
            return Code(f"_fetch2({base}, {k1}, {kcode})", "any")
        fetch = (ocode, kcode) if isinstance(const, str) else None
        return Code(f"_fetch({ocode}, {kcode})", "any", fetch)

    def c_Slice(self, node: ast.Slice) -> Code:
        obj = self.compile(node.obj)
        if obj.kind not in ("str", "list", "any"):
            raise self.error(node, f"cannot slice {kind_name(obj.kind)}")
        bounds = []
        for b in (node.lo, node.hi):
            if b is None:
                bounds.append("None")
                continue
            bc = self.compile(b)
            if bc.kind not in ("int", "float", "any"):
                raise self.error(b, f"invalid slice index type {kind_name(bc.kind)}")
            bounds.append(bc.text)
        kind = obj.kind if obj.kind != "any" else "any"
        return Code(f"_slice({obj.text}, {bounds[0]}, {bounds[1]})", kind)

    def c_MethodCall(self, node: ast.MethodCall) -> Code:
        obj = self.compile(node.obj)
        ocode = self.guard(node, obj) if node.optional else obj.text
        args = [self.compile(a) for a in node.args]
        argtext = ", ".join(a.text for a in args)
        kind = obj.kind
        name = node.name
        if kind in MODEL_CLASSES:
            cls = MODEL_CLASSES[kind]
            pyname = cls.EXPR_METHODS.get(name)  # type: ignore[attr-defined]
            if pyname is None or not _SAFE_ATTR.match(pyname) or not hasattr(cls, pyname):
                raise self.error(node, f"type {kind} has no method {name}")
            lo, hi, result = method_signature(cls, pyname)
            self.check_arity(node, name, len(args), lo, hi)
            return Code(f"{ocode}.{pyname}({argtext})", result)
        table = gotime.METHODS_BY_KIND.get(kind)
        if table is not None:
            entry = table.get(name)
            if entry is None:
                raise self.error(node, f"type {kind_name(kind)} has no method {name}")
            fn, result, arity = entry
            self.check_arity(node, name, len(args), arity, arity)
            return Code(f"{self.const(fn)}({', '.join([ocode, *(a.text for a in args)])})", result)
        if kind == "any":
            tup = f"({argtext},)" if args else "()"
            return Code(f"_callm({ocode}, {name!r}, {tup})", "any")
        raise self.error(node, f"type {kind_name(kind)} has no method {name}")

    def check_arity(self, node: ast.Node, name: str, n: int, lo: int, hi: int | None) -> None:
        if n < lo or (hi is not None and n > hi):
            if hi == lo:
                want = f"{lo}"
            elif hi is None:
                want = f"at least {lo}"
            else:
                want = f"{lo} to {hi}"
            raise self.error(node, f"{name}: expected {want} arguments, got {n}")

    # --- calls ---------------------------------------------------------------------------
    def c_Call(self, node: ast.Call) -> Code:
        name = node.name
        if name in PREDICATE_BUILTINS:
            return self.predicate_call(node)
        if name == "len":
            self.check_arity(node, name, len(node.args), 1, 1)
            arg = self.compile(node.args[0])
            if arg.kind not in ("str", "list", "map", "strmap", "anymap", "any"):
                raise self.error(node, f"invalid argument for len (type {kind_name(arg.kind)})")
            return Code(f"_len({arg.text})", "int")
        if name == "get":
            self.check_arity(node, name, len(node.args), 2, 2)
            a, k = (self.compile(x) for x in node.args)
            return Code(f"_get({a.text}, {k.text})", "any")
        helper = registry.BUILTINS.get(name) or registry.HELPERS.get(name)
        if helper is None:
            raise self.error(node, f"unknown function {name}")
        self.check_arity(node, name, len(node.args), helper.min_args, helper.max_args)
        args = [self.compile(a).text for a in node.args]
        kind = helper.returns if helper.returns in _HELPER_KINDS else "any"
        if self.fast_paths and name in fastpaths.PURE_STR_FUNCTIONS:
            folded = self.fold(node, helper.func)
            if folded is not None:
                return folded
            pos = fastpaths.memo_position(node) if self.preds else None
            if pos is not None:
                consts = tuple(a.value if isinstance(a, ast.Str) else None for a in node.args)
                memo = self.const(fastpaths.ElementMemo(helper.func, pos, consts))
                return Code(f"{memo}({args[pos]})", kind)
        return Code(f"{self.const(helper.func)}({', '.join(args)})", kind)

    def fold(self, node: ast.Call, func: Callable[..., Any]) -> Code | None:
        """A pure string helper called with literals, evaluated now (runtime errors stay runtime)."""
        if not all(isinstance(a, ast.Str) for a in node.args):
            return None
        try:
            value = func(*(a.value for a in node.args))  # type: ignore[attr-defined]
        except Exception:
            return None
        return Code(repr(value), "str") if type(value) is str else None

    def predicate_call(self, node: ast.Call) -> Code:
        name = node.name
        args = node.args
        _lo, extra_max = PREDICATE_BUILTINS[name]
        has_pred = len(args) >= 2 and isinstance(args[1], ast.Predicate)
        if not has_pred and not (name in OPTIONAL_PREDICATE and len(args) == 1):
            raise self.error(node, f"{name}: expected a collection and a predicate")
        if len(args) > 2 + extra_max:
            raise self.error(node, f"{name}: too many arguments")
        coll = self.compile(args[0])
        if coll.kind not in ("list", "map", "strmap", "anymap", "any", "nil"):
            raise self.error(args[0], f"{name}: cannot iterate over {kind_name(coll.kind)}")
        self.uses_budget = True
        fn = self.closure(args[1], accumulator=name == "reduce") if has_pred else "None"
        if has_pred and len(args) == 2:
            fast = self.fast_predicate(name, args[0], coll, args[1], fn)
            if fast is not None:
                return fast
        extras = [self.compile(a).text for a in args[2:]]
        call_args = ", ".join([coll.text, fn, "_b", *extras])
        return Code(f"_p_{name}({call_args})", _PREDICATE_KINDS.get(name, "any"))

    def fast_predicate(
        self, name: str, coll_node: ast.Node, coll: Code, pred: ast.Node, fn: str
    ) -> Code | None:
        """A :class:`fastpaths.StringSetSite` call for a recognised shape (the body ``fn``
        stays the fallback, so it was compiled, with its static checks, first)."""
        assert isinstance(pred, ast.Predicate)
        shape = fastpaths.match_shape(name, pred.body) if self.fast_paths else None
        if shape is None:
            return None
        x = self.compile(shape.x)
        if x.kind not in ("str", "any", "nil"):
            return None
        site = self.const(fastpaths.StringSetSite(name, shape.op, shape.mapper))
        ctext = coll.text
        if isinstance(coll_node, ast.Array) and all(isinstance(i, ast.Str) for i in coll_node.items):
            ctext = self.const(tuple(i.value for i in coll_node.items))  # type: ignore[attr-defined]
        return Code(f"{site}({ctext}, (lambda: {x.text}), {fn}, _b)", "bool")

    def closure(self, pred: ast.Node, accumulator: bool) -> str:
        assert isinstance(pred, ast.Predicate)
        elem, index = self.fresh("p"), self.fresh("i")
        acc = self.fresh("a") if accumulator else None
        self.preds.append((elem, index, acc))
        try:
            body = self.compile(pred.body)
        finally:
            self.preds.pop()
        params = f"{acc}, {elem}, {index}" if acc else f"{elem}, {index}"
        return f"(lambda {params}: {body.text})"

    def c_Predicate(self, node: ast.Predicate) -> Code:
        raise self.error(node, "a predicate is only allowed as a builtin argument")

    # --- operators -----------------------------------------------------------------------
    def c_Unary(self, node: ast.Unary) -> Code:
        x = self.compile(node.operand)
        if node.op == "not":
            if x.kind == "bool":
                return Code(f"(not {x.text})", "bool")
            if x.kind == "any":
                return Code(f"_not({x.text})", "bool")
            raise self.error(node, f"invalid operation: not {kind_name(x.kind)}")
        if x.kind not in NUMBERS and x.kind != "any":
            raise self.error(node, f"invalid operation: {node.op}{kind_name(x.kind)}")
        if node.op == "-":
            if x.kind in PLAIN_NUMBERS:
                return Code(f"(-{x.text})", x.kind)
            return Code(f"_neg({x.text})", x.kind)
        return Code(f"_pos({x.text})", x.kind)

    def c_Conditional(self, node: ast.Conditional) -> Code:
        cond = self.compile(node.cond)
        then = self.compile(node.then)
        other = self.compile(node.other)
        if cond.kind == "bool":
            ctext = cond.text
        elif cond.kind == "any":
            ctext = f"_truth({cond.text})"
        else:
            raise self.error(
                node.cond, f"non-bool expression (type {kind_name(cond.kind)}) used as condition"
            )
        kind = then.kind if then.kind == other.kind else "any"
        return Code(f"({then.text} if {ctext} else {other.text})", kind)

    def c_Binary(self, node: ast.Binary) -> Code:
        op = node.op
        if op in ("and", "or"):
            return self.logic(node)
        if op == "??":
            left = self.compile(node.left)
            right = self.compile(node.right)
            tmp = self.fresh("t")
            kind = left.kind if left.kind == right.kind or right.kind == "nil" else "any"
            return Code(f"({right.text} if ({tmp} := {left.text}) is None else {tmp})", kind)
        if op == "in":
            return self.membership(node)
        if op == "matches":
            return self.matches(node)
        left = self.compile(node.left)
        right = self.compile(node.right)
        if op in ("==", "!="):
            return self.equality(node, left, right)
        if op in _COMPARE_FN:
            return self.ordering(node, left, right)
        if op in ("contains", "startsWith", "endsWith"):
            return self.string_op(node, left, right)
        return self.arithmetic(node, left, right)

    def logic(self, node: ast.Binary) -> Code:
        op = node.op
        operands: list[ast.Node] = []
        cur: ast.Node = node
        while isinstance(cur, ast.Binary) and cur.op == op:
            operands.append(cur.right)
            cur = cur.left
        operands.append(cur)
        operands.reverse()
        parts: list[str] = []
        last = Code("", "bool")
        for i, operand in enumerate(operands):
            c = self.compile(operand)
            if c.kind not in ("bool", "any"):
                raise self.error(
                    node, f"invalid operation: {op} (mismatched types {kind_name(c.kind)} and bool)"
                )
            is_last = i == len(operands) - 1
            parts.append(c.text if c.kind == "bool" or is_last else f"_truth({c.text})")
            last = c
        return Code("(" + f" {op} ".join(parts) + ")", last.kind)

    def mismatch(self, node: ast.Binary, left: Code, right: Code) -> ExprCompileError:
        return self.error(
            node,
            f"invalid operation: {node.op} (mismatched types {kind_name(left.kind)} and {kind_name(right.kind)})",
        )

    def equality(self, node: ast.Binary, left: Code, right: Code) -> Code:
        fl, fr = family(left.kind), family(right.kind)
        if fl is not None and fr is not None and fl != fr:
            raise self.mismatch(node, left, right)
        neg = node.op == "!="
        if left.kind == "nil" or right.kind == "nil":
            other = right if left.kind == "nil" else left
            return Code(f"({other.text} is {'not ' if neg else ''}None)", "bool")
        direct = (
            "str" in (left.kind, right.kind)
            or (left.kind in PLAIN_NUMBERS and right.kind in PLAIN_NUMBERS)
            or (left.kind == right.kind and left.kind in ("bool", "time"))
        )
        if direct:
            return Code(f"({left.text} {node.op} {right.text})", "bool")
        return Code(f"{'_ne' if neg else '_eq'}({left.text}, {right.text})", "bool")

    def ordering(self, node: ast.Binary, left: Code, right: Code) -> Code:
        fl, fr = family(left.kind), family(right.kind)
        for f in (fl, fr):
            if f is not None and f not in ("number", "str", "time"):
                raise self.mismatch(node, left, right)
        if fl is not None and fr is not None and fl != fr:
            raise self.mismatch(node, left, right)
        if fl is not None and fl == fr and "nil" not in (left.kind, right.kind):
            return Code(f"({left.text} {node.op} {right.text})", "bool")
        return Code(f"{_COMPARE_FN[node.op]}({left.text}, {right.text})", "bool")

    def string_op(self, node: ast.Binary, left: Code, right: Code) -> Code:
        for c in (left, right):
            if c.kind not in ("str", "any", "nil"):
                raise self.mismatch(node, left, right)
        if left.kind == "str" and right.kind == "str":
            if node.op == "contains":
                return Code(f"({right.text} in {left.text})", "bool")
            method = "startswith" if node.op == "startsWith" else "endswith"
            return Code(f"{left.text}.{method}({right.text})", "bool")
        fn = {"contains": "_contains", "startsWith": "_startswith", "endsWith": "_endswith"}[node.op]
        return Code(f"{fn}({left.text}, {right.text})", "bool")

    def matches(self, node: ast.Binary) -> Code:
        left = self.compile(node.left)
        if left.kind not in ("str", "any", "nil"):
            raise self.error(node, f"invalid operation: {kind_name(left.kind)} matches string")
        if isinstance(node.right, ast.Str):
            try:
                regex = compile_re2(node.right.value)
            except Exception as exc:
                raise self.error(node.right, f"invalid regular expression: {exc}") from None
            k = self.const(regex)
            if left.kind == "str":
                return Code(f"({k}.search({left.text}) is not None)", "bool")
            return Code(f"_match_re({left.text}, {k})", "bool")
        right = self.compile(node.right)
        if right.kind not in ("str", "any", "nil"):
            raise self.error(node, f"invalid operation: matches on {kind_name(right.kind)}")
        return Code(f"_matches({left.text}, {right.text})", "bool")

    def membership(self, node: ast.Binary) -> Code:
        left = self.compile(node.left)
        rnode = node.right
        if isinstance(rnode, ast.Array) and left.kind == "str":
            if all(isinstance(x, ast.Str) for x in rnode.items):
                k = self.const(frozenset(x.value for x in rnode.items))  # type: ignore[attr-defined]
                return Code(f"({left.text} in {k})", "bool")
            items = [self.compile(x).text for x in rnode.items]
            return Code(f"({left.text} in ({''.join(i + ', ' for i in items)}))", "bool")
        right = self.compile(rnode)
        if right.kind in MODEL_CLASSES and isinstance(node.left, ast.Str):
            fields = MODEL_CLASSES[right.kind].EXPR_FIELDS  # type: ignore[attr-defined]
            return Code(repr(node.left.value in fields), "bool")
        if right.kind in ("strmap", "anymap") and left.kind == "str":
            return Code(f"({left.text} in {right.text})", "bool")
        if right.kind in SCALAR_KINDS:
            raise self.error(
                node,
                f"invalid operation: in (mismatched types {kind_name(left.kind)} and {kind_name(right.kind)})",
            )
        return Code(f"_in({left.text}, {right.text})", "bool")

    def arithmetic(self, node: ast.Binary, left: Code, right: Code) -> Code:
        op = node.op
        lk, rk = left.kind, right.kind
        known = lk != "any" and rk != "any"
        if op == "+":
            if lk in PLAIN_NUMBERS and rk in PLAIN_NUMBERS:
                return Code(f"({left.text} + {right.text})", "int" if lk == rk == "int" else "float")
            if lk == "str" and rk == "str":
                return Code(f"_cat({left.text}, {right.text})", "str")
            ok = {
                ("duration", "duration"): "duration",
                ("time", "duration"): "time",
                ("duration", "time"): "time",
            }
            if known and (lk, rk) not in ok and not (lk in NUMBERS and rk in NUMBERS):
                raise self.mismatch(node, left, right)
            return Code(f"_add({left.text}, {right.text})", ok.get((lk, rk), "any"))
        if op == "-":
            if lk in PLAIN_NUMBERS and rk in PLAIN_NUMBERS:
                return Code(f"({left.text} - {right.text})", "int" if lk == rk == "int" else "float")
            ok = {
                ("time", "time"): "duration",
                ("time", "duration"): "time",
                ("duration", "duration"): "duration",
            }
            if known and (lk, rk) not in ok and not (lk in NUMBERS and rk in NUMBERS):
                raise self.mismatch(node, left, right)
            return Code(f"_sub({left.text}, {right.text})", ok.get((lk, rk), "any"))
        for c in (left, right):
            if c.kind not in NUMBERS and c.kind != "any":
                raise self.mismatch(node, left, right)
        if op == "*":
            if lk in PLAIN_NUMBERS and rk in PLAIN_NUMBERS:
                return Code(f"({left.text} * {right.text})", "int" if lk == rk == "int" else "float")
            return Code(f"_mul({left.text}, {right.text})", "any")
        if op == "/":
            return Code(f"_div({left.text}, {right.text})", "float")
        if op == "%":
            if "float" in (lk, rk):
                raise self.mismatch(node, left, right)
            if isinstance(node.right, ast.Int) and node.right.value == 0:
                raise self.error(node, "integer divide by zero")
            return Code(f"_mod({left.text}, {right.text})", "int")
        if op == "**":
            return Code(f"_pow({left.text}, {right.text})", "float")
        if op == "..":
            if "float" in (lk, rk):
                raise self.mismatch(node, left, right)
            self.uses_budget = True
            return Code(f"_range({left.text}, {right.text}, _b)", "list")
        raise self.error(node, f"unknown operator {op}")  # pragma: no cover - parser guarantees


def generate(
    source: str, tree: ast.Node, variables: dict[str, str], *, fast_paths: bool = True
) -> tuple[str, dict[str, Any], str]:
    """Python source of the function, its namespace and the static result kind.

    ``fast_paths=False`` compiles every predicate as the generic loop (reference for tests).
    """
    comp = Compiler(source, variables, fast_paths)
    text = comp.function_source(tree)
    return text, comp.ns, comp.result_kind
