"""Optimisers, gradient clipping and learning-rate schedules, with PyTorch's update rules.

An optimiser holds a flat dict `params` of arrays and updates them IN PLACE (the
arrays a model holds stay the same objects); `step(grads)` takes a dict with the same
keys (a key missing from `grads` is skipped, as PyTorch skips `grad is None`).
`lr` is a plain attribute that schedules (or you) may change between steps.

Checkpointing: `arrays, scalars = opt.state_dict()` gives NumPy arrays (the moment
buffers, named "<buffer>.<param name>") and JSON-able scalars (type, hyperparameters,
step counts); `opt.load_state_dict(arrays, scalars)` resumes exactly.

Left out: AdamW / amsgrad / maximize / parameter groups (one lr for all parameters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Optional

import numpy as np

Arrays = dict[str, np.ndarray]


class Optimizer:
    """Shared bookkeeping: params, per-parameter buffers and step counts, scratch space."""

    name = "optimizer"
    buffers: tuple[str, ...] = ()  # per-parameter state arrays, e.g. ("exp_avg", "exp_avg_sq")
    hyper: tuple[str, ...] = ()  # hyperparameter attribute names saved in state_dict

    def __init__(self, params: Mapping[str, np.ndarray], lr: float) -> None:
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        self.params: dict[str, np.ndarray] = dict(params)
        self.lr = float(lr)
        self.state: dict[str, Arrays] = {b: {} for b in self.buffers}  # buffer -> name -> array
        self.steps: dict[str, int] = {}  # name -> updates so far
        self._scratch: dict[tuple, np.ndarray] = {}

    # -- the update ---------------------------------------------------------------------
    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        unknown = set(grads) - set(self.params)
        if unknown:
            raise KeyError(f"gradients for unknown parameters: {sorted(unknown)}")
        for name, param in self.params.items():
            grad = grads.get(name)
            if grad is None:
                continue
            self.steps[name] = self.steps.get(name, 0) + 1
            self._update(name, param, grad)

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------
    def _buffer(self, kind: str, name: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        buf = self.state[kind].get(name)
        if buf is None:
            buf = self.state[kind][name] = np.full_like(like, fill)
        return buf

    def _tmp(self, slot: int, like: np.ndarray) -> np.ndarray:
        """A scratch array shaped like `like`, reused across parameters and steps."""
        key = (slot, like.dtype.str)
        flat = self._scratch.get(key)
        if flat is None or flat.size < like.size:
            flat = self._scratch[key] = np.empty(like.size, dtype=like.dtype)
        return flat[: like.size].reshape(like.shape)

    def _decayed(self, param: np.ndarray, grad: np.ndarray, weight_decay: float) -> np.ndarray:
        """g + weight_decay * p in a scratch array (the caller's gradient is left untouched)."""
        if weight_decay == 0:
            return grad
        out = self._tmp(0, param)
        np.multiply(param, weight_decay, out=out)
        out += grad
        return out

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> tuple[Arrays, dict]:
        arrays = {
            f"{kind}.{name}": buf.copy() for kind, per_param in self.state.items() for name, buf in per_param.items()
        }
        scalars = {"type": self.name, "lr": self.lr, "steps": dict(self.steps)}
        for h in self.hyper:
            value = getattr(self, h)
            scalars[h] = list(value) if isinstance(value, tuple) else value
        return arrays, scalars

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], scalars: Mapping) -> None:
        if scalars.get("type") != self.name:
            raise ValueError(f"state is for optimizer {scalars.get('type')!r}, not {self.name!r}")
        self.lr = float(scalars["lr"])
        self.steps = {str(k): int(v) for k, v in scalars["steps"].items()}
        for h in self.hyper:
            value = scalars[h]
            setattr(self, h, tuple(value) if isinstance(value, list) else value)
        self.state = {b: {} for b in self.buffers}
        for key, value in arrays.items():
            kind, _, name = key.partition(".")
            if kind not in self.state or name not in self.params:
                raise KeyError(f"unexpected optimizer state {key!r}")
            self.state[kind][name] = np.array(value, dtype=self.params[name].dtype).reshape(self.params[name].shape)


