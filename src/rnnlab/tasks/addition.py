"""addition: add two binary numbers bit by bit with a sigmoid RNN (the iamtrask tutorial).

At step t the input is the pair of bits (a_t, b_t), least significant first, and the
target is bit t of a + b; the hidden state has to learn the carry:

    a = 9  -> 1 0 0 1 0 0 0 0    (LSB first, 8 steps)
    b = 60 -> 0 0 1 1 1 1 0 0
    a+b=69 -> 1 0 1 0 0 0 1 0    target at each step

The net is the original's: 2 -> 16 sigmoid RNN -> 1 sigmoid output, no biases, weights
uniform in [-1, 1), squared error 0.5 * sum_t (y_t - t_t)^2, plain SGD without clipping,
operands below 2^(bits-1) so the sum fits `bits`, one example per update, 10 epochs x
1000 updates. After every epoch it prints the original's lines for the epoch's first
example (error, predicted and true bits MSB first, "a + b = guess").

Presets:
- the default is the original with lr 0.5 (`--preset better` is the same): it learns the
  exact carry on every seed within the 10,000 updates;
- `--preset iamtrask` is the tutorial's program: lr 0.1 and its random draws (`--draws
  legacy`: NumPy's legacy generator seeded with `--seed`, the weights synapse_0, synapse_1,
  synapse_h drawn as 2*random(shape) - 1 in that order, W_ih = synapse_0^T, head = synapse_1^T,
  W_hh = synapse_h^T, then two randint(128) per update). Its printed lines are the tutorial's,
  digit for digit.

Evaluation: exact-match accuracy (every bit right) on all operand pairs below
2^(bits-1) (8 bits: 128 x 128 = 16,384 pairs in one batched forward); at the end also
on random pairs of longer operands (`--long-bits`, default 16, 32, 64) with the same
weights: n-bit operands run for n + 1 steps, the last step's input is (0, 0) and its
target the final carry. Long operands are drawn and summed as bit arrays (vectorised
carry propagation), never as integers, so 64 bits and more are exact.

Left out: the original's printing of the running weights; biases (`bias=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np

from rnnlab.errors import UsageError
from rnnlab.tasks.base import ResumableSteps, Task
from rnnlab.tasks.options import Options, option


@dataclass
class AdditionOptions(Options):
    # the original net
    # the original net; lr 0.5 where the original has 0.1 (--preset iamtrask)
    defaults = dict(
        cell="rnn",
        nonlinearity="sigmoid",
        hidden_size=16,
        init="uniform",
        init_scale=1.0,
        epochs=10,
        batch_size=1,
        lr=0.5,
        optimizer="sgd",
        clip=0.0,
        dtype="float64",
    )

    bits: int = option(8, "bits per training sequence (operands below 2^(bits-1), so the sum fits)")
    updates_per_epoch: int = option(1000, "updates (one example each) per epoch")
    long_bits: str = option("16,32,64", "after training, test on random operands of these lengths ('' = none)")
    test_pairs: int = option(10000, "random operand pairs per long-operand test")
    bias: bool = option(False, "biases in the recurrent layer and the output")
    draws: str = option(
        "generator",
        "random draws: generator (NumPy's Generator seeded with --seed; weights as --init "
        "says) or legacy (the iamtrask program's: np.random.seed(--seed), the weights "
        "2*random(shape)-1, then two randint(2^(bits-1)) per example)",
        choices=("generator", "legacy"),
    )

    def validate(self) -> None:
        super().validate()
        if not 2 <= self.bits <= 62:
            raise UsageError(f"--bits must be between 2 and 62, got {self.bits}")
        if self.updates_per_epoch < 1:
            raise UsageError(f"--updates-per-epoch must be a positive integer, got {self.updates_per_epoch}")
        if not 1 <= self.test_pairs <= 10**7:
            raise UsageError(f"--test-pairs must be between 1 and 10000000, got {self.test_pairs}")
        self.long_bit_lengths()  # raises on a bad list
        if self.draws == "legacy" and (self.cell != "rnn" or self.num_layers != 1 or self.bias):
            raise UsageError(
                "--draws legacy draws the iamtrask net's three weight matrices: it needs --cell rnn, "
                "--num-layers 1 and --no-bias"
            )

    def long_bit_lengths(self) -> tuple[int, ...]:
        try:
            lengths = tuple(int(part) for part in self.long_bits.split(",") if part.strip())
        except ValueError:
            raise UsageError(f"--long-bits must be comma-separated integers, got {self.long_bits!r}") from None
        if any(n < 1 or n > 4096 for n in lengths):
            raise UsageError(f"--long-bits lengths must be between 1 and 4096, got {self.long_bits!r}")
        return lengths


PRESETS: dict[str, dict[str, Any]] = {
    # the tutorial's program: its lr and its random draws, so its printed lines come out digit for digit
    "iamtrask": dict(lr=0.1, draws="legacy"),
    # the default (its earlier name): lr 0.5 learns the exact carry on every seed within 10,000 updates
    "better": dict(lr=0.5),
}


# ----------------------------------------------------------------------------- the loss
def sigmoid_squared_error(logits: np.ndarray, targets: np.ndarray, need_grad: bool = True):
    """The original's output layer and loss: y = sigmoid(z), L = 0.5 * sum((y - t)^2).

        dL/dz = (y - t) * y * (1 - y)

    Shapes: logits and targets alike, e.g. (T, B, 1). Returns (loss, dL/dz or None).
    """
    y = 1.0 / (1.0 + np.exp(-logits))  # (T, B, 1)
    error = targets - y  # (T, B, 1)
    loss = 0.5 * float(np.vdot(error.reshape(-1), error.reshape(-1)))
    if not need_grad:
        return loss, None
    return loss, -(error * (y * (1.0 - y)))  # the original's product order: its output delta, negated


# ------------------------------------------------------------------------ bit arithmetic
def add_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits of a + b (LSB first) by carry propagation: a, b (n, N) in {0, 1} -> (n + 1, N)."""
    n, count = a.shape
    total = np.empty((n + 1, count), dtype=np.int8)  # (n+1, N)
    carry = np.zeros(count, dtype=np.int8)  # (N,)
    for k in range(n):
        s = a[k] + b[k] + carry  # (N,) in 0..3
        total[k] = s & 1
        carry = s >> 1
    total[n] = carry
    return total


