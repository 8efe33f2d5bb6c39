"""Reconnecting a broken binlog stream: exponential backoff, a limit, one log line per attempt.

A binlog connection that drops (server restart, ``KILL``, a network cut mid-event) is routine. The
stream drops the changes it read but has not flushed and reads again from its saved restart point,
a transaction boundary: never half a transaction, and upserts by key make the re-read harmless.
``source.connect.max-retries`` consecutive failures (Flink CDC's option: attempts to build the
connection) end the stream with a :class:`TransientError` that names the server and the options;
``source.connect.timeout`` bounds each attempt's connect. A wrong password or a missing privilege is
a :class:`TerminalError` and never reaches this module: it is raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cdc_assets.core.offsets import RestartPoint
from cdc_assets.errors import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds before the first reconnect attempt; doubled for each further consecutive failure
BASE_DELAY = 0.5
#: the longest wait between two attempts
MAX_DELAY = 30.0


@dataclass
class Reconnector:
    """Counts consecutive failures of one pipeline's binlog connection and waits between attempts."""

    where: str  # host:port
    max_retries: int
    connect_timeout: float
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    sleep: Callable[[float], None] = time.sleep
    failures: int = 0  # consecutive, since the stream last delivered anything
    incidents: int = 0  # connection losses in this run

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based): 0.5, 1, 2, 4, ... up to ``max_delay``."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))

    def succeeded(self, point: RestartPoint) -> None:
        """The stream delivered something: the connection works again."""
        if self.failures:
            log.info(
                "binlog stream from %s resumed at %s (after %d attempt(s))", self.where, point, self.failures
            )
            self.failures = 0

    def recover(
        self,
        error: TransientError,
        resume: RestartPoint,
        reopen: Callable[[], T],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> T | None:
        """After ``error`` broke the stream: wait, call ``reopen`` (it may raise a TransientError: wait
        longer and try again), and return what it returned; ``None`` if a stop was requested while
        waiting. Raises a TransientError once ``max_retries`` consecutive attempts have failed."""
        if not self.failures:
            self.incidents += 1
        while True:
            self.failures += 1
            if self.failures > self.max_retries:
                raise TransientError(
                    f"gave up reconnecting the binlog stream to {self.where} after {self.max_retries} consecutive "
                    f"failed attempts (source.connect.max-retries: {self.max_retries}, source.connect.timeout: "
                    f"{self.connect_timeout:g}s); last error: {error}. The restart point {resume} is saved: the "
                    "next run resumes from it; raise source.connect.max-retries to wait longer",
                    host=self.where,
                ) from error
            wait = self.delay(self.failures)
            log.warning(
                "binlog stream from %s broke: %s; resuming from %s in %.1fs (attempt %d of %d)",
                self.where,
                error,
                resume,
                wait,
                self.failures,
                self.max_retries,
            )
            if self._wait(wait, should_stop):
                return None
            try:
                return reopen()
            except TransientError as exc:
                error = exc

    def _wait(self, seconds: float, should_stop: Callable[[], bool]) -> bool:
        """Sleep ``seconds`` in short steps; True as soon as ``should_stop()`` says so."""
        end = time.monotonic() + seconds
        while True:
            if should_stop():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.sleep(min(0.2, left))
