"""Bad parser configuration fails to load with one ParserLoadError naming file:line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crowdwatch.parser import ParserLoadError

from .helpers import build

FILE = "s01-parse/bad.yaml"
PATH = str(Path("/cfg/parsers") / FILE)

GOOD_STATIC = "statics:\n  - meta: a\n    value: b\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name: t\nfilter: 'true'\nbogus: 1\n" + GOOD_STATIC, 3, "unknown key 'bogus'"),
        ("name: t\ngrok:\n  pattern: x\n  apply_on: Line.Raw\n  nope: 1\n", 5, "unknown key 'nope'"),
        ("name: t\nstatics:\n  - meta: a\n    valu: b\n", 4, "unknown key 'valu'"),
        ("name: t\nwhitelist:\n  reason: r\n  ips: ['1.2.3.4']\n", 4, "unknown key 'ips'"),
        ("name: t\nfilter: 'true'\n", 1, "Node is empty"),
        ("name: t\nwhitelist:\n  reason: only a reason\n", 1, "Node is empty"),
        (
            "name: t\nstash:\n  - name: s\n    key: evt.Line.Raw\n    value: evt.Line.Raw\n    ttl: 1m\n",
            1,
            "Node is empty",
        ),
        ("name: t\nonsuccess: next\n" + GOOD_STATIC, 2, "onsuccess"),
        ("name: t\nfilter: 'evt.Nope == 1'\n" + GOOD_STATIC, 2, "invalid expression"),
        ("name: t\nfilter: 'evt.Line.Raw ==='\n" + GOOD_STATIC, 2, "invalid expression"),
        ("name: t\ngrok:\n  name: NO_SUCH_PATTERN\n  apply_on: Line.Raw\n", 3, "NO_SUCH_PATTERN"),
        ("name: t\ngrok:\n  pattern: '%{NOPE:x}'\n  apply_on: Line.Raw\n", 3, "NOPE"),
        ("name: t\ngrok:\n  pattern: '%{WORD:x}'\n", 3, "apply_on"),
        ("name: t\ngrok:\n  apply_on: Line.Raw\n", 3, "name"),
        ("name: t\nwhitelist:\n  reason: r\n  ip: ['1.2.3.999']\n", 4, "invalid IP"),
        ("name: t\nwhitelist:\n  reason: r\n  cidr: ['10.0.0.0/33']\n", 4, "invalid CIDR"),
        ("name: t\nwhitelist:\n  reason: r\n  expression: ['evt.Bad']\n", 4, "invalid expression"),
        ("name: t\nstatics:\n  - enriched: a\n    value: b\n", 3, "'method', 'meta', 'parsed' or 'target'"),
        ("name: t\nstatics:\n  - meta: a\n", 3, "'value' or an 'expression'"),
        ("name: t\nstatics:\n  - meta: a\n    expression: 'evt.Nope'\n", 4, "invalid expression"),
        (
            GOOD_STATIC + "name: t\nstash:\n  - name: s\n    key: k\n    value: v\n    ttl: 5 minutes\n",
            9,
            "ttl",
        ),
        (GOOD_STATIC + "name: t\nstash:\n  - name: s\n    key: k\n    value: v\n", 6, "'ttl'"),
        ("name: t\nnodes:\n  - filter: 'true'\n", 3, "Node is empty"),
        ("name: t\nnodes: {a: 1}\n", 2, "expected a list"),
        ("name: [t]\n" + GOOD_STATIC, 1, "expected a string"),
        ("name: t\ndebug: maybe\n" + GOOD_STATIC, 2, "true or false"),
        ("name: t\npattern_syntax:\n  X: [a]\n" + GOOD_STATIC, 3, "pattern_syntax X"),
        ("name: t\n" + GOOD_STATIC + "data:\n  - dest_file: x.txt\n    type: nope\n", 6, "unknown type"),
        ("name: t\n  bad: indent\n", 2, "invalid YAML"),
        ("- name: t\n", 1, "expected a mapping"),
    ],
)
def test_load_error(text: str, line: int, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ParserLoadError) as info:
        build({FILE: text}, data_dir=tmp_path)
    message = str(info.value)
    assert message.startswith(f"{PATH}:{line}:"), message
    assert fragment in message, message


def test_unknown_key_in_a_skipped_document_still_fails() -> None:
    with pytest.raises(ParserLoadError, match="unknown key 'x'"):
        build({FILE: "filter: 'true'\nx: 1\n"})


def test_skipped_documents_are_not_validated() -> None:
    # no name/description/author: skipped before "Node is empty" or onsuccess checks
    pipe = build({FILE: "onsuccess: bogus\n---\nname: t\n" + GOOD_STATIC})
    assert pipe.stages == ["s01-parse"]


def test_bad_format_is_skipped_with_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="crowdwatch.parser"):
        pipe = build(
            {FILE: "name: t\nformat: 0.9\n" + GOOD_STATIC + "---\nname: u\nformat: x.y\n" + GOOD_STATIC}
        )
    assert pipe.stages == []
    assert "format" in caplog.text


def test_unknown_enrichment_method_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crowdwatch.parser"):
        pipe = build({FILE: "name: t\nstatics:\n  - method: NoSuchMethod\n    value: x\n"})
    assert "NoSuchMethod" in caplog.text
    assert pipe.stages == ["s01-parse"]


def test_missing_data_file_is_not_fatal(tmp_path: Path) -> None:
    text = "name: t\n" + GOOD_STATIC + "data:\n  - dest_file: missing.txt\n    type: string\n"
    assert build({FILE: text}, data_dir=tmp_path).stages == ["s01-parse"]
