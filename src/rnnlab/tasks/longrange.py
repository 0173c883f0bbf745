"""adding and copy: the two standard long-range memory tasks (generated data).

The adding problem (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015):

    step       1     2     3    ...   T/2  ...   T-1    T
    value     .42   .07   .91   ...   .33  ...   .58   .12      each U(0, 1)
    marker     0     1     0    ...    0   ...    1     0       one 1 in each half
    target                                              0.07 + 0.58   (read at step T only)

Input (T, B, 2) real features ("dense"); one regression output read at the last step;
mean squared error. Predicting the mean, 1.0, always gives MSE = Var(U + U) = 1/6 ≈ 0.167:
that is the baseline a model without memory cannot beat.

The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016):

    input    3 7 1 5 2  0 0 0 ... 0 0  9  0 0 0 0 0      K = 8 symbols 1..8, 0 blank, 9 = "go"
    target   . . . . .  . . . ... . .  .  3 7 1 5 2      read only at the last `copy_length` steps
             <-copy-->  <-- delay --> go  <- recall ->

One-hot input, softmax over the K symbols at the recall steps (cross-entropy there only).
A model that forgot the string can only guess: cross-entropy ln K, accuracy 1/K.

`--seq-len` is the sequence length T for adding and the delay for copy. Every epoch is
`--steps-per-epoch` fresh batches; validation and test sets are fixed (their own seeds).
Left out: the multiplication and XOR variants, variable-length sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.engine.losses import mean_squared_error, softmax_cross_entropy
from rnnlab.errors import UsageError
from rnnlab.models import ModelConfig
from rnnlab.tasks.base import ResumableSteps, Task
from rnnlab.tasks.options import Options, option

ADDING_BASELINE_MSE = 1.0 / 6.0  # Var(U(0,1) + U(0,1)): the MSE of always answering 1.0


def adding_batch(rng: np.random.Generator, seq_len: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """-> inputs (T, B, 2) float64 (value, marker), targets (B,) the sum of the two marked values.

    One marker in the first half, one in the second (T >= 2).

        >>> x, y = adding_batch(np.random.default_rng(0), 10, 3)
        >>> x.shape, y.shape, x[:, :, 1].sum(axis=0).tolist()
        ((10, 3, 2), (3,), [2.0, 2.0, 2.0])
    """
    half = seq_len // 2
    values = rng.uniform(0.0, 1.0, size=(seq_len, batch_size))  # (T, B)
    first = rng.integers(0, half, size=batch_size)  # (B,)
    second = rng.integers(half, seq_len, size=batch_size)  # (B,)
    columns = np.arange(batch_size)
    markers = np.zeros((seq_len, batch_size))  # (T, B)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    targets = values[first, columns] + values[second, columns]  # (B,)
    return np.stack([values, markers], axis=2), targets  # (T, B, 2), (B,)


def copy_batch(
    rng: np.random.Generator, delay: int, batch_size: int, copy_length: int, symbols: int
) -> tuple[np.ndarray, np.ndarray]:
    """-> inputs (T, B) ids, targets (copy_length, B) ids in 1..symbols; T = delay + 2*copy_length.

    Ids: 0 blank, 1..symbols the symbols, symbols+1 the "go" marker (the last delay step).
    """
    steps = delay + 2 * copy_length
    string = rng.integers(1, symbols + 1, size=(copy_length, batch_size))  # (C, B)
    inputs = np.zeros((steps, batch_size), dtype=np.int64)  # (T, B)
    inputs[:copy_length] = string
    inputs[copy_length + delay - 1] = symbols + 1
    return inputs, string


# ----------------------------------------------------------------------------------- options
@dataclass
class LongRangeOptions(Options):
    defaults = dict(hidden_size=64, batch_size=50, lr=1e-3, clip=1.0, epochs=15)

    steps_per_epoch: int = option(200, "training batches per epoch (fresh data each)")
    eval_size: int = option(1000, "sequences in the fixed validation and test sets")
    forget_bias: float = option(0.0, "initial forget-gate bias of cells that have one (1.0 helps memory)")

    def validate(self) -> None:
        super().validate()
        for name in ("steps_per_epoch", "eval_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.eval_size * self.seq_len > 10**8:
            raise UsageError(
                f"--eval-size {self.eval_size} x --seq-len {self.seq_len} is too large an evaluation "
                f"set to hold; use at most 10^8 steps in all"
            )
        if self.bptt_truncate is not None:
            raise UsageError("--bptt-truncate is not used by the long-range tasks: they test full backpropagation")


@dataclass
class AddingOptions(LongRangeOptions):
    defaults = dict(seq_len=100)
    field_help = dict(seq_len="sequence length T")

    def validate(self) -> None:
        super().validate()
        if self.seq_len < 2:
            raise UsageError(f"--seq-len must be at least 2 for the adding problem, got {self.seq_len}")


@dataclass
class CopyOptions(LongRangeOptions):
    defaults = dict(seq_len=50)
    field_help = dict(seq_len="delay: blank steps between the string and the recall")
    copy_length: int = option(5, "symbols to remember")
    symbols: int = option(8, "alphabet size K")

    def validate(self) -> None:
        super().validate()
        if self.copy_length < 1:
            raise UsageError(f"--copy-length must be a positive integer, got {self.copy_length}")
        if self.symbols < 2:
            raise UsageError(f"--symbols must be at least 2, got {self.symbols}")


# ------------------------------------------------------------------------------------- tasks
class LongRangeTask(Task):
    """What adding and copy share: generated batches, fixed evaluation sets, the model."""

    def __init__(self, options: LongRangeOptions, vocab_json=None, load_data: bool = True) -> None:
        super().__init__(options)
        self._val: Any = None
        self._test: Any = None  # fixed evaluation sets; not needed to load a model for inspection
        if load_data:
            self._val = self.make_batch(np.random.default_rng([options.seed, 2]), options.eval_size)
            self._test = self.make_batch(np.random.default_rng([options.seed, 3]), options.eval_size)

    def make_batch(self, rng: np.random.Generator, batch_size: int):
        raise NotImplementedError

    def model_kind(self) -> dict[str, Any]:
        raise NotImplementedError

    def model_config(self) -> ModelConfig:
        return self.options.model_config(**self.model_kind())

    def sampler(self):
        o = self.options
        return ResumableSteps(
            o.steps_per_epoch, lambda rng: self.make_batch(rng, o.batch_size), np.random.default_rng([o.seed, 1])
        )

    def probe_inputs(self, rng: np.random.Generator, batch_size: int, steps: int) -> np.ndarray:
        """Inputs of this task, `steps` long (for `rnnlab gradients --trained`)."""
        raise NotImplementedError

    def loss(self, batch, need_grad: bool):
        raise NotImplementedError

    def train_step(self, batch) -> tuple[float, int]:
        loss, _ = self.loss(batch, need_grad=True)
        count = batch[1].size
        return loss * count, count

    def _in_chunks(self, batch, chunk: int = 250) -> dict[str, float]:
        """Metrics over a fixed set, in chunks (no gradients), weighted by size."""
        inputs, targets = batch
        totals: dict[str, float] = {}
        size = targets.shape[-1]
        was_training = self.model.training
        self.model.eval()
        for start in range(0, size, chunk):
            part = (inputs[:, start : start + chunk], targets[..., start : start + chunk])
            _, metrics = self.loss(part, need_grad=False)
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + value * part[1].shape[-1] / size
        self.model.train(was_training)
        return totals


class Adding(LongRangeTask):
    """The adding problem: the sum of the two marked values of a long sequence."""

    name = "adding"
    Options = AddingOptions
    loss_name = "mse"

    def make_batch(self, rng, batch_size):
        inputs, targets = adding_batch(rng, self.options.seq_len, batch_size)
        return inputs.astype(self.options.dtype), targets.astype(self.options.dtype)

    def model_kind(self):
        return dict(input="dense", input_size=2, output_size=1)

    def probe_inputs(self, rng, batch_size, steps):
        if steps < 2:
            raise UsageError(f"the adding problem needs at least 2 steps, got {steps}")
        return adding_batch(rng, steps, batch_size)[0].astype(self.options.dtype)

    def loss(self, batch, need_grad):
        inputs, targets = batch  # (T, B, 2), (B,)
        outputs, _ = self.model.forward(inputs)  # (T, B, 1)
        loss, d_last = mean_squared_error(outputs[-1, :, 0], targets, need_grad=need_grad)  # (B,)
        if need_grad:
            d_outputs = np.zeros_like(outputs)  # (T, B, 1): only the last step is read
            d_outputs[-1, :, 0] = d_last
            self.model.backward(d_outputs)
        return loss, {"mse": loss}

    def evaluate(self) -> dict[str, float]:
        mse = self._in_chunks(self._val)["mse"]
        return {"val_loss": mse, "val_mse": mse}

    def finish(self, say) -> dict[str, Any]:
        mse = self._in_chunks(self._test)["mse"]
        baseline = float(np.mean((self._test[1] - 1.0) ** 2))
        say(f"test MSE {mse:.4g} (always answering 1.0: {baseline:.4g}; solved below 0.01)")
        return {"test_mse": mse, "baseline_mse": baseline, "solved": bool(mse < 0.01)}


class Copy(LongRangeTask):
    """The copy-memory task: recall a short symbol string after a long blank delay."""

    name = "copy"
    Options = CopyOptions
    loss_name = "xent"

    def make_batch(self, rng, batch_size):
        o = self.options
        return copy_batch(rng, o.seq_len, batch_size, o.copy_length, o.symbols)

    def model_kind(self):
        o = self.options
        return dict(input="onehot", input_size=o.symbols + 2, output_size=o.symbols)

    def probe_inputs(self, rng, batch_size, steps):
        o = self.options
        if steps <= 2 * o.copy_length:
            raise UsageError(f"copy sequences need more than {2 * o.copy_length} steps, got {steps}")
        return copy_batch(rng, steps - 2 * o.copy_length, batch_size, o.copy_length, o.symbols)[0]

    def loss(self, batch, need_grad):
        inputs, targets = batch  # (T, B) ids, (C, B) ids in 1..K
        copy_length, batch_size = targets.shape
        logits, _ = self.model.forward(inputs)  # (T, B, K)
        recall = logits[-copy_length:].reshape(copy_length * batch_size, -1)  # (C*B, K)
        classes = (targets - 1).reshape(-1)  # (C*B,) symbol k -> class k-1
        loss, d_recall = softmax_cross_entropy(recall, classes, need_grad=need_grad)
        if need_grad:
            d_logits = np.zeros_like(logits)  # (T, B, K): only the recall steps are read
            d_logits[-copy_length:] = d_recall.reshape(copy_length, batch_size, -1)
            self.model.backward(d_logits)
        accuracy = float(np.mean(recall.argmax(axis=1) == classes))
        return loss, {"loss": loss, "accuracy": accuracy}

    def evaluate(self) -> dict[str, float]:
        metrics = self._in_chunks(self._val)
        return {"val_loss": metrics["loss"], "accuracy": metrics["accuracy"]}

    def finish(self, say) -> dict[str, Any]:
        metrics = self._in_chunks(self._test)
        baseline = math.log(self.options.symbols)
        say(
            f"test recall accuracy {metrics['accuracy']:.4f}, cross-entropy {metrics['loss']:.4g} "
            f"(guessing: {1 / self.options.symbols:.3f}, {baseline:.4g})"
        )
        return {"test_accuracy": metrics["accuracy"], "test_loss": metrics["loss"], "baseline_loss": baseline}
