"""torch.optim behind the NumPy engine optimiser's interface, for TorchModel training.

    optimizer = TorchOptimizer("adam", model.named_parameters(), lr=1e-3)
    optimizer.step(model.grads)            # grads ignored: they are in the tensors' .grad
    arrays, scalars = optimizer.state_dict()

State is saved under the NumPy optimiser's names (buffer "exp_avg.rnn.weight_ih_l0",
per-parameter step counts, hyperparameters), so a checkpoint's optimiser state loads on
either engine: SGD (momentum), Adam, RMSprop, Adagrad.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim import optimizer as torch_optimizer_module

from rnnlab.engine.optim import OPTIMIZERS
from rnnlab.errors import UsageError

TORCH_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


class TorchOptimizer:
    """torch.optim.<name> behind the NumPy engine optimiser's interface (rnnlab.engine.optim).

    `lr` is a plain-looking attribute the schedules change; `step(grads)` ignores `grads`
    (the gradients are in the tensors); `state_dict() -> (arrays, scalars)` uses the NumPy
    optimiser's names ("exp_avg.rnn.weight_ih_l0", steps per parameter, hyperparameters),
    so optimiser state moves between the engines with the weights.
    """

    def __init__(self, name: str, named: dict[str, torch.Tensor], **settings) -> None:
        if name not in TORCH_OPTIMIZERS:
            raise UsageError(f"unknown optimiser {name!r}")
        self.name = name
        self.hyper = OPTIMIZERS[name].hyper
        self.buffers = OPTIMIZERS[name].buffers
        self.named = dict(named)
        self.optimizer = TORCH_OPTIMIZERS[name](list(self.named.values()), **settings)
        self.steps: dict[str, int] = {}

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = float(value)

    def step(self, grads=None) -> None:
        for name, p in self.named.items():
            if p.grad is not None:
                self.steps[name] = self.steps.get(name, 0) + 1
        self.optimizer.step()

    def state_dict(self):
        arrays = {}
        for name, p in self.named.items():
            for kind, value in self.optimizer.state.get(p, {}).items():
                if kind in self.buffers and torch.is_tensor(value):
                    arrays[f"{kind}.{name}"] = value.detach().cpu().numpy().copy()
        group = self.optimizer.param_groups[0]
        scalars = {"type": self.name, "lr": self.lr, "steps": dict(self.steps)}
        for h in self.hyper:
            scalars[h] = list(group[h]) if isinstance(group[h], tuple) else group[h]
        return arrays, scalars

    def load_state_dict(self, arrays, scalars) -> None:
        if scalars.get("type") != self.name:
            raise ValueError(f"state is for optimizer {scalars.get('type')!r}, not {self.name!r}")
        self.steps = {str(k): int(v) for k, v in scalars["steps"].items()}
        for group in self.optimizer.param_groups:
            group["lr"] = float(scalars["lr"])
            for h in self.hyper:
                group[h] = tuple(scalars[h]) if isinstance(scalars[h], list) else scalars[h]
        buffers: dict[str, dict] = {name: {} for name in self.named}
        for key, value in arrays.items():
            kind, _, name = key.partition(".")
            if kind not in self.buffers or name not in self.named:
                raise KeyError(f"unexpected optimizer state {key!r}")
            p = self.named[name]
            buffers[name][kind] = (
                torch.from_numpy(np.array(value)).to(device=p.device, dtype=p.dtype).reshape(p.shape).clone()
            )
        scalar_dtype = getattr(torch_optimizer_module, "_get_scalar_dtype", lambda: torch.float32)()
        self.optimizer.state.clear()
        for name, p in self.named.items():
            state = dict(buffers[name])
            count = self.steps.get(name, 0)
            if self.name == "adagrad" and "sum" not in state:  # torch keeps an accumulator from the start
                initial = self.optimizer.param_groups[0]["initial_accumulator_value"]
                state["sum"] = torch.full_like(p, initial, memory_format=torch.preserve_format)
            if self.name != "sgd" and (state or count):
                if (
                    self.name in ("adam", "rmsprop")
                    and count
                    and not all(b in state for b in _required_buffers(self.name, self.optimizer.param_groups[0]))
                ):
                    raise ValueError(f"optimizer state for {name} is incomplete")
                state["step"] = torch.tensor(float(count), dtype=scalar_dtype)
            if state:
                self.optimizer.state[p] = state


def _required_buffers(name: str, group: dict):
    if name == "adam":
        return ("exp_avg", "exp_avg_sq")
    needed = ["square_avg"]
    if group.get("momentum", 0) > 0:
        needed.append("momentum_buffer")
    if group.get("centered"):
        needed.append("grad_avg")
    return tuple(needed)
