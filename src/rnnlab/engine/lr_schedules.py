"""Learning-rate schedules with PyTorch's rules: StepLR, CosineLR (to 0 over a number of
steps, or at a given share of the way), ReduceLROnPlateau. Each changes `optimizer.lr`; when
the training loop calls which is decided in rnnlab.schedules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .optim import Optimizer


class Schedule:
    """Base: `step()` once per epoch or per update (`step(metric)` for ReduceLROnPlateau), then
    read `optimizer.lr`. When the training loop calls which: rnnlab.schedules."""

    name = "schedule"
    fields: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def state_dict(self) -> dict:
        state = {"type": self.name, "base_lr": self.base_lr, "last_epoch": self.last_epoch}
        state.update({f: getattr(self, f) for f in self.fields})
        return state

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("type") != self.name:
            raise ValueError(f"state is for schedule {state.get('type')!r}, not {self.name!r}")
        for key, value in state.items():
            if key != "type":
                setattr(self, key, value)


class StepLR(Schedule):
    """lr *= gamma every `step_size` calls of step() (torch.optim.lr_scheduler.StepLR)."""

    name = "step"
    fields = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def step(self) -> float:
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            self.optimizer.lr *= self.gamma
        return self.optimizer.lr


class CosineLR(Schedule):
    """lr_t = min_lr + (base_lr - min_lr) (1 + cos(pi p)) / 2 at progress p = t / total_steps, then min_lr.

    As torch's CosineAnnealingLR(T_max=total_steps, eta_min=min_lr) for t <= total_steps
    (closed form; torch's recursive form differs by rounding only); after that it stays
    at min_lr instead of rising again.

    `step(progress=q)` puts the curve at least at q in [0, 1]: how a caller anneals over a
    time budget (q = the share of it spent), with total_steps the longest the curve may take
    (None: no step limit, the budget alone). The largest q seen is kept (`time_progress`), so
    the curve never climbs back.
    """

    name = "cosine"
    fields = ("total_steps", "min_lr", "time_progress")

    def __init__(self, optimizer: Optimizer, total_steps: Optional[int], min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.total_steps, self.min_lr = total_steps, min_lr
        self.time_progress = 0.0

    @property
    def progress(self) -> float:
        """Where on the curve the last step left the learning rate, in [0, 1]."""
        if self.total_steps is None:
            return self.time_progress
        return max(min(self.last_epoch, self.total_steps) / self.total_steps, self.time_progress)

    def step(self, progress: Optional[float] = None) -> float:
        self.last_epoch += 1
        if progress is not None:
            self.time_progress = max(self.time_progress, min(float(progress), 1.0))
        cos = (1 + math.cos(math.pi * self.progress)) / 2
        self.optimizer.lr = self.min_lr + (self.base_lr - self.min_lr) * cos
        return self.optimizer.lr


class ReduceLROnPlateau(Schedule):
    """Multiplies lr by `factor` when `metric` has not improved for more than `patience` calls.

    torch.optim.lr_scheduler.ReduceLROnPlateau semantics (mode "min"/"max", threshold
    mode "rel"/"abs", cooldown, min_lr, eps), with defaults for the classic recipes:
    factor=0.25, patience=0, threshold=0 is "lr / 4 whenever validation loss does not
    improve"; factor=0.5 is "halve when the loss rises".
    """

    name = "plateau"
    fields = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 0.25,
        patience: int = 0,
        threshold: float = 0.0,
        mode: str = "min",
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(optimizer)
        if factor >= 1.0:
            raise ValueError("factor should be < 1.0")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"bad mode {mode!r} / threshold_mode {threshold_mode!r}")
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, a: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metric: float) -> float:
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.optimizer.lr

    def state_dict(self) -> dict:
        state = super().state_dict()
        if math.isinf(self.best):  # JSON has no infinity: store it as a string
            state["best"] = "inf" if self.best > 0 else "-inf"
        return state

    def load_state_dict(self, state: Mapping) -> None:
        super().load_state_dict(state)
        self.best = float(self.best)


SCHEDULES = {"step": StepLR, "plateau": ReduceLROnPlateau, "cosine": CosineLR}