def pair_inputs(a: np.ndarray, b: np.ndarray, steps: int, dtype) -> np.ndarray:
    """Operand bits a, b (n, N) -> inputs (steps, N, 2), zero-padded after bit n."""
    n, count = a.shape
    x = np.zeros((steps, count, 2), dtype=dtype)  # (T, N, 2)
    x[:n, :, 0], x[:n, :, 1] = a, b
    return x


def bits_to_str(bits) -> str:
    """LSB-first bits -> the original's display: MSB first, '[0 1 0 0 0 1 0 1]'."""
    return "[" + " ".join(str(int(v)) for v in bits[::-1]) + "]"


def bits_to_int(bits) -> int:
    return sum(int(v) << k for k, v in enumerate(bits))


# ------------------------------------------------------------------ the tutorial's draws
def legacy_weights(generator: np.random.RandomState, hidden: int):
    """The iamtrask program's weights, drawn in its order: synapse_0 (2, H), synapse_1 (H, 1), synapse_h (H, H).

    They are W_ih^T, head.weight^T and W_hh^T of our net.
    """
    synapse_0 = 2 * generator.random_sample((2, hidden)) - 1
    synapse_1 = 2 * generator.random_sample((hidden, 1)) - 1
    synapse_h = 2 * generator.random_sample((hidden, hidden)) - 1
    return synapse_0, synapse_1, synapse_h


