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

The default is the tutorial's cell (`--cell minimal-lstm`: s_t = g i + f s_{t-1},
h_t = o s_t, no tanh on the cell; one bias per gate, `--no-hidden-bias`), weights
uniform(-0.1, 0.1), with independent random draws for each gate. `--cell lstm` is the
standard LSTM (PyTorch's, h_t = o tanh(c_t)).

`--preset nicodjimenez` is the tutorial's program: its draws (`--draws legacy`: rand_arr
reseeds np.random.seed before each array, so the four gates start identical, then the
inputs), its arithmetic (`--arithmetic tutorial`, tasks/lstm_toy_tutorial.py: the
engine's batched products round differently, and over 100 iterations the tutorial's
12-digit losses would differ) and its printed lines (`--report tutorial`): every line
equals the program's.

The readout h_t[0] is the model's linear head with a fixed weight e_0 (1 at unit 0, 0
elsewhere) and bias 0; its gradients are zeroed after every backward, so it never moves
(hence `--weight-decay` is refused: it would move it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from rnnlab.engine.losses import sum_squared_error
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.errors import UsageError
from rnnlab.tasks.base import ResumableSteps, Task
from rnnlab.tasks.lstm_toy_tutorial import tutorial_step
from rnnlab.tasks.options import Options, option


@dataclass
class LSTMToyOptions(Options):
    # the original: its cell with one bias per gate, mem_cell_ct 100, uniform(-0.1, 0.1), SGD lr 0.1, 100 iterations
    defaults = dict(
        cell="minimal-lstm",
        hidden_bias=False,
        hidden_size=100,
        init="uniform",
        init_scale=0.1,
        epochs=100,
        eval_every=10,
        batch_size=1,
        lr=0.1,
        optimizer="sgd",
        clip=0.0,
        dtype="float64",
    )
    field_help = dict(
        hidden_size="hidden units (memory cells)",
        epochs="iterations (one update on the whole sequence each)",
        eval_every="print the loss and outputs every N iterations",
        batch_size="sequences per batch (the toy has one)",
    )
    field_aliases = dict(epochs=("--iterations",))

    targets: str = option("-0.5,0.2,0.1,-0.5", "comma-separated targets for h_t[0], one per step")
    x_dim: int = option(50, "features per random input vector")
    draws: str = option(
        "generator",
        "random draws: generator (NumPy's Generator seeded with --seed; weights as --init "
        "says) or legacy (the nicodjimenez program's: every weight matrix and bias "
        "block drawn after np.random.seed(--seed), so the gates start equal, then the "
        "inputs)",
        choices=("generator", "legacy"),
    )
    arithmetic: str = option(
        "engine",
        "how a step computes: engine (the NumPy engine's batched products) or tutorial "
        "(the nicodjimenez program's products in its order, for its printed digits; "
        "--cell minimal-lstm --no-hidden-bias)",
        choices=("engine", "tutorial"),
    )
    report: str = option(
        "summary",
        "what is printed: summary (loss and outputs every --eval-every iterations) or "
        "tutorial (every iteration's lines as the nicodjimenez program prints them)",
        choices=("summary", "tutorial"),
    )

    def validate(self) -> None:
        super().validate()
        if not get_cell(self.cell).has_cell_state:
            raise UsageError(
                f"lstm-toy is an LSTM demo; --cell must be a cell with a memory cell "
                f"({', '.join(n for n in cell_names() if get_cell(n).has_cell_state)}), got {self.cell!r}"
            )
        if self.batch_size != 1:
            raise UsageError(f"lstm-toy has one sequence; --batch-size must be 1, got {self.batch_size}")
        if self.x_dim < 1:
            raise UsageError(f"--x-dim must be a positive integer, got {self.x_dim}")
        if self.weight_decay != 0:
            raise UsageError("--weight-decay would move the fixed readout of lstm-toy; leave it at 0")
        self.target_values()  # raises on a bad list
        if self.arithmetic == "tutorial" and (
            self.cell != "minimal-lstm"
            or self.hidden_bias
            or self.num_layers != 1
            or self.dropout
            or self.bptt_truncate is not None
        ):
            raise UsageError(
                "--arithmetic tutorial is the nicodjimenez program's cell: it needs --cell minimal-lstm "
                "--no-hidden-bias, one layer, no dropout and no --bptt-truncate"
            )

    def target_values(self) -> np.ndarray:
        try:
            values = np.array([float(part) for part in self.targets.split(",") if part.strip()])
        except ValueError:
            raise UsageError(f"--targets must be comma-separated numbers, got {self.targets!r}") from None
        if values.size == 0 or not np.all(np.abs(values) < 1):
            raise UsageError(f"--targets needs at least one number, each in (-1, 1), got {self.targets!r}")
        return values


PRESETS: dict[str, dict[str, Any]] = {
    # the tutorial's program: its cell (one bias per gate), its draws and arithmetic, its printed lines. Its
    # start of identical gates ends at 2.4e-6 on seeds 0 and 1 but sticks at 0.05 on seed 2; the default's
    # independent draws per gate end at 1e-6 to 2e-6 on seeds 0-2
    # (one bias per gate, hidden_bias=False, is the default already: a bool in a preset would show in --help as
    # "--hidden-bias False", which is no flag)
    "nicodjimenez": dict(
        cell="minimal-lstm",
        draws="legacy",
        arithmetic="tutorial",
        report="tutorial",
        optimizer="sgd",
        lr=0.1,
        epochs=100,
    ),
}


def legacy_draws(seed: int, hidden: int, x_dim: int, steps: int, bound: float):
    """The nicodjimenez program's draws: (weight (H, I+H), bias (H,), inputs (steps, I)).

    Its rand_arr(a, b, *shape) calls np.random.seed before each draw, so every gate's weight
    matrix is the same `weight` and every gate's bias the same `bias`; the inputs come after
    the last reseed (the bias draw)."""
    low, high = -bound, bound
    weight = np.random.RandomState(seed).rand(hidden, x_dim + hidden) * (high - low) + low
    generator = np.random.RandomState(seed)
    bias = generator.rand(hidden) * (high - low) + low
    inputs = np.array([generator.random_sample(x_dim) for _ in range(steps)])
    return weight, bias, inputs


# ----------------------------------------------------------------------------- the loss
def toy_squared_error(pred: np.ndarray, target: np.ndarray, need_grad: bool = True):
    """The original's ToyLossLayer: L = sum (pred - target)^2,  dL/dpred = 2 (pred - target):
    twice the engine's sum_squared_error (scaling by 2 is exact in floating point)."""
    loss, grad = sum_squared_error(pred, target, need_grad)  # (T, 1, 1)
    return 2.0 * loss, (2.0 * grad if grad is not None else None)


class LSTMToy(Task):
    """Minimal LSTM demo: four random inputs, four targets on h[0] (nicodjimenez)."""

    name = "lstm-toy"
    Options = LSTMToyOptions
    presets = PRESETS

    def __init__(self, options: LSTMToyOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        dtype = np.dtype(options.dtype)
        targets = options.target_values()
        if options.draws == "legacy":
            self._legacy = legacy_draws(
                options.seed, options.hidden_size, options.x_dim, targets.size, options.init_scale
            )
            self.inputs = self._legacy[2][:, None, :].astype(dtype)  # (T, 1, I)
        else:
            self.inputs = (
                np.random.default_rng([options.seed, 1]).random((targets.size, 1, options.x_dim)).astype(dtype)
            )
        self.targets = targets.astype(dtype).reshape(-1, 1, 1)  # (T, 1, 1)
        self._lines: list = []  # --report tutorial: the lines of the iterations since the last evaluation
        self._steps: Optional[ResumableSteps] = None

    def model_inputs(self) -> dict[str, Any]:
        return dict(input="dense", input_size=self.options.x_dim, output_size=1)

    def build_model(self, backend: str = "numpy") -> None:
        super().build_model(backend)
        params = self.model.params
        params["head.weight"][...] = 0.0  # the fixed readout y_t = h_t[0]
        params["head.weight"][0, 0] = 1.0
        params["head.bias"][...] = 0.0
        if self.options.draws == "legacy":
            weight, bias, _ = self._legacy
            x_dim = self.options.x_dim
            for name in [n for n in params if n.startswith("rnn.")]:
                kind = name[len("rnn.") :].rsplit("_l", 1)[0]
                if kind in ("weight_ih", "weight_hh", "bias_ih"):
                    block = {"weight_ih": weight[:, :x_dim], "weight_hh": weight[:, x_dim:], "bias_ih": bias}[kind]
                    params[name][...] = np.concatenate([block] * (params[name].shape[0] // block.shape[0]))
                elif kind == "bias_hh":
                    params[name][...] = 0.0  # the program has one bias per gate

    def _freeze_readout(self) -> None:
        for name in ("head.weight", "head.bias"):
            self.model.grads[name][...] = 0.0

    # -- training -------------------------------------------------------------------------
    def sampler(self):
        self._steps = ResumableSteps(
            1, lambda rng: (self.inputs, self.targets), np.random.default_rng(self.options.seed)
        )
        return self._steps

    def train_step(self, batch) -> tuple[float, int]:
        inputs, targets = batch
        if self.options.arithmetic == "tutorial":
            loss, outputs = tutorial_step(self.model.params, self.model.grads, inputs[:, 0], targets[:, 0, 0])
        else:
            out, _ = self.model.forward(inputs)  # (T, 1, 1) = h_t[0]
            loss, d_outputs = toy_squared_error(out, targets)
            self.model.backward(d_outputs, bptt_truncate=self.options.bptt_truncate)
            self._freeze_readout()
            outputs = out.reshape(-1)
            loss = 0.0
            for value, target in zip(outputs[::-1], targets[::-1, 0, 0]):  # summed as the program sums it
                loss += (value - target) ** 2
        if self.options.report == "tutorial":
            iteration = self._steps.epoch_index if self._steps is not None else 0
            self._lines.append(f"cur iter:  {iteration}")
            self._lines += ["y_pred[%d] : %f" % (k, value) for k, value in enumerate(outputs)]  # noqa: UP031
            self._lines.append("loss:  " + "%.12g" % loss)  # noqa: UP031 (the 12 digits of Python 2's str)
        return float(loss), 1

    # -- evaluation -----------------------------------------------------------------------
    def outputs(self) -> np.ndarray:
        return self.model.forward(self.inputs)[0].reshape(-1)  # (T,)

    def evaluate(self) -> dict[str, float]:
        outputs = self.outputs()
        loss, _ = toy_squared_error(outputs, self.targets.reshape(-1), need_grad=False)
        return {"loss": loss, "outputs": [float(v) for v in outputs]}

    def on_evaluation(self, epoch: int, metrics: dict[str, Any], say) -> None:
        if self.options.report == "tutorial":
            for line in self._lines:
                say(line)
            self._lines = []
            return
        shown = ", ".join(f"{v:+.5f}" for v in metrics["outputs"])
        say(f"iter {epoch:>4}  loss {metrics['loss']:.3e}  y_pred [{shown}]")

    def finish(self, say) -> dict[str, Any]:
        final: dict[str, Any] = dict(self.evaluate())
        final["targets"] = [float(v) for v in self.targets.reshape(-1)]
        return final
