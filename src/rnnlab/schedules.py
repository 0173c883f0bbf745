"""Learning-rate schedules as the training loop sees them: one interface, built in one place.

    schedule = make_schedule(options, optimizer, steps_per_epoch, budget)
    schedule.after_step(reading)              # after every optimiser step (budget.Reading)
    schedule.after_eval(val_loss, epoch_done) # after every evaluation
    schedule.state_dict() / load_state_dict(state)
    schedule.budget_note(run_dir)             # what to say when --minutes ran out

The loop never asks which schedule it has. Each adapts an engine schedule
(rnnlab.engine.optim) to when the loop calls it:
- none:        the learning rate stays;
- cosine:      per step, over --epochs (a resumed run with more --epochs stretches the curve);
- cosine-time: per step, over the time budget: the curve's position is the share of --minutes
               spent; a resumed run anneals the rest of its curve over its new budget;
- step, plateau: per epoch, after evaluations at epoch ends only (a mid-epoch evaluation, when
               the budget runs out, leaves them alone so a resumed run equals one never stopped).
The checkpoint holds the engine schedule's state (None for none), as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from rnnlab.budget import Reading, TimeBudget
from rnnlab.engine.lr_schedules import SCHEDULES


class LoopSchedule:
    """No schedule: the base every schedule refines."""

    engine: Any = None  # the engine schedule (rnnlab.engine.optim.Schedule), if any

    def after_step(self, reading: Reading) -> None:
        pass

    def after_eval(self, metric: Optional[float], epoch_done: bool) -> None:
        pass

    def state_dict(self) -> Optional[dict]:
        return self.engine.state_dict() if self.engine is not None else None

    def load_state_dict(self, state: Optional[Mapping]) -> None:
        if self.engine is not None and state:
            self.engine.load_state_dict(state)

    def budget_note(self, run_dir: Path) -> str:
        return f"continue with: rnnlab train --resume {run_dir}"


class PerEpoch(LoopSchedule):
    """step / plateau: one engine step per evaluation at an epoch's end (plateau reads the metric)."""

    def __init__(self, engine, uses_metric: bool) -> None:
        self.engine, self.uses_metric = engine, uses_metric

    def after_eval(self, metric: Optional[float], epoch_done: bool) -> None:
        if epoch_done:
            self.engine.step(metric) if self.uses_metric else self.engine.step()


class CosineOverSteps(LoopSchedule):
    """cosine: one engine step per optimiser step; the curve spans the run's steps as they are now."""

    def __init__(self, engine, total_steps: Optional[int]) -> None:
        self.engine, self.total_steps = engine, total_steps

    def after_step(self, reading: Reading) -> None:
        self.engine.step()

    def load_state_dict(self, state: Optional[Mapping]) -> None:
        super().load_state_dict(state)
        self.engine.total_steps = self.total_steps  # --epochs may have grown on resume


class CosineOverTime(CosineOverSteps):
    """cosine-time: the curve at the share of the budget spent. A fresh run goes from 0 at the start
    of its budget to 1 at its end; a resumed one from where it stopped to 1 over its new budget."""

    def __init__(self, engine, total_steps: Optional[int], budget: TimeBudget) -> None:
        super().__init__(engine, total_steps)
        self.budget = budget
        self.start = 0.0  # where on the curve this process began

    def after_step(self, reading: Reading) -> None:
        self.engine.step(progress=self.budget.share(reading, self.start))

    def load_state_dict(self, state: Optional[Mapping]) -> None:
        super().load_state_dict(state)
        self.start = self.engine.progress

    def budget_note(self, run_dir: Path) -> str:
        return "the learning rate has annealed to its minimum over it"


def make_schedule(options, optimizer, steps_per_epoch: int, budget: TimeBudget) -> LoopSchedule:
    """The schedule `options.schedule` names, for `optimizer` (engine or torch: both have `.lr`)."""
    kind = options.schedule
    if kind == "none":
        return LoopSchedule()
    if kind == "step":
        return PerEpoch(
            SCHEDULES["step"](optimizer, step_size=options.step_size, gamma=options.lr_factor), uses_metric=False
        )
    if kind == "plateau":
        return PerEpoch(SCHEDULES["plateau"](optimizer, factor=options.lr_factor), uses_metric=True)
    total = options.epochs * steps_per_epoch or None  # None: --epochs 0, the time budget alone
    if kind == "cosine":
        return CosineOverSteps(SCHEDULES["cosine"](optimizer, total_steps=total), total)
    if kind == "cosine-time":
        return CosineOverTime(SCHEDULES["cosine"](optimizer, total_steps=total), total, budget)
    raise ValueError(f"unknown schedule {kind!r}")
