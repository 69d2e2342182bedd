"""What the fuzz tests share: the example budget and the per-example time and memory bound."""

from __future__ import annotations

import contextlib
import os
import resource
import signal

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DEPTHSNN_FUZZ_EXAMPLES", "200"))
TIME_LIMIT_S = 5.0
MAX_BYTES = 64 << 20
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


class Hang(Exception):
    """An example ran over TIME_LIMIT_S (not an AssertionError, so no test code swallows it)."""


@contextlib.contextmanager
def bounded():
    """Fail an example that runs over TIME_LIMIT_S or raises the memory high-water mark by more
    than MAX_BYTES (ru_maxrss is in KiB on Linux)."""

    def alarm(*_):
        raise Hang(f"example ran over {TIME_LIMIT_S} s")

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    assert grown < MAX_BYTES, f"memory high-water mark grew by {grown} bytes"
