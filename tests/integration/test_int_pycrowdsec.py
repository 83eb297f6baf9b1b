"""(e) pycrowdsec from PyPI (unchanged): its stream clients follow crowdwatch's decisions stream
(a ban appears, then disappears) and its query client gets the decisions for an IP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .int_support import Lapi, wait_for

client = pytest.importorskip(
    "pycrowdsec.client", reason="pycrowdsec is not installed (pip install -e '.[dev]')"
)


@pytest.fixture
def stop_streams() -> Iterator[list[Any]]:
    """Stream clients to silence afterwards: pycrowdsec's poll thread has no stop, so make it idle."""
    started: list[Any] = []
    yield started
    for c in started:
        c.cycle = lambda first_time: None
        c.interval = 10**9
        c.session.close()


def test_pycrowdsec_stream_client_follows_bans(lapi: Lapi, stop_streams: list[Any]) -> None:
    lapi.ban("203.0.113.10", "1h")
    stream = client.StreamClient(lapi.key, lapi_url=lapi.url + "/", interval=1)
    # a second bouncer: a stream cursor is per bouncer, as in CrowdSec
    decisions = client.StreamDecisionClient(
        lapi.add_bouncer("pydecisions"), lapi_url=lapi.url + "/", interval=1
    )
    stop_streams.extend([stream, decisions])
    stream.run()
    decisions.run()
    # the startup pull is synchronous in run()
    assert stream.get_action_for("203.0.113.10") == "ban"
    assert stream.get_action_for("203.0.113.11") is None
    assert [d["value"] for d in decisions.get_new_decision()] == ["203.0.113.10"]

    lapi.cw("decisions", "add", "--range", "10.9.0.0/24", "--type", "captcha", "-d", "1h")
    wait_for(lambda: stream.get_action_for("10.9.0.77") == "captcha", "the range decision in StreamClient")
    assert stream.get_current_decisions() == {"203.0.113.10/32": "ban", "10.9.0.0/24": "captcha"}
    new = wait_for(lambda: list(decisions.get_new_decision()), "the delta in StreamDecisionClient")
    assert [(d["value"], d["scope"], d["type"]) for d in new] == [("10.9.0.0/24", "Range", "captcha")]

    lapi.unban("203.0.113.10")
    wait_for(lambda: stream.get_action_for("203.0.113.10") is None, "the deleted ban to leave StreamClient")
    deleted = wait_for(lambda: list(decisions.get_deleted_decision()), "the deletion in StreamDecisionClient")
    assert [d["value"] for d in deleted] == ["203.0.113.10"]
    assert stream.get_action_for("10.9.0.77") == "captcha"
    assert stream.is_running() and decisions.is_running()


def test_pycrowdsec_query_client(lapi: Lapi) -> None:
    query = client.QueryClient(lapi.key, lapi_url=lapi.url + "/")
    assert not query.get_decisions_for("203.0.113.20")
    lapi.ban("203.0.113.20", "1h")
    lapi.cw("decisions", "add", "--range", "203.0.113.0/24", "--type", "captcha", "-d", "1h")
    # the server picks up the CLI's writes at its next database poll (about 1 s)
    found = wait_for(
        lambda: (
            len(query.get_decisions_for("203.0.113.20") or []) == 2
            and query.get_decisions_for("203.0.113.20")
        ),
        "both decisions containing 203.0.113.20",
    )
    assert sorted((d["value"], d["type"]) for d in found) == [
        ("203.0.113.0/24", "captcha"),
        ("203.0.113.20", "ban"),
    ]
    assert query.get_action_for("203.0.113.20") == "captcha"  # the most recent decision wins
    assert [d["value"] for d in query.get_decisions_for("203.0.113.99")] == ["203.0.113.0/24"]
    # deleting the range (decisions containing 203.0.113.0/24) leaves the /32 ban
    lapi.cw("decisions", "delete", "--range", "203.0.113.0/24")
    wait_for(lambda: not query.get_decisions_for("203.0.113.99"), "the deleted range to be gone")
    assert [d["type"] for d in query.get_decisions_for("203.0.113.20")] == ["ban"]

    bad = client.QueryClient("not-a-valid-key-0123", lapi_url=lapi.url + "/")
    with pytest.raises(client.requests.HTTPError) as err:
        bad.get_decisions_for("203.0.113.20")
    assert err.value.response.status_code == 403
