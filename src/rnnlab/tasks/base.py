"""What every task shares: the interface the training loop calls (options: tasks/options.py).

A task owns its data, builds its model from a `ModelConfig`, and knows how to take
one training step on a batch, evaluate, and report. The training loop (train.py)
owns everything else: optimiser, schedule, clipping, checkpoints, progress, resume.

    >>> from rnnlab.tasks import TASKS
    >>> task = TASKS["charlm"](TASKS["charlm"].Options(hidden_size=16, max_chars=2000, batch_size=4))
    >>> task.build_model()
    >>> batches = task.sampler()                       # resumable: state() / set_state()
    >>> task.model.zero_grad()
    >>> loss_sum, count = task.train_step(next(iter(batches.epoch())))   # forward + backward
    >>> count == task.options.batch_size * task.options.seq_len
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from rnnlab.errors import UsageError
from rnnlab.models import ModelConfig, NumpyModel
from rnnlab.tasks.options import SCHEDULE_HELP, SCHEDULES, Options, option  # noqa: F401 (re-exported)

CommonOptions = Options  # the name earlier code imports
MEMORY_LIMIT = 16 * 2**30  # bytes: refuse models (weights, or one window's activations) estimated above this


def check_memory(config: ModelConfig, options: Options) -> None:
    """UsageError naming the flags when the weights or one training window's activations would not fit."""
    from rnnlab.engine.registry import get_cell

    itemsize = np.dtype(config.dtype).itemsize
    H, L, gates = config.hidden_size, config.num_layers, get_cell(config.cell).num_gates
    width = max(config.input_size if config.input == "dense" else config.embedding_size, H)
    weights = (L * gates * H * (width + H) + config.output_size * H) * itemsize * 3  # weights, grads, optimiser
    if weights > MEMORY_LIMIT:
        raise UsageError(
            f"--hidden-size {H} with --num-layers {L} makes {weights / 2**30:.0f} GiB of weights and "
            f"gradients; use a smaller --hidden-size"
        )
    window = options.seq_len * options.batch_size * L * H * (gates + 2) * itemsize
    if window > MEMORY_LIMIT:
        raise UsageError(
            f"--seq-len {options.seq_len} x --batch-size {options.batch_size} keeps "
            f"{window / 2**30:.0f} GiB of activations per window; use smaller ones"
        )


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
        return {
            "kind": "generated",
            "epoch": self.epoch_index,
            "batch": self._batch,
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict) -> None:
        if state.get("kind") != "generated":
            raise UsageError("saved data position does not belong to this task; resume with the same task")
        self.epoch_index, self._batch = int(state["epoch"]), int(state["batch"])
        self.rng.bit_generator.state = state["rng"]


class Task:
    """Base of every task. Subclasses set `name`, `Options`, and implement the hooks below."""

    name = ""
    Options = Options
    loss_name = "loss"  # what the progress bar calls the training loss
    reports_perplexity = False  # language models: show exp(loss)

    def __init__(self, options: CommonOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        options.validate()
        # Typed Any: each task reads the fields of its own Options subclass, and the model is a
        # NumpyModel or a torch-backend model, built by build_model before any step runs.
        self.options: Any = options
        self.rng = np.random.default_rng(options.seed)
        self.model: Any = None
        self.vocab: Any = None
        self.run_dir: Optional[Path] = None  # set by the Trainer: where a task may write its own files

    # -- building ----------------------------------------------------------------------
    def model_config(self) -> ModelConfig:
        """The options' ModelConfig, completed by what only the task knows (`model_inputs`)."""
        return self.options.model_config(**self.model_inputs())

    def model_inputs(self) -> dict[str, Any]:
        """What the options cannot say: input kind and sizes (`input=`, `input_size=`, `output_size=`)..."""
        raise NotImplementedError

    def build_model(self, backend: str = "numpy") -> None:
        config = self.model_config()
        try:
            config.validate()
        except ValueError as error:
            raise UsageError(f"impossible model settings: {error}") from None
        check_memory(config, self.options)
        if backend == "numpy":
            self.model = NumpyModel(config, seed=self.options.seed)
        else:
            from rnnlab.backends import build_model

            self.model = build_model(config, backend, seed=self.options.seed)

    # -- training ----------------------------------------------------------------------
    def sampler(self):
        """A resumable sampler: `epoch()`, `len()`, `state()`, `set_state()`."""
        raise NotImplementedError

    def train_step(self, batch) -> tuple[float, int]:
        """Forward and backward on one batch (gradients added into model.grads) -> (loss sum, count)."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Validation metrics; `val_loss` (if present) picks the best checkpoint and drives plateau schedules."""
        return {}

    def on_evaluation(self, epoch: int, metrics: dict[str, float], say) -> None:
        """Show something after an evaluation (samples, predicted bits); `say` prints unless --quiet."""

    def finish(self, say) -> dict[str, Any]:
        """Final metrics after training (test perplexity, accuracy...), printed and saved."""
        return {}

    # -- state beyond the weights: the hidden state carried between batches ----------------
    carried_state: Any = None  # tasks that carry state set it: h, or (h, c) for the LSTM; saved with checkpoints

    def extra_arrays(self) -> dict[str, np.ndarray]:
        state = self.carried_state
        if state is None:
            return {}
        return {"h": state[0], "c": state[1]} if isinstance(state, tuple) else {"h": state}

    def load_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if "h" not in arrays:
            self.carried_state = None
        elif "c" in arrays:
            self.carried_state = (np.array(arrays["h"]), np.array(arrays["c"]))
        else:
            self.carried_state = np.array(arrays["h"])

    def extra_meta(self) -> dict[str, Any]:
        """JSON-able things a checkpoint must hold to rebuild the task (e.g. the vocabulary)."""
        return {"vocab": self.vocab.to_json()} if self.vocab is not None else {}
