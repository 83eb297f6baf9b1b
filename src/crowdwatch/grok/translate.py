"""Translate RE2 regular-expression syntax into Python ``re`` syntax (ENGINE.md §5.4).

The translation is a single left-to-right pass that keeps RE2's meaning:

* Perl classes are ASCII (``\\d`` → ``[0-9]``, ``\\s`` → ``[\\t\\n\\f\\r ]``, ``\\b`` → ``(?a:\\b)``);
* ``$`` is the end of the text (``\\Z``) unless ``(?m)``; ``\\z`` is accepted, ``\\Z`` rejected;
* flags (``i m s U``) may appear anywhere and apply to the rest of the enclosing group;
  ``m``/``s``/``U`` are applied atom by atom, ``i`` becomes scoped ``(?i:…)`` groups;
* ``(?P<n>…)``/``(?<n>…)``, ``\\pL``/``\\p{Greek}``, ``[[:alpha:]]``, ``\\Q…\\E``, ``\\x{…}``
  and octal escapes are rewritten into Python equivalents;
* syntax RE2 rejects (backreferences, look-around, atomic groups, possessive quantifiers,
  repetition counts above 1000, …) raises :class:`RegexError`.

Every character class is emitted with all punctuation escaped, so Python never sees a
nested-set construct.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MAX_REPEAT = 1000

Ranges = list[tuple[int, int]]

_DIGIT: Ranges = [(0x30, 0x39)]
_WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACE: Ranges = [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]

_PERL_CLASSES: dict[str, tuple[Ranges, bool]] = {
    "d": (_DIGIT, False),
    "D": (_DIGIT, True),
    "w": (_WORD, False),
    "W": (_WORD, True),
    "s": (_SPACE, False),
    "S": (_SPACE, True),
}

_POSIX_CLASSES: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": _WORD,
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}

_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "t": 0x09, "n": 0x0A, "r": 0x0D, "v": 0x0B}


class RegexError(ValueError):
    """An RE2 pattern that does not compile (message says why)."""


def _negate(ranges: Ranges) -> Ranges:
    out: Ranges = []
    nxt = 0
    for lo, hi in _merge(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return out


def _merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _esc(cp: int) -> str:
    ch = chr(cp)
    if ch.isascii() and ch.isalnum():
        return ch
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _emit_class(ranges: Ranges, negated: bool = False) -> str:
    merged = _merge(ranges)
    if negated and not merged:
        merged = [(0, sys.maxunicode)]
        negated = False
    parts = [_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in merged]
    if not parts:
        return "(?!)" if not negated else "(?s:.)"
    return "[" + ("^" if negated else "") + "".join(parts) + "]"


@functools.lru_cache(maxsize=64)
def unicode_class(name: str) -> tuple[tuple[int, int], ...]:
    """Code-point ranges of the Unicode general category or script ``name`` (``\\p{name}``)."""
    import regex  # only needed for the rare \\p classes

    if name == "Any":
        return ((0, sys.maxunicode),)
    if not name.isidentifier():
        raise RegexError(f"invalid character class range: \\p{{{name}}}")
    try:
        prop = regex.compile(rf"\p{{{name}}}+")
    except regex.error:
        raise RegexError(f"invalid character class range: \\p{{{name}}}") from None
    text = "".join(map(chr, range(sys.maxunicode + 1)))
    return tuple((m.start(), m.end() - 1) for m in prop.finditer(text))


@dataclass
class _Frame:
    """One open group of the source pattern."""

    flags: set[str]
    base_i: bool  # case-insensitivity in force in the emitted Python at the group start
    extra: int = 0  # scoped (?i:…) groups opened inside this group by a bare flag setter
    unbounded: bool = False  # an alternative of the group starts with an unbounded repetition
    atoms: int = 0  # atoms so far in the current alternative


@dataclass
class Translation:
    """Result of :func:`translate`."""

    python: str
    captures: list[str] = field(default_factory=list)  # names of kept named groups, in order
    # an unbounded repetition applies to a group one of whose alternatives starts with an
    # unbounded repetition, e.g. ``"(\\.|[^\\"]+)+"``: exponential time on a backtracking
    # engine when the rest of the pattern fails
    nested_unbounded: bool = False


class _Translator:
    def __init__(self, pattern: str, group_name: Callable[[str], str | None] | None) -> None:
        self.src = pattern
        self.pos = 0
        self.out: list[str] = []
        self.group_name = group_name
        self.captures: list[str] = []
        self.names: set[str] = set()
        self.stack: list[_Frame] = [_Frame(flags=set(), base_i=False)]
        self.can_repeat = False  # the previous item is something a quantifier may follow
        self.after_repeat = False  # the previous item is a quantifier
        self.last_repeat = ""
        self.group_unbounded = False  # the previous item is a group holding an unbounded repeat
        self.nested_unbounded = False

    # -- helpers ---------------------------------------------------------------------
    def fail(self, message: str) -> RegexError:
        return RegexError(f"invalid regular expression {self.src!r}: {message}")

    @property
    def frame(self) -> _Frame:
        return self.stack[-1]

    def atom(self, text: str) -> None:
        self.out.append(text)
        self.frame.atoms += 1
        self.can_repeat = True
        self.after_repeat = False
        self.group_unbounded = False

    def emitted_i(self) -> bool:
        frame = self.frame
        return frame.base_i if frame.extra == 0 else ("i" in frame.flags)

    # -- driver ----------------------------------------------------------------------
    def run(self) -> Translation:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            self.pos += 1
            if ch == "\\":
                self.escape()
            elif ch == "[":
                self.atom(self.char_class())
            elif ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                self.alternation()
            elif ch in "*+?":
                self.repeat(ch)
            elif ch == "{" and self.try_counted_repeat():
                pass
            elif ch == ".":
                self.atom("(?s:.)" if "s" in self.frame.flags else ".")
            elif ch == "^":
                self.atom("(?m:^)" if "m" in self.frame.flags else "\\A")
            elif ch == "$":
                self.atom("(?m:$)" if "m" in self.frame.flags else "\\Z")
            else:
                self.atom(_esc(ord(ch)) if not ch.isalnum() else ch)
        if len(self.stack) > 1:
            raise self.fail("missing closing )")
        self.out.append(")" * self.frame.extra)
        return Translation("".join(self.out), self.captures, self.nested_unbounded)

    # -- escapes ---------------------------------------------------------------------
    def escape(self) -> None:
        if self.pos >= len(self.src):
            raise self.fail("trailing backslash at end of expression")
        ch = self.src[self.pos]
        self.pos += 1
        if ch in _PERL_CLASSES:
            ranges, negated = _PERL_CLASSES[ch]
            self.atom(_emit_class(ranges, negated))
        elif ch in "bB":
            self.atom(f"(?a:\\{ch})")
        elif ch == "A":
            self.atom("\\A")
        elif ch == "z":
            self.atom("\\Z")
        elif ch == "Q":
            end = self.src.find("\\E", self.pos)
            literal = self.src[self.pos :] if end < 0 else self.src[self.pos : end]
            self.pos = len(self.src) if end < 0 else end + 2
            for c in literal:
                self.atom(_esc(ord(c)))
        elif ch == "E":
            pass  # a stray \E is ignored by RE2
        elif ch in "pP":
            self.atom(_emit_class(*self.unicode_escape(ch)))
        else:
            self.atom(_esc(self.char_escape(ch)))

    def char_escape(self, ch: str) -> int:
        """Code point of a single-character escape whose letter ``ch`` was just consumed."""
        src = self.src
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch]
        if ch == "x":
            if src.startswith("{", self.pos):
                end = src.find("}", self.pos)
                digits = src[self.pos + 1 : end] if end > 0 else ""
                self.pos = end + 1
            else:
                digits = src[self.pos : self.pos + 2]
                self.pos += 2
            if not digits or len(digits) > 8 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise self.fail("invalid escape sequence \\x")
            cp = int(digits, 16)
            if cp > sys.maxunicode:
                raise self.fail(f"invalid escape sequence \\x{{{digits}}}")
            return cp
        if ch in "01234567":
            nxt = src[self.pos : self.pos + 1]
            if ch != "0" and not ("0" <= nxt <= "7"):
                raise self.fail(f"invalid escape sequence \\{ch} (backreferences are not supported)")
            digits = ch
            while len(digits) < 3 and self.pos < len(src) and "0" <= src[self.pos] <= "7":
                digits += src[self.pos]
                self.pos += 1
            return int(digits, 8)
        if ch.isascii() and not ch.isalnum():  # Go's regexp: escaped punctuation, `_` included, is literal
            return ord(ch)
        if ch in "89":
            raise self.fail(f"invalid escape sequence \\{ch} (backreferences are not supported)")
        if ch == "Z":
            raise self.fail("invalid escape sequence \\Z (use \\z or $)")
        if ch == "C":
            raise self.fail("\\C (any byte) is not supported")
        if ch == "k" or ch == "g":
            raise self.fail(f"invalid escape sequence \\{ch} (backreferences are not supported)")
        raise self.fail(f"invalid escape sequence \\{ch}")

    def unicode_escape(self, ch: str) -> tuple[Ranges, bool]:
        src = self.src
        negated = ch == "P"
        if src.startswith("{", self.pos):
            end = src.find("}", self.pos)
            if end < 0:
                raise self.fail(f"invalid character class range: \\{ch}{src[self.pos :]}")
            name = src[self.pos + 1 : end]
            self.pos = end + 1
        else:
            name = src[self.pos : self.pos + 1]
            self.pos += 1
        if name.startswith("^"):
            negated = not negated
            name = name[1:]
        try:
            return list(unicode_class(name)), negated
        except RegexError as exc:
            raise self.fail(str(exc)) from None

    # -- character classes -----------------------------------------------------------
    def char_class(self) -> str:
        src = self.src
        negated = src.startswith("^", self.pos)
        if negated:
            self.pos += 1
        ranges: Ranges = []
        first = True
        while True:
            if self.pos >= len(src):
                raise self.fail("missing closing ]")
            ch = src[self.pos]
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if src.startswith("[:", self.pos):
                end = src.find(":]", self.pos + 2)
                name = src[self.pos + 2 : end] if end > 0 else ""
                neg = name.startswith("^")
                cls = _POSIX_CLASSES.get(name[1:] if neg else name)
                if cls is not None:
                    self.pos = end + 2
                    ranges.extend(_negate(cls) if neg else cls)
                    continue
                if end > 0 and name and all(c.isalpha() or c == "^" for c in name):
                    raise self.fail(f"invalid character class range: [:{name}:]")
            if ch == "\\" and self.pos + 1 < len(src) and src[self.pos + 1] in _PERL_CLASSES:
                cls_ranges, neg = _PERL_CLASSES[src[self.pos + 1]]
                self.pos += 2
                ranges.extend(_negate(cls_ranges) if neg else cls_ranges)
                continue
            if ch == "\\" and self.pos + 1 < len(src) and src[self.pos + 1] in "pP":
                self.pos += 2
                uni, neg = self.unicode_escape(src[self.pos - 1])
                ranges.extend(_negate(uni) if neg else uni)
                continue
            lo = self.class_char()
            hi = lo
            if src.startswith("-", self.pos) and not src.startswith("-]", self.pos):
                self.pos += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail(f"invalid character class range: {chr(lo)}-{chr(hi)}")
            ranges.append((lo, hi))
        return _emit_class(ranges, negated)

    def class_char(self) -> int:
        src = self.src
        if self.pos >= len(src):
            raise self.fail("missing closing ]")
        ch = src[self.pos]
        self.pos += 1
        if ch != "\\":
            return ord(ch)
        if self.pos >= len(src):
            raise self.fail("trailing backslash at end of expression")
        esc = src[self.pos]
        self.pos += 1
        if esc in "bBAzQE":
            raise self.fail(f"invalid escape sequence \\{esc} inside a character class")
        return self.char_escape(esc)

    # -- groups ----------------------------------------------------------------------
    def open_group(self) -> None:
        src = self.src
        outer = self.frame
        flags = set(outer.flags)
        current_i = self.emitted_i()
        name: str | None = None
        if src.startswith("?", self.pos):
            rest = src[self.pos + 1 :]
            if rest.startswith("P<") or (rest.startswith("<") and not rest.startswith(("<=", "<!"))):
                start = self.pos + (3 if rest.startswith("P<") else 2)
                end = src.find(">", start)
                name = src[start:end] if end > 0 else ""
                if not name or not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
                    raise self.fail(f"invalid named capture: {src[self.pos - 1 : end + 1]!r}")
                if name in self.names and self.group_name is None:
                    # C++ RE2 accepts this, Python cannot name two groups alike; in grok
                    # mode user-named groups are dropped, so only compile_re2 rejects it
                    raise self.fail(f"duplicate capture group name {name!r}")
                self.names.add(name)
                self.pos = end + 1
            elif rest[:1] in ("=", "!", ">", "#") or rest.startswith(("<=", "<!", "P=", "P>")):
                kind = {"=": "look-ahead", "!": "look-ahead", ">": "atomic group", "#": "comment"}.get(
                    rest[:1], "look-behind" if rest.startswith("<") else "backreference"
                )
                raise self.fail(f"{kind} (?{rest[:2]}…) is not supported by RE2")
            else:
                self.pos += 1
                self.group_flags(flags)
                return
            out_text = self.named_group(name)
        else:
            out_text = self.plain_group()
        self.out.append(out_text)
        self.stack.append(_Frame(flags=flags, base_i=current_i))
        self.can_repeat = self.after_repeat = False

    def named_group(self, name: str) -> str:
        if self.group_name is None:
            self.captures.append(name)
            return f"(?P<{name}>"
        renamed = self.group_name(name)
        if renamed is None:
            return "(?:"
        self.captures.append(renamed)
        return f"(?P<{renamed}>"

    def plain_group(self) -> str:
        return "(" if self.group_name is None else "(?:"

    def group_flags(self, flags: set[str]) -> None:
        """Parse ``(?flags)`` or ``(?flags:``; the leading ``(?`` is consumed."""
        src = self.src
        negate = False
        seen = False
        while True:
            if self.pos >= len(src):
                raise self.fail("missing closing )")
            c = src[self.pos]
            self.pos += 1
            if c in "imsU":
                (flags.discard if negate else flags.add)(c)
                seen = True
            elif c == "-" and not negate:
                negate = True
                seen = False
            elif c in ":)" and (seen or not negate):
                if c == ")" and not seen and not negate:
                    raise self.fail("missing flags in (?)")
                break
            else:
                raise self.fail(f"invalid or unsupported Perl syntax: (?{src[self.pos - 1 :][:8]}")
        if negate and not seen:
            raise self.fail("missing flags after - in (?-)")
        current_i = self.emitted_i()
        want_i = "i" in flags
        if c == ":":
            prefix = "(?:" if want_i == current_i else ("(?i:" if want_i else "(?-i:")
            self.out.append(prefix)
            self.stack.append(_Frame(flags=flags, base_i=want_i))
            self.can_repeat = self.after_repeat = False
            return
        frame = self.frame
        frame.flags = flags
        if want_i != current_i:
            self.out.append("(?i:" if want_i else "(?-i:")
            frame.extra += 1
        self.can_repeat = self.after_repeat = False

    def close_group(self) -> None:
        if len(self.stack) == 1:
            raise self.fail("unexpected )")
        frame = self.stack.pop()
        self.atom(")" * (frame.extra + 1))
        self.group_unbounded = frame.unbounded
        if frame.unbounded and self.frame.atoms == 1:
            self.frame.unbounded = True

    def alternation(self) -> None:
        frame = self.frame
        self.out.append(")" * frame.extra + "|")
        frame.extra = 0
        frame.atoms = 0
        self.can_repeat = self.after_repeat = False
        if ("i" in frame.flags) != frame.base_i:
            self.out.append("(?i:" if "i" in frame.flags else "(?-i:")
            frame.extra = 1

    # -- repetition ------------------------------------------------------------------
    def counted_repeat_at(self, pos: int) -> str | None:
        """Text of a valid ``{n}``/``{n,}``/``{n,m}`` starting at ``pos``, else None (a literal)."""
        end = self.src.find("}", pos)
        body = self.src[pos + 1 : end] if end > 0 else ""
        lo, _, hi = body.partition(",")
        if lo.isascii() and lo.isdigit() and (not hi or (hi.isascii() and hi.isdigit())):
            return "{" + body + "}"
        return None

    def try_counted_repeat(self) -> bool:
        op = self.counted_repeat_at(self.pos - 1)
        if op is None:
            self.atom("\\{")
            return True
        lo_text, _, hi_text = op[1:-1].partition(",")
        lo = int(lo_text)
        hi = int(hi_text) if hi_text else None
        if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
            raise self.fail(f"invalid repeat count {op} (RE2 allows at most {MAX_REPEAT})")
        if hi is not None and hi < lo:
            raise self.fail(f"invalid repeat count {op}")
        self.pos += len(op) - 1
        self.repeat(op)
        return True

    def repeat(self, op: str) -> None:
        if self.after_repeat:
            raise self.fail(f"bad repetition operator: {self.last_repeat}{op}")
        if not self.can_repeat:
            raise self.fail(f"missing argument to repetition operator: {op}")
        lazy = self.src.startswith("?", self.pos)
        if lazy:
            self.pos += 1
        if op in ("*", "+") or op.endswith(",}"):
            self.nested_unbounded |= self.group_unbounded
            if self.frame.atoms == 1:
                self.frame.unbounded = True
        if "U" in self.frame.flags:
            lazy = not lazy
        self.out.append(op + ("?" if lazy else ""))
        self.can_repeat = False
        self.after_repeat = True
        self.last_repeat = op + ("?" if lazy else "")


def translate(pattern: str, group_name: Callable[[str], str | None] | None = None) -> Translation:
    """Translate RE2 ``pattern`` into Python ``re`` syntax.

    ``group_name`` (grok mode) decides what each named group becomes: a new name for a
    kept capture, or ``None`` to make it non-capturing; plain ``(…)`` groups are then made
    non-capturing as well.  Without it, groups are kept as they are.
    """
    return _Translator(pattern, group_name).run()
