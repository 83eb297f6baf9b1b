"""Tokenizer for the expression language (EXPR.md §2).

Produces a flat list of :class:`Token` with 1-based line/column positions. Identifiers are
letters/digits/``_``/``$`` (letters may be non-ASCII); they are never pasted into generated
Python code, so their alphabet only matters for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import ExprSyntaxError


class Kind(Enum):
    INT = "integer"
    FLOAT = "float"
    STRING = "string"
    IDENT = "identifier"
    POINTER = "#pointer"
    OP = "operator"
    EOF = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    line: int
    col: int
    number: int | float = 0

    def is_op(self, *values: str) -> bool:
        return self.kind is Kind.OP and self.value in values

    def describe(self) -> str:
        if self.kind is Kind.EOF:
            return "end of expression"
        if self.kind is Kind.STRING:
            return f"string {self.value!r}"
        return repr(self.value)


# Word operators: lexed as IDENT-shaped words but reported as OP tokens.
WORD_OPERATORS = frozenset(
    {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}
)

# Longest first.
_SYMBOLS = (
    "**",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "..",
    "??",
    "?.",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">",
    "!",
    "|",
    "?",
    ":",
    ".",
    ",",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    "=",
)

_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
}

MAX_SOURCE_LEN = 1_000_000


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch == "$" or ch.isalpha()


def _is_ident_char(ch: str) -> bool:
    return ch == "_" or ch == "$" or ch.isalnum()


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []

    def error(self, message: str, pos: int | None = None) -> ExprSyntaxError:
        line, col = self.where(self.pos if pos is None else pos)
        return ExprSyntaxError(message, self.src, line, col)

    def where(self, pos: int) -> tuple[int, int]:
        line = self.src.count("\n", 0, pos) + 1
        col = pos - (self.src.rfind("\n", 0, pos) + 1) + 1
        return line, col

    def emit(self, kind: Kind, value: str, start: int, number: int | float = 0) -> None:
        line, col = self.where(start)
        self.tokens.append(Token(kind, value, line, col, number))

    def run(self) -> list[Token]:
        src = self.src
        n = len(src)
        while True:
            self.skip_space_and_comments()
            if self.pos >= n:
                break
            ch = src[self.pos]
            start = self.pos
            if ch.isdigit() or (ch == "." and self.pos + 1 < n and src[self.pos + 1].isdigit()):
                self.number()
            elif ch in "\"'":
                self.quoted(ch)
            elif ch == "`":
                end = src.find("`", self.pos + 1)
                if end < 0:
                    raise self.error("unterminated raw string")
                self.emit(Kind.STRING, src[self.pos + 1 : end], start)
                self.pos = end + 1
            elif ch == "#":
                self.pos += 1
                word = self.word()
                self.emit(Kind.POINTER, word, start)
            elif _is_ident_start(ch):
                word = self.word()
                self.emit(Kind.OP if word in WORD_OPERATORS else Kind.IDENT, word, start)
            else:
                for sym in _SYMBOLS:
                    if src.startswith(sym, self.pos):
                        self.pos += len(sym)
                        self.emit(Kind.OP, sym, start)
                        break
                else:
                    raise self.error(f"unexpected character {ch!r}")
        self.emit(Kind.EOF, "", self.pos)
        return self.tokens

    def word(self) -> str:
        start = self.pos
        src = self.src
        while self.pos < len(src) and _is_ident_char(src[self.pos]):
            self.pos += 1
        return src[start : self.pos]

    def skip_space_and_comments(self) -> None:
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch in " \t\r\n\f\v":
                self.pos += 1
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif src.startswith("/*", self.pos):
                end = src.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated comment")
                self.pos = end + 2
            else:
                return

    def number(self) -> None:
        src = self.src
        n = len(src)
        start = self.pos
        if src[start] == "0" and start + 1 < n and src[start + 1] in "xXoObB":
            base = {"x": 16, "o": 8, "b": 2}[src[start + 1].lower()]
            self.pos += 2
            while self.pos < n and (src[self.pos].isalnum() or src[self.pos] == "_"):
                self.pos += 1
            text = src[start : self.pos]
            try:
                value = int(text[2:], base)
            except ValueError:
                raise self.error(f"invalid number literal {text!r}", start) from None
            self.emit(Kind.INT, text, start, value)
            return
        is_float = False
        while self.pos < n and (src[self.pos].isdigit() or src[self.pos] == "_"):
            self.pos += 1
        # a '.' followed by '.' is the range operator, not a fraction
        if self.pos < n and src[self.pos] == "." and not src.startswith("..", self.pos):
            nxt = src[self.pos + 1] if self.pos + 1 < n else ""
            if nxt.isdigit() or not (_is_ident_start(nxt)):
                is_float = True
                self.pos += 1
                while self.pos < n and (src[self.pos].isdigit() or src[self.pos] == "_"):
                    self.pos += 1
        if self.pos < n and src[self.pos] in "eE":
            p = self.pos + 1
            if p < n and src[p] in "+-":
                p += 1
            if p < n and src[p].isdigit():
                is_float = True
                self.pos = p
                while self.pos < n and src[self.pos].isdigit():
                    self.pos += 1
        if self.pos < n and _is_ident_char(src[self.pos]):
            raise self.error(f"invalid number literal {src[start : self.pos + 1]!r}", start)
        text = src[start : self.pos]
        clean = text.replace("_", "")
        if "__" in text or text.endswith("_") or clean == "" or clean == ".":
            raise self.error(f"invalid number literal {text!r}", start)
        try:
            if is_float:
                self.emit(Kind.FLOAT, text, start, float(clean))
            else:
                self.emit(Kind.INT, text, start, int(clean, 10))
        except ValueError:
            raise self.error(f"invalid number literal {text!r}", start) from None

    def quoted(self, quote: str) -> None:
        src = self.src
        n = len(src)
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= n:
                raise self.error("unterminated string literal", start)
            ch = src[self.pos]
            if ch == quote:
                self.pos += 1
                break
            if ch == "\n":
                raise self.error("newline in string literal", self.pos)
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            self.pos += 1
            if self.pos >= n:
                raise self.error("unterminated string literal", start)
            esc = src[self.pos]
            if esc in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[esc])
                self.pos += 1
            elif esc in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = src[self.pos + 1 : self.pos + 1 + width]
                if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise self.error(f"invalid escape sequence \\{esc}{digits}", self.pos - 1)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise self.error(f"invalid escape sequence \\{esc}{digits}", self.pos - 1)
                out.append(chr(code))
                self.pos += 1 + width
            elif esc in "01234567":
                digits = src[self.pos : self.pos + 3]
                if len(digits) != 3 or any(c not in "01234567" for c in digits) or int(digits, 8) > 255:
                    raise self.error(f"invalid escape sequence \\{digits}", self.pos - 1)
                out.append(chr(int(digits, 8)))
                self.pos += 3
            else:
                raise self.error(f"invalid escape sequence \\{esc}", self.pos - 1)
        self.emit(Kind.STRING, "".join(out), start)


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; raise :class:`ExprSyntaxError` on a lexical error."""
    if len(source) > MAX_SOURCE_LEN:
        raise ExprSyntaxError(f"expression too long ({len(source)} characters)", "", 1, 1)
    return _Lexer(source).run()
