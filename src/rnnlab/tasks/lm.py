"""Language models over a token stream: what charlm and wordlm share.

Training: one (X, Y) window at a time, Y the next token of X; softmax cross-entropy
averaged over the window; when the sampler's rows continue from batch to batch the
final hidden state is carried into the next batch as a plain array (so no gradient
flows across the cut: truncated BPTT, as `repackage_hidden` does in PyTorch).

Evaluation: the whole held-out stream in columns (batchify), windows in order, state
carried; perplexity = exp(mean cross-entropy per token). Dynamic evaluation (Krause
et al. 2018) reads the stream in one column and takes an SGD step on each window
after scoring it, so the model adapts to the text it has read so far.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from rnnlab.data import BpttWindows, batchify
from rnnlab.engine.optim import SGD
from rnnlab.errors import UsageError
from rnnlab.tasks.base import Task


def _detached(state):
    """A copy of the recurrent state that the next window starts from (no gradient link)."""
    if state is None:
        return None
    return tuple(np.array(s) for s in state) if isinstance(state, tuple) else np.array(state)


class LanguageModelTask(Task):
    reports_perplexity = True
    reads_stream = True  # trained on a token stream (dynamic evaluation applies)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.carried_state = None  # the hidden state carried between consecutive batches
        # this epoch's sum of batch losses and batch count (d2l's perplexity is exp of their ratio)
        self.epoch_loss_sum, self.epoch_batches = 0.0, 0

    # -- training ------------------------------------------------------------------------
    def window_loss(self, inputs: np.ndarray, targets: np.ndarray, state, need_grad: bool):
        """Forward one window (and backward when need_grad) -> (mean loss, final state)."""
        return self.model.loss(inputs, targets, state, need_grad=need_grad, bptt_truncate=self.options.bptt_truncate)

    def train_step(self, batch) -> tuple[float, int]:
        inputs, targets = batch
        carries = getattr(self._sampler, "carries_state", False)
        # carried from batch to batch within an epoch; each epoch starts from zeros, as d2l and
        # pytorch's word_language_model do (the last state of an epoch belongs to another place in the text)
        state = self.carried_state if carries and not self._sampler.at_epoch_start else None
        if state is not None and _batch_of(state) != inputs.shape[1]:
            state = None
        loss, state = self.window_loss(inputs, targets, state, need_grad=True)
        if carries:
            self.carried_state = _detached(state)
        self.count_batch_loss(loss)
        return loss * targets.size, targets.size

    def count_batch_loss(self, loss: float) -> None:
        """Add one batch's mean loss to this epoch's sum (restarted at each epoch's first batch)."""
        if self._sampler.at_epoch_start:
            self.epoch_loss_sum, self.epoch_batches = 0.0, 0
        self.epoch_loss_sum += float(loss)
        self.epoch_batches += 1

    def sampler(self):
        self._sampler = self.make_sampler()
        return self._sampler

    def make_sampler(self):
        raise NotImplementedError

    def data_shard(self) -> dict[str, int]:
        """`rank=`, `world_size=` for the training sampler in data-parallel runs (torchrun), else {}."""
        world_size = getattr(self.model, "world_size", 1)
        return {"rank": self.model.rank, "world_size": world_size} if world_size > 1 else {}

    # -- evaluation ------------------------------------------------------------------------
    def stream_loss(self, ids: np.ndarray, batch_size: int) -> float:
        """Mean cross-entropy per token over a whole stream, state carried across windows."""
        batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
        windows = BpttWindows(batchify(ids, batch_size), self.options.seq_len)
        total, count, state = 0.0, 0, None
        was_training = self.model.training
        self.model.eval()
        for inputs, targets in windows.epoch():
            loss, state = self.window_loss(inputs, targets, state, need_grad=False)
            total, count = total + loss * targets.size, count + targets.size
        self.model.train(was_training)
        return total / max(count, 1)

    def dynamic_stream_loss(
        self, ids: np.ndarray, lr: float, decay: float = 0.0, window: Optional[int] = None
    ) -> float:
        """Mean cross-entropy per token over a stream read in order, adapting the weights as it goes.

        Dynamic evaluation (Krause et al. 2018, its SGD form with a pull back to the trained
        weights theta_0): one column, windows of `window` tokens (default: --seq-len), state
        carried, dropout off. Each window is scored first, then

            theta <- theta - lr * dL(window)/dtheta + decay * (theta_0 - theta)

        so every token is predicted by weights that have seen only the tokens before it.
        theta_0 is restored at the end, also when interrupted.
        """
        self.check_dynamic(lr, decay, window)
        params = self.model.params
        trained = {name: value.copy() for name, value in params.items()}
        sgd = SGD(params, lr)  # theta -= lr * grad, into reused work arrays
        windows = BpttWindows(batchify(ids, 1), window or self.options.seq_len)
        total, count, state = 0.0, 0, None
        was_training = self.model.training
        self.model.eval()
        try:
            for inputs, targets in windows.epoch():
                self.model.zero_grad()
                loss, state = self.window_loss(inputs, targets, state, need_grad=True)
                state = _detached(state)
                total, count = total + loss * targets.size, count + targets.size
                sgd.step(self.model.grads)
                if decay:
                    for name, value in params.items():
                        value += decay * (trained[name] - value)
        finally:
            self.model.load_state_dict(trained)
            self.model.zero_grad()
            self.model.train(was_training)
        return total / max(count, 1)

    def check_dynamic(self, lr: float, decay: float = 0.0, window: Optional[int] = None) -> None:
        """UsageError, naming the flag, for dynamic-evaluation settings that cannot work."""
        if not self.reads_stream:
            raise UsageError(
                f"dynamic evaluation needs a model of a token stream; this {self.name} run "
                f"was trained one sentence at a time"
            )
        if getattr(self.model, "backend", "numpy") != "numpy":
            raise UsageError("dynamic evaluation runs on the NumPy engine; drop --backend torch")
        if not (lr > 0 and math.isfinite(lr)):
            raise UsageError(f"--dynamic-lr must be a positive number, got {lr!r}")
        if not 0.0 <= decay < 1.0:
            raise UsageError(f"--dynamic-decay must be in [0, 1), got {decay!r}")
        if window is not None and window < 1:
            raise UsageError(f"--dynamic-window must be a positive integer, got {window!r}")

    def held_out_streams(self) -> dict[str, np.ndarray]:
        """The held-out token streams by metric prefix ({'val': ids, 'test': ids}); {} without data."""
        return {}

    @staticmethod
    def perplexity_metrics(prefix: str, loss: float) -> dict[str, float]:
        return {f"{prefix}_loss": loss, f"{prefix}_ppl": math.exp(min(loss, 50.0))}


def _batch_of(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[1]
