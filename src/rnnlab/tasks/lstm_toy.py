"""lstm-toy: fit four numbers with the first hidden unit of an LSTM (nicodjimenez/lstm).

The data is one sequence of T = 4 random inputs of 50 features (uniform [0, 1), drawn
from `--seed`) and one target per step, read from h_t[0], the first hidden unit:

    x_1 x_2 x_3 x_4      (4, 1, 50)   one sequence, batch 1
     |   |   |   |
    LSTM, 100 units       h_t (4, 1, 100)
     |   |   |   |
    h[0] at each step -> y (4, 1, 1)  vs targets [-0.5, 0.2, 0.1, -0.5]

Loss as in the original: L = sum_t (y_t - target_t)^2 (no 1/2), plain SGD at lr 0.1,
one update per iteration, 100 iterations (`--epochs` counts iterations here). It prints
the loss and the four outputs every `--eval-every` iterations and after the last one.

Differences from the original, on purpose:
- our LSTM is the standard one (PyTorch's): h_t = o * tanh(c_t); the original has no
  tanh on the cell (h_t = s_t * o), so its outputs are not bounded by 1;
- the readout h_t[0] is the model's linear head with a fixed weight e_0 (1 at unit 0,
  0 elsewhere) and bias 0; its gradients are zeroed after every backward, so it never
  moves (hence `--weight-decay` is refused: it would move it);
- weights uniform(-0.1, 0.1) as in the original; the gate biases keep PyTorch's
  init U(-0.1, 0.1) for each of b_ih and b_hh (with 100 units that bound is also 0.1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from rnnlab.errors import UsageError
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.tasks.base import ResumableSteps, Task
from rnnlab.tasks.options import Options, option


@dataclass
class LSTMToyOptions(Options):
    # the original: mem_cell_ct 100, SGD lr 0.1, 100 iterations
    defaults = dict(hidden_size=100, init="uniform", init_scale=0.1, epochs=100, eval_every=10, batch_size=1, lr=0.1,
                    optimizer="sgd", clip=0.0, dtype="float64")
    field_help = dict(hidden_size="hidden units (memory cells)",
                      epochs="iterations (one update on the whole sequence each)",
                      eval_every="print the loss and outputs every N iterations",
                      batch_size="sequences per batch (the toy has one)")
    field_aliases = dict(epochs=("--iterations",))

    targets: str = option("-0.5,0.2,0.1,-0.5", "comma-separated targets for h_t[0], one per step")
    x_dim: int = option(50, "features per random input vector")

    def validate(self) -> None:
        super().validate()
        if not get_cell(self.cell).has_cell_state:
            raise UsageError(f"lstm-toy is an LSTM demo; --cell must be a cell with a memory cell "
                             f"({', '.join(n for n in cell_names() if get_cell(n).has_cell_state)}), got {self.cell!r}")
        if self.batch_size != 1:
            raise UsageError(f"lstm-toy has one sequence; --batch-size must be 1, got {self.batch_size}")
        if self.x_dim < 1:
            raise UsageError(f"--x-dim must be a positive integer, got {self.x_dim}")
        if self.weight_decay != 0:
            raise UsageError("--weight-decay would move the fixed readout of lstm-toy; leave it at 0")
        self.target_values()  # raises on a bad list

    def target_values(self) -> np.ndarray:
        try:
            values = np.array([float(part) for part in self.targets.split(",") if part.strip()])
        except ValueError:
            raise UsageError(f"--targets must be comma-separated numbers, got {self.targets!r}") from None
        if values.size == 0 or not np.all(np.abs(values) < 1):
            raise UsageError(f"--targets needs at least one number, each in (-1, 1) (h = o*tanh(c) is), "
                             f"got {self.targets!r}")
        return values


# ----------------------------------------------------------------------------- the loss
def toy_squared_error(pred: np.ndarray, target: np.ndarray, need_grad: bool = True):
    """The original's ToyLossLayer: L = sum (pred - target)^2,  dL/dpred = 2 (pred - target)."""
    diff = pred - target                                       # (T, 1, 1)
    loss = float(np.vdot(diff.reshape(-1), diff.reshape(-1)))
    return loss, (2.0 * diff if need_grad else None)


class LSTMToy(Task):
    """Minimal LSTM demo: four random inputs, four targets on h[0] (nicodjimenez)."""

    name = "lstm-toy"
    Options = LSTMToyOptions

    def __init__(self, options: LSTMToyOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        dtype = np.dtype(options.dtype)
        targets = options.target_values()
        self.inputs = np.random.default_rng([options.seed, 1]).random((targets.size, 1, options.x_dim)).astype(dtype)
        self.targets = targets.astype(dtype).reshape(-1, 1, 1)  # (T, 1, 1)

    def model_inputs(self) -> Dict[str, Any]:
        return dict(input="dense", input_size=self.options.x_dim, output_size=1)

    def build_model(self, backend: str = "numpy") -> None:
        super().build_model(backend)
        params = self.model.params
        params["head.weight"][...] = 0.0  # the fixed readout y_t = h_t[0]
        params["head.weight"][0, 0] = 1.0
        params["head.bias"][...] = 0.0

    def _freeze_readout(self) -> None:
        for name in ("head.weight", "head.bias"):
            self.model.grads[name][...] = 0.0

    # -- training -------------------------------------------------------------------------
    def sampler(self):
        return ResumableSteps(1, lambda rng: (self.inputs, self.targets), np.random.default_rng(self.options.seed))

    def train_step(self, batch) -> Tuple[float, int]:
        inputs, targets = batch
        outputs, _ = self.model.forward(inputs)               # (T, 1, 1) = h_t[0]
        loss, d_outputs = toy_squared_error(outputs, targets)
        self.model.backward(d_outputs, bptt_truncate=self.options.bptt_truncate)
        self._freeze_readout()
        return loss, 1

    # -- evaluation -----------------------------------------------------------------------
    def outputs(self) -> np.ndarray:
        return self.model.forward(self.inputs)[0].reshape(-1)  # (T,)

    def evaluate(self) -> Dict[str, float]:
        outputs = self.outputs()
        loss, _ = toy_squared_error(outputs, self.targets.reshape(-1), need_grad=False)
        return {"loss": loss, "outputs": [float(v) for v in outputs]}

    def on_evaluation(self, epoch: int, metrics: Dict[str, float], say) -> None:
        shown = ", ".join(f"{v:+.5f}" for v in metrics["outputs"])
        say(f"iter {epoch:>4}  loss {metrics['loss']:.3e}  y_pred [{shown}]")

    def finish(self, say) -> Dict[str, Any]:
        final = self.evaluate()
        final["targets"] = [float(v) for v in self.targets.reshape(-1)]
        return final
