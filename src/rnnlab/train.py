"""The training loop: one loop, fixed phases, exact resume.

    for each epoch:
        for each batch:   forward + backward (task.train_step) -> clip -> optimiser step
                          -> schedule.after_step (sets the lr of the next step) -> progress;
                          stop cleanly between steps on Ctrl-C / SIGTERM or when --minutes ran out
        every eval_every epochs: evaluate -> schedule.after_eval -> checkpoint last (and best) -> log
    finish: final metrics -> final.json, plot

The loop does not know which schedule it has (rnnlab.schedules) nor how the time budget is
read (rnnlab.budget); progress lines or bars come from rnnlab.progress.

A run folder holds `config.json`, `metrics.jsonl`, `checkpoints/{last,best}.safetensors`
and `curves.png`. A checkpoint holds everything the loop needs to continue exactly:
weights, optimiser and schedule state, the sampler's position and RNG, dropout RNGs,
carried hidden state, step counters. Resumed runs end with the same weights as
uninterrupted ones.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from rnnlab.budget import TimeBudget
from rnnlab.checkpoint import load_checkpoint, save_checkpoint, split_prefix, with_prefix
from rnnlab.engine.optim import OPTIMIZERS, clip_grad_norm
from rnnlab.errors import UsageError
from rnnlab.progress import epoch_progress
from rnnlab.schedules import make_schedule
from rnnlab.tasks.base import Task


class TrainingStopped(Exception):
    """Raised after a clean stop (Ctrl-C, SIGTERM): a checkpoint was written (by rank 0, under torchrun)."""

    def __init__(self, message: str, run_dir: Path, is_writer: bool = True) -> None:
        super().__init__(message)
        self.run_dir, self.is_writer = run_dir, is_writer


class LossNotFinite(Exception):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


def make_optimizer(options, params, model=None):
    """The configured optimiser: the NumPy engine's, or torch.optim's for a torch model (same settings)."""
    kwargs = {"lr": options.lr, "weight_decay": options.weight_decay}
    if options.optimizer in ("sgd", "rmsprop"):
        kwargs["momentum"] = options.momentum
    if options.optimizer == "rmsprop":  # torch.optim.RMSprop's names; Keras's rho is alpha, its epsilon eps
        kwargs["alpha"], kwargs["eps"] = options.rmsprop_alpha, options.rmsprop_eps
    if getattr(model, "backend", "numpy") == "torch":
        return model.make_optimizer(options.optimizer, **kwargs)
    return OPTIMIZERS[options.optimizer](params, **kwargs)


def clip_gradients(model, max_norm: float, eps: float = 1e-6) -> float:
    """Scale the model's gradients to global L2 norm <= max_norm: by max_norm / (norm + eps)
    (torch's clip_grad_norm_, whose eps is 1e-6, for torch models)."""
    if getattr(model, "backend", "numpy") == "torch":
        if eps != 1e-6:
            raise UsageError(
                f"--clip-eps {eps:g} runs on the NumPy engine (torch's clip_grad_norm_ adds 1e-6); "
                f"drop --backend torch or --clip-eps"
            )
        return model.clip_grad_norm(max_norm)
    return clip_grad_norm(model.grads, max_norm, eps)


class Trainer:
    """Runs a task's training in a run folder; `fit()` returns the final metrics."""

    def __init__(
        self,
        task: Task,
        run_dir: Path,
        quiet: bool = False,
        progress: bool = True,
        tensorboard: Optional[str] = None,
        is_writer: bool = True,
    ) -> None:
        self.task, self.run_dir, self.quiet = task, Path(run_dir), quiet
        task.run_dir = self.run_dir  # where a task may write its own files (plots)
        self.show_progress = progress and not quiet
        self.is_writer = is_writer  # data-parallel ranks other than 0 write nothing
        assert task.model is not None, "build the task's model first (task.build_model())"
        self.model: Any = task.model  # a NumpyModel or a backends model: the same methods, duck-typed
        self.sampler = task.sampler()
        self.optimizer = make_optimizer(task.options, self.model.params, self.model)
        # --minutes counts this process's training time, so a resumed run gets a fresh budget
        self.budget = TimeBudget(getattr(task.options, "minutes", None), getattr(self.model, "agreed", None))
        self.schedule = make_schedule(task.options, self.optimizer, len(self.sampler), self.budget)
        self.epoch, self.step, self.seconds = 0, 0, 0.0
        self.best_val: Optional[float] = None
        self.history: list = []
        self._stop_signal: Optional[int] = None
        self.out_of_time = False
        self._writer = None
        if tensorboard and is_writer:
            self._writer = _tensorboard_writer(tensorboard)

    def say(self, text: str) -> None:
        if not self.quiet and self.is_writer:
            print(text, flush=True)

    # ------------------------------------------------------------------- checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def save(self, name: str) -> None:
        if not self.is_writer:
            return
        optim_arrays, optim_scalars = self.optimizer.state_dict()
        tensors = {
            **with_prefix(self.model.state_dict(), "model"),
            **with_prefix(optim_arrays, "optim"),
            **with_prefix(self.task.extra_arrays(), "extra"),
        }
        meta = {
            "task": self.task.name,
            "options": asdict(self.task.options),
            "model": self.model.config.to_dict(),
            "backend": getattr(self.model, "backend", "numpy"),
            "optimizer": optim_scalars,
            "schedule": self.schedule.state_dict(),
            "sampler": self.sampler.state(),
            "rngs": {name: rng.bit_generator.state for name, rng in self.model.rngs().items()},
            "epoch": self.epoch,
            "step": self.step,
            "seconds": self.seconds,
            "best_val": self.best_val,
            "history": self.history,
            **self.task.extra_meta(),
        }
        save_checkpoint(self.checkpoint_dir / f"{name}.safetensors", tensors, meta)

    def restore(self, name: str = "last") -> None:
        """Continue from a checkpoint of this run (weights, optimiser, data position, RNGs)."""
        tensors, meta = load_checkpoint(self.checkpoint_dir / f"{name}.safetensors")
        from rnnlab.tasks import saved_task  # a run saved under an old task name (wordlm --mode sentence)

        if saved_task(str(meta.get("task")), meta.get("options") or {})[0] != self.task.name:
            raise UsageError(f"checkpoint is for task {meta.get('task')!r}, not {self.task.name!r}")
        try:
            self.model.load_state_dict(split_prefix(tensors, "model"))
            self.optimizer.load_state_dict(split_prefix(tensors, "optim"), meta["optimizer"])
        except (KeyError, ValueError) as error:
            raise UsageError(f"checkpoint does not match this model: {error}") from None
        self.schedule.load_state_dict(meta.get("schedule"))
        self.sampler.set_state(meta["sampler"])
        if meta.get("backend", "numpy") == getattr(self.model, "backend", "numpy"):  # engines draw differently
            for rng_name, rng in self.model.rngs().items():
                rng.bit_generator.state = meta["rngs"][rng_name]
        self.task.load_extra_arrays(split_prefix(tensors, "extra"))
        self.epoch, self.step, self.seconds = meta["epoch"], meta["step"], meta["seconds"]
        self.best_val, self.history = meta["best_val"], meta["history"]

    # --------------------------------------------------------------------------- loop
    def _request_stop(self, signum, frame) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum

    def fit(self) -> dict[str, Any]:
        options = self.task.options
        handlers = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handler, Ctrl-C raises as usual
                handlers[signum] = signal.signal(signum, self._request_stop)
        try:
            while options.epochs == 0 or self.epoch < options.epochs:  # 0: until the budget is spent
                self._train_epoch()
                if self.out_of_time:  # mid-epoch: evaluate and checkpoint where we are, then stop
                    self._evaluate_and_checkpoint(epoch_done=False)
                    self.say(
                        f"time budget of {options.minutes:g} minutes reached in epoch {self.epoch + 1} "
                        f"(step {self.step}); " + self.schedule.budget_note(self.run_dir)
                    )
                    break
                self.epoch += 1
                last = self.epoch == options.epochs
                spent = self.budget.limited and self.budget.read().spent  # at the epoch's end
                if self.epoch % options.eval_every == 0 or last or spent:
                    self._evaluate_and_checkpoint()
                if spent and not last:
                    self.say(
                        f"time budget of {options.minutes:g} minutes reached at the end of epoch {self.epoch} "
                        f"(step {self.step}); " + self.schedule.budget_note(self.run_dir)
                    )
                    break
            final = self._finish()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            if self._writer is not None:
                self._writer.close()
        return final

    def _train_epoch(self) -> None:
        options, model, task = self.task.options, self.model, self.task
        model.train()
        total_loss, total_count, started = 0.0, 0, time.perf_counter()
        position = self.sampler.state().get("batch", 0)
        progress = epoch_progress(
            len(self.sampler),
            self.epoch,
            options.epochs,
            done=position,
            enabled=self.show_progress and self.is_writer,
            loss_name=task.loss_name,
        )
        for served, batch in enumerate(self.sampler.epoch(), start=position + 1):
            # forward + backward (the lr was set by the schedule after the previous step)
            model.zero_grad()
            loss_sum, count = task.train_step(batch)
            if not math.isfinite(loss_sum):
                raise LossNotFinite(
                    f"training loss became {loss_sum} at epoch {self.epoch + 1}, step {self.step + 1}; "
                    f"stopped, the last good checkpoint is kept in {self.checkpoint_dir}; "
                    f"try a lower --lr or a smaller --clip"
                )
            # clip
            if options.clip > 0:
                clip_gradients(model, options.clip, getattr(options, "clip_eps", 1e-6))
            # step, then the lr for the next step
            self.optimizer.step(model.grads)
            reading = self.budget.read(self._stop_signal is not None)
            self.schedule.after_step(reading)
            self.step += 1
            # log
            total_loss, total_count = total_loss + loss_sum, total_count + count
            mean = total_loss / max(total_count, 1)
            if task.reports_perplexity:
                progress.update(mean, math.exp(min(mean, 50)), total_count / max(time.perf_counter() - started, 1e-9))
            else:
                progress.update(mean)
            # stop between steps: asked to (a checkpoint here), or out of time (the caller evaluates)
            if reading.stop:
                self.seconds += time.perf_counter() - started
                progress.close()
                self.save("last")
                raise TrainingStopped(
                    f"stopped at epoch {self.epoch + 1}, step {self.step}; checkpoint saved in {self.checkpoint_dir}",
                    self.run_dir,
                    self.is_writer,
                )
            if reading.spent:
                self.out_of_time = served < len(self.sampler)  # at the epoch's last batch it simply ends
                if self.out_of_time:
                    break
        progress.close()
        self.seconds += time.perf_counter() - started
        self._epoch_train = {
            "train_loss": total_loss / max(total_count, 1),
            "tokens_per_s": total_count / max(time.perf_counter() - started, 1e-9),
        }

    def _evaluate_and_checkpoint(self, epoch_done: bool = True) -> None:
        """Evaluate, log, save `last` (and `best`). Mid-epoch (time budget) the epoch-based
        schedules are left alone, so a budgeted run resumed trains exactly like one never stopped."""
        metrics = {"epoch": self.epoch, "step": self.step, "lr": self.optimizer.lr, **self._epoch_train}
        if self.task.reports_perplexity:
            metrics["train_ppl"] = math.exp(min(metrics["train_loss"], 50))
        self.model.eval()
        metrics.update(self.task.evaluate())
        self.model.train()
        metrics["seconds"] = self.seconds
        val = metrics.get("val_loss")
        improved = val is not None and (self.best_val is None or val < self.best_val)
        self.schedule.after_eval(val, epoch_done)
        if improved:
            self.best_val = val
        self.history.append(metrics)
        self.save("last")
        if improved or val is None:
            self.save("best")
        self._log(metrics)
        self.say(_summary(metrics))
        self.task.on_evaluation(self.epoch, metrics, self.say)

    def _log(self, metrics: dict[str, Any]) -> None:
        if not self.is_writer:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(metrics) + "\n")
        if self._writer is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self._writer.add_scalar(key, value, metrics["step"])

    def _finish(self) -> dict[str, Any]:
        self.model.eval()
        final = {"task": self.task.name, "epochs": self.epoch, "steps": self.step}
        if self.history:
            final.update({k: v for k, v in self.history[-1].items() if k not in ("epoch", "step", "lr")})
        final.update(self.task.finish(self.say))
        final["seconds"] = round(self.seconds, 3)
        final["run_dir"] = str(self.run_dir)
        if self.is_writer:
            (self.run_dir / "final.json").write_text(json.dumps(final, indent=2) + "\n")
            from rnnlab.plots import plot_history

            if plot_history(self.history, self.run_dir / "curves.png", self.task.name) is None and self.history:
                self.say("curves.png skipped: plots need matplotlib (pip install 'rnnlab[plot]')")
        return final


def _summary(metrics: dict[str, Any]) -> str:
    parts = [f"epoch {metrics['epoch']:>3}"]
    for key in ("train_loss", "train_ppl", "val_loss", "val_ppl", "val_mse", "accuracy", "lr"):
        if key in metrics:
            parts.append(f"{key} {metrics[key]:.4g}")
    parts.append(f"{metrics['seconds']:.1f}s")
    return " | ".join(parts)


def _tensorboard_writer(log_dir: str):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UsageError(
                "--tensorboard needs the tensorboardX package: pip install 'rnnlab[tensorboard]'"
            ) from None
    return SummaryWriter(log_dir)
