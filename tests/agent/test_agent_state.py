"""AgentState: one-transaction checkpoints, the bounded queue, reopen after a crash."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crowdwatch.agent.state import AgentState, QueueFull


def test_checkpoint_roundtrip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    st = AgentState(path)
    assert st.positions() == {} and st.buckets() is None and st.queue_len() == 0
    st.checkpoint(
        {"file:/a": {"ino": 1, "offset": 10}},
        {"file:/a": {"read": 3, "parsed": 2}, "syslog:udp": {"read": 5}},
        [{"scenario": "s1"}, {"scenario": "s2"}],
        b"\x00buckets",
    )
    st.checkpoint({"file:/a": {"ino": 1, "offset": 20}}, {}, [{"scenario": "s3"}], None)
    st.close()
    st = AgentState(path)
    pos = st.positions()
    assert pos["file:/a"] == ({"ino": 1, "offset": 20}, {"read": 3, "parsed": 2})
    assert pos["syslog:udp"] == (None, {"read": 5})
    assert st.buckets() == b"\x00buckets"
    assert st.queue_len() == 3
    peek = st.queue_peek(2)
    assert [a["scenario"] for _, a in peek] == ["s1", "s2"]
    st.queue_ack([peek[0][0]])
    assert st.queue_len() == 2
    assert [a["scenario"] for _, a in st.queue_peek(10)] == ["s2", "s3"]
    st.close()


def test_failed_checkpoint_writes_nothing(tmp_path: Path) -> None:
    st = AgentState(tmp_path / "s.db")
    st.checkpoint({"k": 1}, {"k": {"read": 1}}, [{"a": 1}], b"one")

    # the bucket blob is written last and cannot be bound: positions, counters and queue rows
    # already written in that transaction must be rolled back
    with pytest.raises(sqlite3.Error):
        st.checkpoint({"k": 2}, {"k": {"read": 2}}, [{"a": 2}], object())  # type: ignore[arg-type]
    assert st.positions() == {"k": (1, {"read": 1})}
    assert st.queue_len() == 1 and st.buckets() == b"one"


_CRASHER = r"""
import os, sys
from crowdwatch.agent.state import AgentState
st = AgentState(sys.argv[1])
i = 0
while True:
    i += 1
    st.checkpoint({"k": i}, {"k": {"read": i}}, [{"n": i}], str(i).encode() * 5000)
    if i == 3:
        print("ready", flush=True)
"""


def test_kill9_during_checkpoints_leaves_a_consistent_state(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", _CRASHER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.kill()
    proc.wait()
    st = AgentState(path)
    (n, counters) = st.positions()["k"]
    assert n >= 3 and counters == {"read": n}
    assert st.queue_len() == n
    assert [a["n"] for _, a in st.queue_peek(n + 5)] == list(range(1, n + 1))
    assert st.buckets() == str(n).encode() * 5000
    st.close()
    assert os.path.exists(path)


def test_full_queue_blocks_until_acked(tmp_path: Path) -> None:
    st = AgentState(tmp_path / "s.db", queue_max=2)
    st.checkpoint({}, {}, [{"a": 1}, {"a": 2}], None)
    with pytest.raises(QueueFull):
        st.checkpoint({"k": 1}, {}, [{"a": 3}], None, timeout=0.1)
    assert st.queue_len() == 2 and st.positions() == {}
    # without alerts a checkpoint is never held back
    st.checkpoint({"k": 1}, {}, [], None)
    done = threading.Event()

    def writer() -> None:
        st.checkpoint({"k": 2}, {}, [{"a": 3}], None)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    assert not done.wait(0.2)
    st.queue_ack([i for i, _ in st.queue_peek(1)])
    assert done.wait(5)
    t.join()
    assert [a["a"] for _, a in st.queue_peek(10)] == [2, 3]
    assert st.positions()["k"][0] == 2


def test_close_wakes_a_blocked_checkpoint(tmp_path: Path) -> None:
    st = AgentState(tmp_path / "s.db", queue_max=1)
    st.checkpoint({}, {}, [{"a": 1}], None)
    err: list[BaseException] = []

    def writer() -> None:
        try:
            st.checkpoint({}, {}, [{"a": 2}], None)
        except QueueFull as exc:
            err.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.1)
    st.close()
    t.join(5)
    assert len(err) == 1


def test_full_and_light_checkpoints(tmp_path: Path) -> None:
    st = AgentState(tmp_path / "s.db")
    alert = {"scenario": "s", "source": {"scope": "Ip", "value": "192.0.2.1"}}
    st.checkpoint({"k": 1}, {"k": {"lines": 1}}, [], b"dump1")
    st.checkpoint({"k": 2}, {"k": {"lines": 2}}, [alert, alert], None)
    # light: the dump keeps its own positions; the alerts are remembered for recovery
    assert st.dump_positions() == {"k": (1, {"lines": 1})}
    assert st.positions()["k"] == (2, {"lines": 2})
    assert st.recent_alerts() == [("s", "192.0.2.1"), ("s", "192.0.2.1")]
    st.checkpoint({"k": 3}, {"k": {"lines": 3}}, [alert], b"dump2")
    assert st.dump_positions() == {"k": (3, {"lines": 3})}
    assert st.recent_alerts() == [] and st.buckets() == b"dump2" and st.queue_len() == 3
    st.close()
