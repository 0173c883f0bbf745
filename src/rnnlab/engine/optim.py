"""Optimisers and gradient clipping, with PyTorch's update rules (schedules: lr_schedules.py).

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
