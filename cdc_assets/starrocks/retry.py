"""How long and how often a failing StarRocks load is retried.

The only clock in the client: a :class:`Budget` counts the time one load has spent on failures, as the
larger of the wall clock and the pauses it took, so a test's no-op ``sleep`` still ends the retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retriable failures, in seconds: initial_delay x multiplier^n, capped at max_delay,
    each delay scaled by a random factor in [1 - jitter, 1 + jitter]. After max_elapsed seconds of
    failures the error surfaces as TransientError."""

    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_elapsed: float = 1800.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """The pause before retry number ``retry`` (1 for the first retry)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** max(0, retry - 1))
        return min(self.max_delay, max(0.0, base * (1 + self.jitter * rng.uniform(-1.0, 1.0))))


class Budget:
    """The time one load (with all its retries) has spent on failures, against ``max_elapsed``."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None], rng: random.Random) -> None:
        self.policy = policy
        self.sleep = sleep
        self.rng = rng
        self.start = time.monotonic()
        self.slept = 0.0
        self.retries = 0

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.start, self.slept)

    @property
    def remaining(self) -> float:
        return max(0.0, self.policy.max_elapsed - self.elapsed)

    def pause(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, self.remaining))
        self.slept += seconds
        if seconds > 0:
            self.sleep(seconds)

    def next_delay(self) -> float | None:
        """The pause before the next retry, or None when the budget is spent."""
        if self.remaining <= 0:
            return None
        self.retries += 1
        return min(self.policy.delay(self.retries, self.rng), self.remaining)
