"""What every task shares: its options dataclass, and the interface the training loop calls.

A task owns its data, builds its model from a `ModelConfig`, and knows how to take
one training step on a batch, evaluate, and report. The training loop (train.py)
owns everything else: optimiser, schedule, clipping, checkpoints, progress, resume.

    task = TASKS["charlm"](CharLMOptions(hidden_size=128))
    batches = task.sampler()                  # resumable: state() / set_state()
    for batch in batches.epoch():
        task.model.zero_grad()
        loss_sum, count = task.train_step(batch)   # forward + backward
        ...
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

import numpy as np

from rnnlab.errors import UsageError
from rnnlab.models import ModelConfig, NumpyModel


def option(default: Any, help: str, **extra: Any):
    """A dataclass field with a help text (the CLI turns each field into a flag)."""
    return field(default=default, metadata={"help": help, **extra})


SCHEDULES = ("none", "step", "plateau", "cosine", "cosine-time")
SCHEDULE_HELP = ("learning-rate schedule: none, step (x --lr-factor every --step-size epochs), plateau "
                 "(x --lr-factor when validation stalls), cosine (to 0 over --epochs), cosine-time (to 0 over "
                 "the --minutes budget, or over --epochs if they end first; it follows the clock, so those "
                 "runs are not bit-reproducible)")


@dataclass
class CommonOptions:
    """Settings every task takes (flags common to all `rnnlab train` tasks)."""

    cell: str = option("lstm", "recurrent cell", choices=("rnn", "lstm", "gru"))
    nonlinearity: str = option("tanh", "RNN cell nonlinearity", choices=("tanh", "relu", "sigmoid"))
    layers: int = option(1, "number of recurrent layers")
    hidden: int = option(128, "hidden units per layer")
    dropout: float = option(0.0, "dropout on inputs, between layers and before the head")
    weight_dropout: float = option(0.0, "dropout on the recurrent weights W_hh (DropConnect), one mask per batch")
    epochs: int = option(10, "training epochs")
    batch_size: int = option(32, "sequences per batch")
    seq_len: int = option(35, "time steps per training window", aliases=("--bptt",))
    bptt_truncate: Optional[int] = option(None, "let gradients flow back at most K steps from each output")
    lr: float = option(1e-3, "learning rate")
    optimizer: str = option("adam", "optimiser", choices=("sgd", "adam", "rmsprop", "adagrad"))
    momentum: float = option(0.0, "SGD/RMSprop momentum")
    weight_decay: float = option(0.0, "L2 weight decay")
    clip: float = option(5.0, "clip gradients to this global L2 norm (0: off)")
    schedule: str = option("none", SCHEDULE_HELP, choices=SCHEDULES)
    lr_factor: float = option(0.25, "plateau: multiply lr by this when validation stalls; step: gamma")
    step_size: int = option(10, "step schedule: epochs between decays")
    eval_every: int = option(1, "evaluate (and checkpoint) every N epochs")
    minutes: Optional[float] = option(None, "time budget: after this many minutes of training, evaluate, "
                                            "checkpoint and stop (--resume continues)")
    seed: int = option(0, "random seed (weights, batches, dropout)")
    dtype: str = option("float32", "floating-point type", choices=("float32", "float64"))

    def validate(self) -> None:
        """UsageError for settings that cannot work, naming the flag."""
        positive = {"layers": "--layers", "hidden": "--hidden", "epochs": "--epochs",
                    "batch_size": "--batch-size", "seq_len": "--seq-len", "eval_every": "--eval-every",
                    "step_size": "--step-size"}
        for name, flag in positive.items():
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise UsageError(f"--lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.weight_dropout < 1.0:
            raise UsageError(f"--weight-dropout must be in [0, 1), got {self.weight_dropout!r}")
        if self.clip < 0 or not np.isfinite(self.clip):
            raise UsageError(f"--clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        if self.bptt_truncate is not None and self.bptt_truncate < 0:
            raise UsageError(f"--bptt-truncate must be >= 0, got {self.bptt_truncate!r}")
        if not 0.0 < self.lr_factor <= 1.0:
            raise UsageError(f"--lr-factor must be in (0, 1], got {self.lr_factor!r}")
        if self.minutes is not None and not (self.minutes > 0 and np.isfinite(self.minutes)):
            raise UsageError(f"--minutes must be a positive number, got {self.minutes!r}")
        if self.schedule == "cosine-time" and self.minutes is None:
            raise UsageError("--schedule cosine-time anneals over a time budget: give one with --minutes")
        if self.nonlinearity == "sigmoid" and self.cell != "rnn":
            raise UsageError("--nonlinearity sigmoid applies to --cell rnn only")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CommonOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown settings for this task: {', '.join(unknown)}")
        return cls(**data)


class ResumableSteps:
    """A sampler for generated data: `batches_per_epoch` batches drawn by `make_batch(rng)`.

    Its state is the epoch, the batch within it and the generator's current state, so a
    run resumed mid-epoch draws exactly the batches it would have drawn.
    """

    carries_state = False

    def __init__(self, batches_per_epoch: int, make_batch, rng: np.random.Generator) -> None:
        self.batches_per_epoch, self.make_batch, self.rng = batches_per_epoch, make_batch, rng
        self.epoch_index, self._batch = 0, 0

    def __len__(self) -> int:
        return self.batches_per_epoch

    def epoch(self):
        while self._batch < self.batches_per_epoch:
            self._batch += 1
            yield self.make_batch(self.rng)
        self.epoch_index, self._batch = self.epoch_index + 1, 0

    def state(self) -> dict:
        return {"kind": "generated", "epoch": self.epoch_index, "batch": self._batch,
                "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        if state.get("kind") != "generated":
            raise UsageError("saved data position does not belong to this task; resume with the same task")
        self.epoch_index, self._batch = int(state["epoch"]), int(state["batch"])
        self.rng.bit_generator.state = state["rng"]


class Task:
    """Base of every task. Subclasses set `name`, `Options`, and implement the hooks below."""

    name = ""
    Options = CommonOptions
    loss_name = "loss"  # what the progress bar calls the training loss
    reports_perplexity = False  # language models: show exp(loss)

    def __init__(self, options: CommonOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        options.validate()
        self.options = options
        self.rng = np.random.default_rng(options.seed)
        self.model: Optional[NumpyModel] = None
        self.vocab = None

    # -- building ----------------------------------------------------------------------
    def model_config(self) -> ModelConfig:
        raise NotImplementedError

    def build_model(self, backend: str = "numpy") -> None:
        config = self.model_config()
        try:
            config.validate()
        except ValueError as error:
            raise UsageError(f"impossible model settings: {error}") from None
        if backend == "numpy":
            self.model = NumpyModel(config, seed=self.options.seed)
        else:
            from rnnlab.backends import build_model

            self.model = build_model(config, backend, seed=self.options.seed)

    # -- training ----------------------------------------------------------------------
    def sampler(self):
        """A resumable sampler: `epoch()`, `len()`, `state()`, `set_state()`."""
        raise NotImplementedError

    def train_step(self, batch) -> Tuple[float, int]:
        """Forward and backward on one batch (gradients added into model.grads) -> (loss sum, count)."""
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        """Validation metrics; `val_loss` (if present) picks the best checkpoint and drives plateau schedules."""
        return {}

    def on_evaluation(self, epoch: int, metrics: Dict[str, float], say) -> None:
        """Show something after an evaluation (samples, predicted bits); `say` prints unless --quiet."""

    def finish(self, say) -> Dict[str, Any]:
        """Final metrics after training (test perplexity, accuracy...), printed and saved."""
        return {}

    # -- state beyond the weights: the hidden state carried between batches ----------------
    carried_state = None  # tasks that carry state set it: h, or (h, c) for the LSTM; saved with checkpoints

    def extra_arrays(self) -> Dict[str, np.ndarray]:
        state = self.carried_state
        if state is None:
            return {}
        return {"h": state[0], "c": state[1]} if isinstance(state, tuple) else {"h": state}

    def load_extra_arrays(self, arrays: Dict[str, np.ndarray]) -> None:
        if "h" not in arrays:
            self.carried_state = None
        elif "c" in arrays:
            self.carried_state = (np.array(arrays["h"]), np.array(arrays["c"]))
        else:
            self.carried_state = np.array(arrays["h"])

    def extra_meta(self) -> Dict[str, Any]:
        """JSON-able things a checkpoint must hold to rebuild the task (e.g. the vocabulary)."""
        return {"vocab": self.vocab.to_json()} if self.vocab is not None else {}
