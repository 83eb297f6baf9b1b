"""``crowdwatch agent`` as a subprocess against a real LAPI: alerts delivered, ``kill -9``
mid-stream loses and repeats nothing, SIGHUP reload and SIGTERM keep bucket state."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_support import AgentEnv, attack_line, bucket_sizes, noise_line, wait_for

SSH_BF = "crowdwatch/ssh-bf"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AgentEnv]:
    e = AgentEnv(tmp_path)
    e.start_lapi()
    yield e
    e.close()


def _ips(n: int, base: int = 0) -> list[str]:
    return [f"198.51.{(base + i) // 250}.{(base + i) % 250 + 1}" for i in range(n)]


def test_agent_pushes_alerts_to_the_lapi(env: AgentEnv) -> None:
    env.start_agent()
    ips = _ips(3)
    lines = [attack_line(i * 6 + k, ip) for i, ip in enumerate(ips) for k in range(6)]
    lines += [noise_line(i) for i in range(5)]
    lines += [attack_line(100 + k, "203.0.113.9") for k in range(3)]  # under the capacity
    env.write(lines)
    wait_for(lambda: len(env.lapi_alerts()) == 3, 20, f"3 alerts in the LAPI\n{env.agent_output()}")
    wait_for(lambda: env.lines_done() == len(lines), 10, "counters of every line")
    assert env.stop_agent() == 0
    assert env.lapi_alerts() == sorted((SSH_BF, ip) for ip in ips)
    (counters,) = env.state_rows().values()
    assert counters == {"lines": 26, "parsed": 21, "unparsed": 5, "poured": 21}
    dump = env.bucket_dump()
    assert dump is not None
    # the SIGTERM dump holds the bucket that did not overflow
    assert 3 in bucket_sizes(dump, SSH_BF).values()


def test_kill9_mid_stream_loses_nothing_and_repeats_nothing(env: AgentEnv) -> None:
    ips = _ips(120)
    lines: list[str] = []
    for i, ip in enumerate(ips):  # each source: 6 failures in a row (one alert), some noise
        lines += [attack_line(i * 6 + k, ip) for k in range(6)]
        lines.append(noise_line(i))
    chunks = [lines[i : i + 14] for i in range(0, len(lines), 14)]
    thirds = [
        chunks[: len(chunks) // 3],
        chunks[len(chunks) // 3 : 2 * len(chunks) // 3],
        chunks[2 * len(chunks) // 3 :],
    ]
    gates = [threading.Event(), threading.Event()]

    def writer() -> None:  # appends all the time, but waits at 1/3 and 2/3 until a kill happened
        for i, part in enumerate(thirds):
            for chunk in part:
                env.write(chunk)
                time.sleep(0.05)
            if i < len(gates):
                gates[i].wait(60)

    env.start_agent()
    t = threading.Thread(target=writer)
    t.start()
    kills = 0
    for i, gate in enumerate(gates):  # kill -9 twice while lines are being written
        target = (2 * i + 1) * len(lines) // 6  # 1/6, then 1/2 of the lines written

        def progressed(target: int = target) -> bool:
            return env.lines_done() > 0 and env.written >= target

        wait_for(progressed, 60, f"progress\n{env.agent_output()}")
        env.stop_agent(signal.SIGKILL)
        kills += 1
        gate.set()
        env.start_agent()
    t.join()
    assert kills == 2
    wait_for(lambda: env.lines_done() == len(lines), 30, f"every line processed\n{env.agent_output()}")
    wait_for(lambda: len(env.lapi_alerts()) >= len(ips), 20, "the alerts in the LAPI")
    time.sleep(0.5)
    assert env.stop_agent() == 0
    (counters,) = env.state_rows().values()
    assert counters["lines"] == len(lines)  # none lost, none counted twice
    assert counters["parsed"] == 6 * len(ips) and counters["unparsed"] == len(ips)
    # exactly what one uninterrupted run gives: one ssh-bf alert per source
    assert env.lapi_alerts() == sorted((SSH_BF, ip) for ip in ips)


def test_sighup_reload_keeps_bucket_state(env: AgentEnv) -> None:
    env.start_agent()
    ip = "192.0.2.77"
    env.write([attack_line(k, ip) for k in range(3)])
    wait_for(lambda: env.lines_done() == 3, 20, f"3 lines processed\n{env.agent_output()}")
    assert env.agent is not None
    env.agent.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in env.agent_output(), 20, "the reload")
    env.write([attack_line(k, ip) for k in range(3, 6)])
    wait_for(lambda: env.lines_done() == 6, 20, "6 lines processed")
    # 3 + 3 failures overflow (capacity 5) only if the reload kept the bucket
    wait_for(lambda: env.lapi_alerts() == [(SSH_BF, ip)], 10, f"the alert\n{env.agent_output()}")
    assert env.stop_agent() == 0


def test_sigterm_dumps_buckets_and_restart_continues_them(env: AgentEnv) -> None:
    env.start_agent()
    ip = "192.0.2.88"
    env.write([attack_line(k, ip) for k in range(4)])
    wait_for(lambda: env.lines_done() == 4, 20, f"4 lines processed\n{env.agent_output()}")
    assert env.stop_agent() == 0
    dump = env.bucket_dump()
    assert dump is not None and 4 in bucket_sizes(dump, SSH_BF).values()
    env.start_agent()
    env.write([attack_line(k, ip) for k in range(4, 6)])
    wait_for(lambda: env.lapi_alerts() == [(SSH_BF, ip)], 20, f"the alert\n{env.agent_output()}")
    assert env.stop_agent() == 0
    assert env.lines_done() == 6