class LegacySteps(ResumableSteps):
    """ResumableSteps on NumPy's legacy RandomState (the stream of `np.random.seed`), its state JSON-able."""

    def state(self) -> dict:
        rng = cast(np.random.RandomState, self.rng).get_state(legacy=False)
        rng["state"]["key"] = rng["state"]["key"].tolist()
        return {"kind": "legacy", "epoch": self.epoch_index, "batch": self._batch, "rng": rng}

    def set_state(self, state: dict) -> None:
        if state.get("kind") != "legacy":
            raise UsageError(
                "saved data position does not belong to these settings; resume with the same task and --draws"
            )
        self.epoch_index, self._batch = int(state["epoch"]), int(state["batch"])
        cast(np.random.RandomState, self.rng).set_state(state["rng"])


# ------------------------------------------------------------------------------ the task
class Addition(Task):
    """Binary addition with a sigmoid RNN (iamtrask)."""

    name = "addition"
    Options = AdditionOptions
    presets = PRESETS
    loss_name = "error"

    def __init__(self, options: AdditionOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        bits = options.bits
        self.dtype = np.dtype(options.dtype)
        self._shifts = np.arange(bits, dtype=np.int64)  # (T,)
        self._bound = 1 << (bits - 1)  # operands in [0, bound)
        self._shown: Optional[tuple] = None  # (inputs, targets, outputs) of the first example since the last report

    def model_inputs(self) -> dict[str, Any]:
        return dict(input="dense", input_size=2, output_size=1)

    def build_model(self, backend: str = "numpy") -> None:
        super().build_model(backend)
        if self.options.draws == "legacy":
            synapse_0, synapse_1, synapse_h = legacy_weights(
                np.random.RandomState(self.options.seed), self.options.hidden_size
            )
            params = self.model.params
            params["rnn.weight_ih_l0"][...] = synapse_0.T
            params["rnn.weight_hh_l0"][...] = synapse_h.T
            params["head.weight"][...] = synapse_1.T

    # -- training -------------------------------------------------------------------------
    def make_batch(self, rng):
        """batch_size random pairs below 2^(bits-1) -> inputs (T, B, 2), targets (T, B, 1).

        `rng` is a Generator, or a legacy RandomState (--draws legacy): then each pair is the
        tutorial's two calls, a = randint(bound), b = randint(bound)."""
        if isinstance(rng, np.random.RandomState):
            pairs = np.array(
                [[rng.randint(self._bound), rng.randint(self._bound)] for _ in range(self.options.batch_size)],
                dtype=np.int64,
            )  # (B, 2)
        else:
            pairs = rng.integers(0, self._bound, size=(self.options.batch_size, 2))  # (B, 2)
        x = ((pairs[None, :, :] >> self._shifts[:, None, None]) & 1).astype(self.dtype)  # (T, B, 2)
        sums = pairs.sum(axis=1)  # (B,)
        t = ((sums[None, :] >> self._shifts[:, None]) & 1).astype(self.dtype)[:, :, None]  # (T, B, 1)
        return x, t

    def sampler(self):
        if self.options.draws == "legacy":  # the operands follow the weights in the tutorial's stream
            generator = np.random.RandomState(self.options.seed)
            legacy_weights(generator, self.options.hidden_size)
            return LegacySteps(self.options.updates_per_epoch, self.make_batch, generator)
        return ResumableSteps(
            self.options.updates_per_epoch, self.make_batch, np.random.default_rng([self.options.seed, 1])
        )

    def train_step(self, batch) -> tuple[float, int]:
        inputs, targets = batch
        logits, _ = self.model.forward(inputs)  # (T, B, 1)
        loss, d_logits = sigmoid_squared_error(logits, targets)
        self.model.backward(d_logits, bptt_truncate=self.options.bptt_truncate)
        if self._shown is None:
            self._shown = (inputs[:, 0], targets[:, 0, 0], 1.0 / (1.0 + np.exp(-logits[:, 0, 0])))
        return loss, inputs.shape[1]

    # -- evaluation -----------------------------------------------------------------------
    def logits(self, a: np.ndarray, b: np.ndarray, steps: int, chunk: int = 1024) -> np.ndarray:
        """Output logits (steps, N) for operand bits a, b (n, N).

        Batched in chunks of 1024 pairs: as fast as one big forward on an idle machine, and
        much faster on a busy one, where multithreaded BLAS on large products stalls.
        """
        count = a.shape[1]
        out = np.empty((steps, count), dtype=self.dtype)  # (T, N)
        for start in range(0, count, chunk):
            part = slice(start, start + chunk)
            logits, _ = self.model.forward(pair_inputs(a[:, part], b[:, part], steps, self.dtype))  # (T, n, 1)
            out[:, part] = logits[:, :, 0]
        return out

    def table(self):
        """Every operand pair below 2^(bits-1) (all of them up to 9 bits, else 10,000 random pairs)."""
        bits = self.options.bits
        if bits <= 9:
            values = np.arange(self._bound, dtype=np.int64)
            a_int, b_int = (v.reshape(-1) for v in np.meshgrid(values, values, indexing="ij"))  # (N,) each
        else:
            rng = np.random.default_rng([self.options.seed, 2])
            a_int, b_int = rng.integers(0, self._bound, size=(2, self.options.test_pairs))
        a = ((a_int[None, :] >> self._shifts[:, None]) & 1).astype(np.int8)  # (T, N)
        b = ((b_int[None, :] >> self._shifts[:, None]) & 1).astype(np.int8)  # (T, N)
        return a, b

    def evaluate(self) -> dict[str, float]:
        a, b = self.table()
        bits = self.options.bits
        truth = add_bits(a, b)[:bits]  # (T, N): the sum fits in `bits`
        logits = self.logits(a, b, bits)  # (T, N)
        loss, _ = sigmoid_squared_error(logits, truth.astype(self.dtype), need_grad=False)
        guess = logits > 0  # sigmoid(z) > 0.5
        return {"val_loss": loss / a.shape[1], "accuracy": float(np.mean(np.all(guess == truth, axis=0)))}

    def long_accuracy(self, n_bits: int) -> float:
        """Exact-match accuracy on test_pairs random n-bit operand pairs (n + 1 steps)."""
        rng = np.random.default_rng([self.options.seed, 3, n_bits])
        a = rng.integers(0, 2, size=(n_bits, self.options.test_pairs), dtype=np.int8)  # (n, N)
        b = rng.integers(0, 2, size=(n_bits, self.options.test_pairs), dtype=np.int8)  # (n, N)
        truth = add_bits(a, b)  # (n+1, N)
        guess = self.logits(a, b, n_bits + 1) > 0  # (n+1, N)
        return float(np.mean(np.all(guess == truth, axis=0)))

    def on_evaluation(self, epoch: int, metrics: dict[str, float], say) -> None:
        """The original's five lines, for the first training example since the last report."""
        if self._shown is None:
            return
        inputs, targets, y = self._shown  # (T, 2), (T,), (T,)
        self._shown = None
        error = 0.0
        for t in range(len(y)):  # summed in time order, as the original's overallError
            error += abs(targets[t] - y[t])
        pred = np.round(y).astype(int)  # as the original: round(y_t)
        a, b = inputs[:, 0].astype(int), inputs[:, 1].astype(int)
        say("Error:" + str(np.array([error])))  # NumPy's formatting: "Error:[3.45638663]"
        say(f"Pred:{bits_to_str(pred)}")
        say(f"True:{bits_to_str(targets.astype(int))}")
        say(f"{bits_to_int(a)} + {bits_to_int(b)} = {bits_to_int(pred)}")
        say("------------")

    def finish(self, say) -> dict[str, Any]:
        bits = self.options.bits
        final = {f"accuracy_{bits}bit": self.evaluate()["accuracy"]}
        for n_bits in self.options.long_bit_lengths():
            final[f"accuracy_{n_bits}bit"] = self.long_accuracy(n_bits)
        say("exact-match accuracy: " + ", ".join(f"{k.split('_')[1]} {v:.2%}" for k, v in final.items()))
        return final