class SGD(Optimizer):
    """torch.optim.SGD:
    g = grad + wd * p
    b = g (first step) else momentum * b + (1 - dampening) * g
    g = g + momentum * b if nesterov else b          (when momentum != 0)
    p -= lr * g
    """

    name = "sgd"
    buffers = ("momentum_buffer",)
    hyper = ("momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, name, param, grad):
        d_p = self._decayed(param, grad, self.weight_decay)
        if self.momentum != 0:
            buf = self.state["momentum_buffer"].get(name)
            if buf is None:
                buf = self.state["momentum_buffer"][name] = d_p.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * d_p if self.dampening else d_p
            if self.nesterov:
                tmp = self._tmp(1, param)
                np.multiply(buf, self.momentum, out=tmp)
                tmp += d_p
                d_p = tmp
            else:
                d_p = buf
        tmp = self._tmp(2, param)
        np.multiply(d_p, self.lr, out=tmp)
        param -= tmp


class Adam(Optimizer):
    """torch.optim.Adam (amsgrad=False):
    g = grad + wd * p;   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    name = "adam"
    buffers = ("exp_avg", "exp_avg_sq")
    hyper = ("betas", "eps", "weight_decay")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, name, param, grad):
        beta1, beta2 = self.betas
        t = self.steps[name]
        g = self._decayed(param, grad, self.weight_decay)
        m = self._buffer("exp_avg", name, param)
        v = self._buffer("exp_avg_sq", name, param)
        tmp = self._tmp(1, param)
        # m.lerp_(g, 1 - b1): m += (g - m) * (1 - b1)
        np.subtract(g, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp
        # v = b2 v + (1 - b2) g^2
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        step_size = self.lr / (1 - beta1**t)
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        np.sqrt(v, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += self.eps  # denom
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        param -= tmp


class RMSprop(Optimizer):
    """torch.optim.RMSprop:
    g = grad + wd * p;   v = alpha v + (1 - alpha) g^2
    centered: a = alpha a + (1 - alpha) g,  denom = sqrt(v - a^2) + eps;  else sqrt(v) + eps
    momentum > 0: b = momentum b + g / denom,  p -= lr b;   else p -= lr g / denom
    """

    name = "rmsprop"
    buffers = ("square_avg", "grad_avg", "momentum_buffer")
    hyper = ("alpha", "eps", "momentum", "weight_decay", "centered")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum
        self.weight_decay, self.centered = weight_decay, centered

    def _update(self, name, param, grad):
        g = self._decayed(param, grad, self.weight_decay)
        v = self._buffer("square_avg", name, param)
        tmp = self._tmp(1, param)
        v *= self.alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.alpha
        v += tmp
        denom = self._tmp(2, param)
        if self.centered:
            a = self._buffer("grad_avg", name, param)
            np.subtract(g, a, out=tmp)  # a.lerp_(g, 1 - alpha)
            tmp *= 1 - self.alpha
            a += tmp
            np.multiply(a, a, out=tmp)
            np.subtract(v, tmp, out=denom)
            np.sqrt(denom, out=denom)
        else:
            np.sqrt(v, out=denom)
        denom += self.eps
        if self.momentum > 0:
            buf = self._buffer("momentum_buffer", name, param)
            buf *= self.momentum
            np.divide(g, denom, out=tmp)
            buf += tmp
            np.multiply(buf, self.lr, out=tmp)
        else:
            np.divide(g, denom, out=tmp)
            tmp *= self.lr
        param -= tmp


class Adagrad(Optimizer):
    """torch.optim.Adagrad:
    g = grad + wd * p;   s += g^2;   clr = lr / (1 + (t - 1) lr_decay)
    p -= clr * g / (sqrt(s) + eps)
    """

    name = "adagrad"
    buffers = ("sum",)
    hyper = ("eps", "weight_decay", "lr_decay", "initial_accumulator_value")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-2,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        lr_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.eps, self.weight_decay = eps, weight_decay
        self.lr_decay, self.initial_accumulator_value = lr_decay, initial_accumulator_value

    def _update(self, name, param, grad):
        g = self._decayed(param, grad, self.weight_decay)
        s = self._buffer("sum", name, param, fill=self.initial_accumulator_value)
        clr = self.lr / (1 + (self.steps[name] - 1) * self.lr_decay)
        tmp = self._tmp(1, param)
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= clr
        param -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float, eps: float = 1e-6) -> float:
    """Scales all gradients in place so their global L2 norm is at most `max_norm`.

    As torch.nn.utils.clip_grad_norm_: total = sqrt(sum_i ||g_i||^2); every g_i is
    multiplied by max_norm / (total + eps) when that factor is < 1 (eps=0: d2l's
    grad_clipping, theta / norm when norm > theta). Returns `total`
    (before clipping; nan/inf if some gradient is not finite).
    """
    squares = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        squares += float(np.dot(flat, flat))
    total = math.sqrt(squares)
    coef = max_norm / (total + eps)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total


# -- learning-rate schedules ---------------------------------------------------------------
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
    time budget (q = the share of it spent), with total_steps the longest the curve may take.
    The largest q seen is kept (`time_progress`), so the curve never climbs back.
    """

    name = "cosine"
    fields = ("total_steps", "min_lr", "time_progress")

    def __init__(self, optimizer: Optimizer, total_steps: int, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.total_steps, self.min_lr = total_steps, min_lr
        self.time_progress = 0.0

    @property
    def progress(self) -> float:
        """Where on the curve the last step left the learning rate, in [0, 1]."""
        return max(min(self.last_epoch, self.total_steps) / self.total_steps, self.time_progress)

    def step(self, progress: Optional[float] = None) -> float:
        self.last_epoch += 1
        if progress is not None:
            self.time_progress = max(self.time_progress, min(float(progress), 1.0))
        t = min(self.last_epoch, self.total_steps)
        if self.time_progress * self.total_steps > t:  # the budget is ahead of the steps
            cos = (1 + math.cos(math.pi * self.time_progress)) / 2
        else:
            cos = (1 + math.cos(math.pi * t / self.total_steps)) / 2
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
