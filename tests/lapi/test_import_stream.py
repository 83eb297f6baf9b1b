"""Large POST /v1/alerts bodies (``cscli decisions import``) parsed as they arrive: however the
body is cut into chunks, the result and the errors are those of a whole parse; the server takes
chunked bodies and keeps its limits; neither the body's text nor a second object per decision
is held."""

from __future__ import annotations

import http.client
import json
import random
import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

import crowdwatch.lapi.server.http as http_mod
from crowdwatch.lapi.alerts import AlertIn, AlertsParser, parse_alert
from crowdwatch.lapi.service import STREAM_PARSE_MIN, LapiService, Payload
from crowdwatch.lapi.timefmt import parse_time

from .helpers import BOUNCER_KEY, LiveServer, make_alert


def _import(values: list[str], durations: tuple[str, ...] = ("4h",), **extra: Any) -> dict[str, Any]:
    decisions = [
        {
            "origin": "cscli",
            "type": "ban",
            "scope": "Ip",
            "value": v,
            "duration": durations[i % len(durations)],
            "scenario": "import",
        }
        for i, v in enumerate(values)
    ]
    return make_alert("127.0.0.1", decisions=decisions, remediation=False, **extra)


def _cuts(data: bytes, seed: int) -> Iterator[bytes]:
    """``data`` in pieces of random sizes (1 byte to 4 KB): every boundary gets hit somewhere."""
    rnd = random.Random(seed)
    i = 0
    while i < len(data):
        n = rnd.choice((1, 2, 3, 7, 64, 500, 4096))
        yield data[i : i + n]
        i += n


def _streamed(data: bytes, seed: int | None) -> Any:
    parser = AlertsParser()
    for piece in _cuts(data, seed) if seed is not None else [data]:
        parser.feed_bytes(piece)
    return parser.close()


def _alerts(docs: Any) -> list[AlertIn]:
    return [parse_alert(doc, f"alerts[{i}]") for i, doc in enumerate(docs)]


def _outcome(data: bytes, seed: int | None) -> str:
    try:
        return repr(_alerts(_streamed(data, seed)))
    except ValueError as exc:  # BadRequest is not one
        return f"ValueError: {exc}"


DOCS = [
    _import([f"10.0.{i // 250}.{i % 250}" for i in range(600)], ("4h", "4h", "1h"), labels=["l"]),
    make_alert(
        "1.2.3.4", decisions=[], message='Ünïcödé 日本 🎉 \\u00e9 " \\\\', meta=[{"key": "k", "value": "é"}]
    ),
    make_alert("5.6.7.8"),  # no decisions key: profiles decide
    _import(["2001:db8::1", "10.1.0.0/16"], simulated=True),
]


@pytest.mark.parametrize("indent", [None, 1])
def test_any_chunking_gives_the_whole_parse(indent: int | None) -> None:
    data = (" \n" + json.dumps(DOCS, indent=indent, ensure_ascii=False) + "\n\t").encode()
    whole = _alerts(json.loads(data))
    assert _alerts(_streamed(data, None)) == whole
    for seed in range(6):
        assert _alerts(_streamed(data, seed)) == whole
    assert _streamed(b"[]", 1) == [] and _streamed(b' {"a": [1, 2]} ', 2) == {"a": [1, 2]}
    assert _streamed(b"[1, 22, 333]", 3) == [1, 22, 333]  # numbers cut anywhere


@pytest.mark.parametrize(
    ("text", "as_json_says"),
    [
        ('[{"decisions": [{"a": 1},\n {"b": ]}]', True),  # an element that is not JSON
        ('[\n{"scenario": "x",\n  "events": [1, 2,]}]', True),  # a value of the alert
        ('  \n {"a": 1,}', True),  # not an array: parsed whole
        ('[{"decisions": [1.5e, 2]}]', False),  # 1.5, then e
        ('[{"decisions": [{"a": 1}', False),  # truncated
        ('[{"decisions": [{"a": 1}] "x": 1}]', False),
        ('[{"decisions": [NaN]}]', False),
        ('[{"decisions": [tru]}]', True),
        ("[{}] extra", False),
        ("[1 2]", False),
    ],
)
def test_any_chunking_gives_the_same_error(text: str, as_json_says: bool) -> None:
    data = text.encode()
    whole = _outcome(data, None)
    assert whole.startswith("ValueError: ")
    for seed in range(8):
        assert _outcome(data, seed) == whole
    if as_json_says:  # positions (line, column, char) in the whole text
        with pytest.raises(json.JSONDecodeError) as info:
            json.loads(text)
        assert whole == f"ValueError: {info.value}"


