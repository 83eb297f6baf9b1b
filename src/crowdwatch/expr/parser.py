"""Precedence-climbing parser for the expression language (EXPR.md §2–§3)."""

from __future__ import annotations

from . import ast
from .errors import ExprSyntaxError
from .lexer import Kind, Token, tokenize

# Binary operators: precedence, right-associative?
BINARY: dict[str, tuple[int, bool]] = {
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    "<=": (20, False),
    ">=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
UNARY: dict[str, int] = {"not": 50, "!": 50, "-": 90, "+": 90}
NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
CHAINED_COMPARISONS = frozenset({"<", ">", "<=", ">="})
CANONICAL = {"||": "or", "&&": "and", "^": "**", "!": "not"}

# builtin name -> (number of plain arguments after the predicate allowed: min, max)
PREDICATE_BUILTINS: dict[str, tuple[int, int]] = {
    "all": (0, 0),
    "any": (0, 0),
    "none": (0, 0),
    "one": (0, 0),
    "filter": (0, 0),
    "map": (0, 0),
    "find": (0, 0),
    "findIndex": (0, 0),
    "findLast": (0, 0),
    "findLastIndex": (0, 0),
    "groupBy": (0, 0),
    "count": (0, 0),
    "sum": (0, 0),
    "sortBy": (0, 1),
    "reduce": (0, 1),
}
OPTIONAL_PREDICATE = frozenset({"count", "sum"})

MAX_DEPTH = 120


class Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.closure_depth = 0
        self.depth = 0

    # --- token helpers ---------------------------------------------------------------
    @property
    def cur(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ExprSyntaxError:
        t = tok or self.cur
        return ExprSyntaxError(message, self.source, t.line, t.col)

    def unexpected(self, expected: str) -> ExprSyntaxError:
        return self.error(f"unexpected {self.cur.describe()}, expected {expected}")

    def expect_op(self, value: str) -> Token:
        if not self.cur.is_op(value):
            raise self.unexpected(repr(value))
        return self.advance()

    def expect_ident(self) -> Token:
        if self.cur.kind is not Kind.IDENT:
            raise self.unexpected("an identifier")
        return self.advance()

    # --- grammar ---------------------------------------------------------------------
    def parse(self) -> ast.Node:
        node = self.sequence()
        if self.cur.kind is not Kind.EOF:
            raise self.unexpected("an operator or end of expression")
        return node

    def sequence(self) -> ast.Node:
        first = self.cur
        items = [self.expression(0)]
        while self.cur.is_op(";"):
            self.advance()
            if self.cur.kind is Kind.EOF or self.cur.is_op(")", "}"):
                break
            items.append(self.expression(0))
        if len(items) == 1:
            return items[0]
        return ast.Sequence(first.line, first.col, items)

    def expression(self, min_prec: int) -> ast.Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("expression nested too deeply")
        try:
            return self._expression(min_prec)
        finally:
            self.depth -= 1

    def _expression(self, min_prec: int) -> ast.Node:
        if min_prec == 0 and self.cur.is_op("let"):
            return self.let()
        if min_prec == 0 and self.cur.is_op("if"):
            return self.if_else()
        left = self.primary()
        prev_op = ""
        while self.cur.kind is Kind.OP:
            tok = self.cur
            negate = False
            op = tok.value
            if tok.is_op("not"):
                nxt = self.peek()
                if not (nxt.kind is Kind.OP and nxt.value in NEGATABLE):
                    raise self.error(
                        f"unexpected {nxt.describe()} after 'not', expected one of "
                        "in, matches, contains, startsWith, endsWith",
                        nxt,
                    )
                if BINARY[nxt.value][0] < min_prec:
                    break
                negate = True
                op = nxt.value
            if op not in BINARY:
                break
            prec, right_assoc = BINARY[op]
            if prec < min_prec:
                break
            self.advance()
            if negate:
                self.advance()
            if prev_op == "??" and op != "??":
                raise self.error(
                    f"operator {op!r} and coalesce expressions (??) cannot be mixed; "
                    "wrap either in parentheses",
                    tok,
                )
            if op == "|":
                name_tok = self.expect_ident()
                left = self.call(name_tok, [left])
            elif op in CHAINED_COMPARISONS:
                left = self.comparison(left, tok, op, prec)
            else:
                right = self.expression(prec if right_assoc else prec + 1)
                left = ast.Binary(tok.line, tok.col, CANONICAL.get(op, op), left, right)
                if negate:
                    left = ast.Unary(tok.line, tok.col, "not", left)
            prev_op = op
        if min_prec == 0:
            left = self.conditional(left)
        return left

    def comparison(self, left: ast.Node, tok: Token, op: str, prec: int) -> ast.Node:
        right = self.expression(prec + 1)
        result: ast.Node = ast.Binary(tok.line, tok.col, op, left, right)
        while self.cur.kind is Kind.OP and self.cur.value in CHAINED_COMPARISONS:
            t2 = self.advance()
            nxt = self.expression(prec + 1)
            cmp2 = ast.Binary(t2.line, t2.col, t2.value, right, nxt)
            result = ast.Binary(t2.line, t2.col, "and", result, cmp2)
            right = nxt
        return result

    def conditional(self, node: ast.Node) -> ast.Node:
        while self.cur.is_op("?"):
            tok = self.advance()
            if self.cur.is_op(":"):
                self.advance()
                then = node
                other = self.expression(0)
            else:
                then = self.expression(0)
                self.expect_op(":")
                other = self.expression(0)
            node = ast.Conditional(tok.line, tok.col, node, then, other)
        return node

    def let(self) -> ast.Node:
        tok = self.expect_op("let")
        name = self.expect_ident()
        self.expect_op("=")
        value = self.expression(0)
        self.expect_op(";")
        body = self.sequence()
        return ast.Let(tok.line, tok.col, name.value, value, body)

    def if_else(self) -> ast.Node:
        tok = self.expect_op("if")
        cond = self.expression(0)
        self.expect_op("{")
        then = self.sequence()
        self.expect_op("}")
        self.expect_op("else")
        other: ast.Node
        if self.cur.is_op("if"):
            other = self.if_else()
        else:
            self.expect_op("{")
            other = self.sequence()
            self.expect_op("}")
        return ast.Conditional(tok.line, tok.col, cond, then, other)

    def primary(self) -> ast.Node:
        tok = self.cur
        if tok.kind is Kind.OP and tok.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[tok.value])
            node: ast.Node = ast.Unary(tok.line, tok.col, CANONICAL.get(tok.value, tok.value), operand)
            return self.postfix(node)
        if tok.is_op("("):
            self.advance()
            inner = self.sequence()
            self.expect_op(")")
            return self.postfix(inner)
        return self.postfix(self.operand())

    def operand(self) -> ast.Node:
        tok = self.cur
        kind = tok.kind
        if kind is Kind.INT:
            self.advance()
            return ast.Int(tok.line, tok.col, int(tok.number))
        if kind is Kind.FLOAT:
            self.advance()
            return ast.Float(tok.line, tok.col, float(tok.number))
        if kind is Kind.STRING:
            self.advance()
            return ast.Str(tok.line, tok.col, tok.value)
        if kind is Kind.POINTER:
            if self.closure_depth == 0:
                raise self.error("'#' can only be used inside a predicate")
            if tok.value not in ("", "index", "acc"):
                raise self.error(f"unknown pointer #{tok.value}")
            self.advance()
            return ast.Pointer(tok.line, tok.col, tok.value)
        if kind is Kind.IDENT:
            self.advance()
            if tok.value == "true":
                return ast.Bool(tok.line, tok.col, True)
            if tok.value == "false":
                return ast.Bool(tok.line, tok.col, False)
            if tok.value == "nil":
                return ast.Nil(tok.line, tok.col)
            if self.cur.is_op("("):
                return self.call(tok, [])
            return ast.Ident(tok.line, tok.col, tok.value)
        if tok.is_op("["):
            return self.array()
        if tok.is_op("{"):
            return self.map_literal()
        if tok.is_op(".") and self.closure_depth > 0:
            # `.Field` inside a predicate is `#.Field`
            return ast.Pointer(tok.line, tok.col, "")
        raise self.unexpected("an operand")

    def array(self) -> ast.Node:
        tok = self.expect_op("[")
        items: list[ast.Node] = []
        while not self.cur.is_op("]"):
            items.append(self.expression(0))
            if not self.cur.is_op(","):
                break
            self.advance()
        self.expect_op("]")
        return ast.Array(tok.line, tok.col, items)

    def map_literal(self) -> ast.Node:
        tok = self.expect_op("{")
        pairs: list[tuple[ast.Node, ast.Node]] = []
        while not self.cur.is_op("}"):
            k = self.cur
            key: ast.Node
            if k.kind in (Kind.IDENT, Kind.STRING) or (k.kind is Kind.OP and k.value[:1].isalpha()):
                self.advance()
                key = ast.Str(k.line, k.col, k.value)
            elif k.kind is Kind.INT:
                self.advance()
                key = ast.Int(k.line, k.col, int(k.number))
            elif k.is_op("("):
                self.advance()
                key = self.expression(0)
                self.expect_op(")")
            else:
                raise self.unexpected("a map key")
            self.expect_op(":")
            pairs.append((key, self.expression(0)))
            if not self.cur.is_op(","):
                break
            self.advance()
        self.expect_op("}")
        return ast.MapLit(tok.line, tok.col, pairs)

    def call(self, name_tok: Token, piped: list[ast.Node]) -> ast.Node:
        name = name_tok.value
        self.expect_op("(")
        args: list[ast.Node] = list(piped)
        if name in PREDICATE_BUILTINS:
            if not piped:
                args.append(self.expression(0))
                if not self.cur.is_op(","):
                    self.expect_op(")")
                    return ast.Call(name_tok.line, name_tok.col, name, args)
                self.advance()
            if not self.cur.is_op(")"):
                args.append(self.predicate())
                while self.cur.is_op(","):
                    self.advance()
                    if self.cur.is_op(")"):
                        break
                    args.append(self.expression(0))
        else:
            while not self.cur.is_op(")"):
                args.append(self.expression(0))
                if not self.cur.is_op(","):
                    break
                self.advance()
        self.expect_op(")")
        return ast.Call(name_tok.line, name_tok.col, name, args)

    def predicate(self) -> ast.Node:
        tok = self.cur
        self.closure_depth += 1
        try:
            if tok.is_op("{"):
                self.advance()
                body = self.sequence()
                self.expect_op("}")
            else:
                body = self.expression(0)
        finally:
            self.closure_depth -= 1
        return ast.Predicate(tok.line, tok.col, body)

    def postfix(self, node: ast.Node) -> ast.Node:
        has_optional = False
        while True:
            tok = self.cur
            if tok.is_op(".", "?."):
                optional = tok.value == "?."
                self.advance()
                if optional and self.cur.is_op("["):
                    has_optional = True
                    node = self.index(node, optional=True)
                    continue
                name = self.cur
                if name.kind is Kind.IDENT or (name.kind is Kind.OP and name.value[:1].isalpha()):
                    self.advance()
                else:
                    raise self.unexpected("a field name")
                has_optional = has_optional or optional
                if self.cur.is_op("("):
                    self.advance()
                    args: list[ast.Node] = []
                    while not self.cur.is_op(")"):
                        args.append(self.expression(0))
                        if not self.cur.is_op(","):
                            break
                        self.advance()
                    self.expect_op(")")
                    node = ast.MethodCall(name.line, name.col, node, name.value, args, optional)
                else:
                    key = ast.Str(name.line, name.col, name.value)
                    node = ast.Member(name.line, name.col, node, key, optional, True)
            elif tok.is_op("["):
                node = self.index(node, optional=False)
            elif tok.is_op("(") and isinstance(node, ast.Ident | ast.Member | ast.Chain):
                raise self.error("only helpers, builtins and model methods can be called")
            else:
                break
        if has_optional:
            node = ast.Chain(node.line, node.col, node)
        return node

    def index(self, node: ast.Node, optional: bool) -> ast.Node:
        tok = self.expect_op("[")
        if self.cur.is_op(":"):
            self.advance()
            hi = None if self.cur.is_op("]") else self.expression(0)
            self.expect_op("]")
            return ast.Slice(tok.line, tok.col, node, None, hi)
        first = self.expression(0)
        if self.cur.is_op(":"):
            self.advance()
            hi = None if self.cur.is_op("]") else self.expression(0)
            self.expect_op("]")
            return ast.Slice(tok.line, tok.col, node, first, hi)
        self.expect_op("]")
        return ast.Member(tok.line, tok.col, node, first, optional, False)


def parse(source: str) -> ast.Node:
    """Parse ``source`` into a syntax tree; raise :class:`ExprSyntaxError` (line:col) on error."""
    return Parser(source).parse()
