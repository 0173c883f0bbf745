"""The time budget (`--minutes`): one clock, read once per step, the same on every rank.

    budget = TimeBudget(minutes=5, agreed=model.agreed)   # agreed: None outside torchrun
    reading = budget.read(stop_requested)                 # after each optimiser step
    reading.spent, reading.stop, budget.share(reading, start)  # cosine-time's progress

The clock counts this process's training time, so a resumed run gets a fresh budget.
Under data parallelism `agreed` hands every rank the largest elapsed time and stop flag
of all ranks: all ranks must stop at the same step and, under cosine-time, use the same lr.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

Agree = Callable[[tuple[float, float]], tuple[float, float]]


@dataclass(frozen=True)
class Reading:
    elapsed: float  # seconds since this process's training began (the largest over the ranks)
    stop: bool  # a stop (Ctrl-C, SIGTERM) was asked for, here or on another rank
    spent: bool  # the budget, if any, is used up


class TimeBudget:
    def __init__(self, minutes: Optional[float], agreed: Optional[Agree] = None) -> None:
        self.minutes = minutes
        self.seconds = 60.0 * minutes if minutes else None
        self.agreed = agreed
        self.started = time.perf_counter()

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def read(self, stop_requested: bool = False) -> Reading:
        elapsed, stop = time.perf_counter() - self.started, float(stop_requested)
        if self.agreed is not None:
            elapsed, stop = self.agreed((elapsed, stop))
        return Reading(elapsed, stop > 0, self.seconds is not None and elapsed > self.seconds)

    def share(self, reading: Reading, start: float = 0.0) -> float:
        """cosine-time's progress: from `start` when the budget begins to 1 when it is spent
        (a little past 1 in the step that spends it)."""
        if self.seconds is None:
            raise ValueError("a share of the time budget needs --minutes")
        return start + (1.0 - start) * reading.elapsed / self.seconds