def test_invalid_utf8_is_reported_at_its_place_in_the_body() -> None:
    for data in (b'[{"message": "ab\xc3\x28"}]', b'[{"message": "ab\xe6\x97"}]', b"[\xff\xfe]"):
        with pytest.raises(UnicodeDecodeError) as info:
            data.decode()
        for seed in range(8):
            assert _outcome(data, seed) == f"ValueError: {info.value}"


def test_given_decisions_get_their_until_and_the_alerts_simulation(service: LapiService) -> None:
    stop = "2030-01-02T00:00:00Z"
    docs = [
        _import(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"], ("4h", "1h", "1h", "4h"), stop_at=stop),
        _import(["10.0.0.5"], simulated=True, stop_at=stop),
    ]
    data = orjson.dumps(docs)
    batch = service.plan_alerts([("agent", Payload(_streamed(data, 5)))])
    (a, given, _), (b, sim, _) = [p[2:] for p in batch.planned]
    end = parse_time(stop, "stop")
    assert [d.until - end for d in given] == [timedelta(hours=h) for h in (4, 1, 1, 4)]
    assert given[1].until is given[2].until  # one datetime per duration
    assert not any(d.simulated for d in given) and sim[0].simulated
    assert a.decisions == [] and b.decisions == []  # handed over, not copied


def test_a_large_body_is_not_held_whole_nor_twice(service: LapiService) -> None:
    n = 20_000
    data = orjson.dumps([_import([f"10.9.{i >> 8 & 255}.{i & 255}" for i in range(n)])])
    assert len(data) > 2_000_000
    tracemalloc.start()
    try:
        parser = AlertsParser()
        for start in range(0, len(data), 1 << 16):
            parser.feed_bytes(data[start : start + (1 << 16)])
        docs = parser.close()
        del parser
        live, peak = tracemalloc.get_traced_memory()
        assert peak - live < 600_000  # the text (2.4 MB) never existed whole...
        assert live < 200 * n  # ...nor is kept: the decisions (~165 B each) and little else
        tracemalloc.reset_peak()
        batch = service.plan_alerts([("agent", Payload(docs))])
        del docs
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.decisions == n
    assert peak - live < 400_000  # no second object per decision (~2 MB for 20k)
    assert after - live < 100_000


def _post_chunked(live: LiveServer, pieces: Iterator[bytes], token: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
    try:
        conn.putrequest("POST", "/v1/alerts")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for piece in pieces:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the server answered before the end
            pass
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def test_chunked_bodies_large_and_small(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = live.login()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    values = [f"10.5.{i >> 8 & 255}.{i & 255}" for i in range(14_000)]
    big = orjson.dumps([_import(values, start_at=stamp, stop_at=stamp)])
    assert len(big) > STREAM_PARSE_MIN
    status, ids = _post_chunked(live, _cuts(big, 1), token)
    assert status == 201 and len(ids) == 1
    small = orjson.dumps([_import(["10.4.0.1"], start_at=stamp, stop_at=stamp)])
    status, ids = _post_chunked(live, iter([small[:10], small[10:]]), token)
    assert status == 201 and len(ids) == 1
    got = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json
    assert sorted(d["value"] for d in got["new"]) == sorted([*values, "10.4.0.1"])
    # the same refusals as a body read whole
    bad = orjson.loads(big)
    bad[0]["decisions"][13_000]["scope"] = 5
    status, err = _post_chunked(live, _cuts(orjson.dumps(bad), 2), token)
    assert status == 400 and err["message"] == "alerts[0].decisions[13000].scope: expected a string"
    r = live.call("POST", "/v1/alerts", bad, token=token)
    assert r.status == 400 and r.json == err
    status, err = _post_chunked(live, iter([big[:-3], b"}"]), token)
    assert status == 400 and err["message"].startswith("invalid JSON body: ")
    status, err = _post_chunked(live, iter([]), token)
    assert status == 400 and err["message"] == "missing JSON body"
    monkeypatch.setattr(http_mod, "MAX_BODY", 1_000_000)
    status, err = _post_chunked(live, _cuts(big, 3), token)
    assert status == 413 and err["message"] == "request body too large"
