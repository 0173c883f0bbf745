"""The Python API: what the CLI calls, usable from a notebook.

import rnnlab.api as rl
result = rl.train("charlm", corpus="tinyshakespeare", hidden_size=128, epochs=1, run_dir="runs/demo")
task = rl.load("runs/demo")                       # the model, vocabulary and options of a run
print(rl.generate(task, "ROMEO:", length=100, temperature=0.8, seed=1))
print(rl.evaluate(task, text_path="my.txt"))      # perplexity on any text
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from rnnlab import __version__
from rnnlab.checkpoint import VERSION, config_version, load_checkpoint, split_prefix, upgrade
from rnnlab.errors import UsageError
from rnnlab.tasks import TASKS, saved_task
from rnnlab.tasks.options import field_defaults
from rnnlab.train import Trainer

RunLike = Union[str, Path]


def make_options(task_name: str, preset: Optional[str] = None, **settings: Any):
    """The task's options: its defaults, then the preset, then `settings` (old names accepted).

    >>> make_options("charlm", hidden=64).hidden_size
    64
    >>> type(make_options("wordlm", mode="sentence")).__name__
    'WordLMSentenceOptions'
    """
    task_name, settings = saved_task(task_name, settings)
    if task_name not in TASKS:
        raise UsageError(f"unknown task {task_name!r}; choose one of: {', '.join(sorted(TASKS))}")
    task_class = TASKS[task_name]
    values: dict[str, Any] = {}
    if preset is not None:
        presets = getattr(task_class, "presets", {})
        if preset not in presets:
            raise UsageError(f"task {task_name} has no preset {preset!r}; presets: {', '.join(presets) or 'none'}")
        values.update(presets[preset])
    values.update(settings)
    schedule = values.get("schedule", field_defaults(task_class.Options)["schedule"])
    if schedule == "cosine-time" and "epochs" not in values:
        values["epochs"] = 0  # a time budget with no epoch count: train until it is spent
    known = {f.name for f in fields(task_class.Options)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"{task_name} has no setting(s) {', '.join(unknown)}; see `rnnlab train {task_name} --help`")
    return task_class.Options(**values)


def task_name_of(task_name: str, settings: dict[str, Any]) -> str:
    """The task `task_name` with `settings` is today (`wordlm` with mode="sentence" is wordlm-sentence)."""
    return saved_task(task_name, settings)[0]


def run_options(run_dir: RunLike) -> tuple[str, dict[str, Any]]:
    """(task name, options) of a run folder, in today's names: config.json, then the last checkpoint's
    epochs and minutes (what a resume may have changed)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    settings = dict(config["options"])
    last = run_dir / "checkpoints" / "last.safetensors"
    if last.exists():
        _, meta = load_checkpoint(last)
        latest = meta.get("options") or {}
        for name in ("epochs", "minutes"):  # what a resume may change: the checkpoint has the latest
            if name in latest:
                settings[name] = latest[name]
    return saved_task(config["task"], settings)


def default_run_dir(task_name: str) -> Path:
    return Path("runs") / f"{task_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    task_name: str,
    preset: Optional[str] = None,
    run_dir: Optional[RunLike] = None,
    quiet: bool = False,
    progress: bool = True,
    tensorboard: Optional[str] = None,
    backend: str = "numpy",
    device: str = "auto",
    amp: Optional[str] = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train a task in a new run folder; returns the final metrics (also in <run>/final.json)."""
    options = make_options(task_name, preset, **settings)
    task_name = task_name_of(task_name, settings)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(task_name)
    if (run_dir / "checkpoints").exists() or (run_dir / "config.json").exists():
        raise UsageError(
            f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} or choose another --run-dir"
        )
    task = TASKS[task_name](options)
    _build(task, backend, device, amp)
    trainer = Trainer(
        task,
        run_dir,
        quiet=quiet,
        progress=progress,
        tensorboard=tensorboard,
        is_writer=getattr(task.model, "is_writer", True),
    )
    if trainer.is_writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "rnnlab": __version__,
            "format_version": VERSION,
            "task": task_name,
            "backend": backend,
            "options": asdict(options),
            "model": task.model.config.to_dict(),
            "command": sys.argv,
        }
        (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _describe(trainer, task, quiet)
    return trainer.fit()


def resume(
    run_dir: RunLike,
    epochs: Optional[int] = None,
    minutes: Optional[float] = None,
    quiet: bool = False,
    progress: bool = True,
    tensorboard: Optional[str] = None,
    backend: Optional[str] = None,
    device: str = "auto",
    amp: Optional[str] = None,
) -> dict[str, Any]:
    """Continue a stopped run exactly where it stopped (optionally for more epochs or a new time budget)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    last = run_dir / "checkpoints" / "last.safetensors"
    if not last.exists():
        raise UsageError(
            f"{run_dir} has no checkpoint to resume from (it stopped before its first one); "
            f"start it again without --resume"
        )
    _, meta = load_checkpoint(last)
    task_name, settings = run_options(run_dir)
    if epochs is not None:
        settings["epochs"] = epochs
    if minutes is not None:
        settings["minutes"] = minutes
    options = _options_of(task_name, settings, run_dir / "config.json")
    task = TASKS[task_name](options, vocab_json=meta.get("vocab"))
    _build(task, backend or config.get("backend", "numpy"), device, amp)
    trainer = Trainer(
        task,
        run_dir,
        quiet=quiet,
        progress=progress,
        tensorboard=tensorboard,
        is_writer=getattr(task.model, "is_writer", True),
    )
    trainer.restore("last")
    if options.epochs and trainer.epoch >= options.epochs:
        raise UsageError(
            f"run {run_dir} already finished its {options.epochs} epochs; "
            f"train longer with --resume {run_dir} --epochs N (N > {options.epochs})"
        )
    if not quiet:
        print(f"resuming {run_dir} at epoch {trainer.epoch + 1}, step {trainer.step}", flush=True)
    return trainer.fit()


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise UsageError(f"no run folder at {run_dir}")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not an rnnlab run folder (no config.json)") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{path} is corrupt ({error})") from None
    config = upgrade(config, config_version(config))
    if config.get("task") not in TASKS:
        raise UsageError(f"{path} names an unknown task {config.get('task')!r}")
    return config


def load(
    run_dir: RunLike, checkpoint: str = "best", backend: str = "numpy", device: str = "auto", load_data: bool = False
):
    """A trained task from a run folder: `.model`, `.vocab`, `.options` (data loaded only on request)."""
    run_dir = Path(run_dir)
    read_config(run_dir)  # a clear one-line error for a folder that is not a run
    path = run_dir / "checkpoints" / f"{checkpoint}.safetensors"
    if not path.exists() and checkpoint == "best":
        path = run_dir / "checkpoints" / "last.safetensors"
    tensors, meta = load_checkpoint(path)
    task_name, settings = saved_task(meta["task"], meta["options"])
    if task_name not in TASKS:
        raise UsageError(f"checkpoint {path} is of an unknown task {task_name!r}")
    options = _options_of(task_name, settings, path)
    task = TASKS[task_name](options, vocab_json=meta.get("vocab"), load_data=load_data)
    _build(task, backend, device)
    try:
        task.model.load_state_dict(split_prefix(tensors, "model"))
    except (KeyError, ValueError) as error:
        raise UsageError(f"checkpoint {path} does not match its model description: {error}") from None
    task.model.eval()
    return task


def _options_of(task_name: str, settings: dict[str, Any], source: Path):
    try:
        return TASKS[task_name].Options.from_dict(settings)
    except (TypeError, UsageError) as error:
        raise UsageError(f"{source} has options this rnnlab does not know ({error})") from None


def check_sampling(
    length: int, temperature: float, top_k: Optional[int], seed: Optional[int] = None, **settings: Any
) -> None:
    """UsageError, naming the flag, for sampling settings that cannot work (`settings`: the other
    keywords of rnnlab.generate.check_settings: top_p, greedy, beam, length_penalty, count)."""
    from rnnlab.generate import check_settings

    if isinstance(length, bool):
        raise UsageError(f"--length must be an integer >= 0, got {length!r}")
    check_settings(length, temperature, top_k, **settings)
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")


def generate(
    task,
    prefix: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    seed: Optional[int] = None,
    unknown: str = "error",
    top_p: Optional[float] = None,
    beam: Optional[int] = None,
    length_penalty: float = 1.0,
    end: Optional[str] = None,
) -> str:
    """`length` tokens sampled after `prefix` (temperature 0 is greedy; `beam` K: beam search)."""
    return generate_samples(
        task,
        prefix,
        1,
        length=length,
        temperature=temperature,
        top_k=top_k,
        greedy=greedy,
        seed=seed,
        unknown=unknown,
        top_p=top_p,
        beam=beam,
        length_penalty=length_penalty,
        end=end,
    )[0]


def generate_samples(
    task,
    prefix: str,
    count: int,
    length: int = 200,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    seed: Optional[int] = None,
    unknown: str = "error",
    top_p: Optional[float] = None,
    beam: Optional[int] = None,
    length_penalty: float = 1.0,
    end: Optional[str] = None,
) -> list:
    """`count` independent samples (or, with `beam`, the `count` best texts), deterministic under `seed`."""
    from rnnlab.generate import generate_samples as sample

    if task.vocab is None:
        raise UsageError(f"task {task.name} is not a language model: nothing to generate")
    check_sampling(
        length,
        temperature,
        top_k,
        seed,
        top_p=top_p,
        greedy=greedy,
        beam=beam,
        length_penalty=length_penalty,
        count=count,
    )
    return sample(
        task.model,
        task.vocab,
        prefix,
        length,
        count=count,
        temperature=temperature,
        top_k=top_k,
        greedy=greedy,
        rng=np.random.default_rng(seed),
        unknown=unknown,
        top_p=top_p,
        beam=beam,
        length_penalty=length_penalty,
        end=end,
    )


def evaluate(
    task,
    text_path: Optional[str] = None,
    unknown: str = "error",
    dynamic_lr: Optional[float] = None,
    dynamic_decay: float = 0.0,
    dynamic_window: Optional[int] = None,
) -> dict[str, Any]:
    """Perplexity on a text file (language models), or the task's own validation/test metrics.

    `dynamic_lr`: also the same under dynamic evaluation (`dynamic_` keys; see
    `LanguageModelTask.dynamic_stream_loss`), with `dynamic_decay` and `dynamic_window`.
    """
    dynamic = None
    if dynamic_lr is not None:
        if not hasattr(task, "check_dynamic"):
            raise UsageError(f"dynamic evaluation needs a language model; {task.name} is not one")
        task.check_dynamic(dynamic_lr, dynamic_decay, dynamic_window)
        dynamic = dict(lr=dynamic_lr, decay=dynamic_decay, window=dynamic_window)
    if text_path is not None:
        from rnnlab.data import read_text_file

        if task.vocab is None or not hasattr(task, "stream_loss"):
            raise UsageError(f"--text works for language models; {task.name} is not one")
        text = read_text_file(text_path)
        if task.vocab.kind == "word":
            from rnnlab.data import stream_tokens

            # the run's own rule for a --text run; whitespace and <eos> per line for the pre-tokenised benchmarks
            symbols = stream_tokens(text, task.vocab.tokenizer)
            ids = task.vocab.encode(symbols, unknown="unk" if task.vocab.unk else unknown)
            # scored as <unk>: a text tokenised unlike the training text scores mostly <unk>s
            unknown_words = sum(symbol not in task.vocab for symbol in symbols) if task.vocab.unk else None
        else:
            ids = task.vocab.encode(text, unknown=unknown)
            unknown_words = None
        if len(ids) < 3:
            raise UsageError(f"{text_path} has fewer than 3 known symbols: nothing to evaluate")
        loss = task.stream_loss(ids, batch_size=1)
        metrics = {"loss": loss, "ppl": math.exp(min(loss, 50.0)), "tokens": len(ids), "text": str(text_path)}
        if unknown_words is not None:
            metrics["unknown_words"] = int(unknown_words)
        if dynamic:
            metrics.update(task.perplexity_metrics("dynamic", task.dynamic_stream_loss(ids, **dynamic)))
        return metrics
    metrics = task.evaluate()
    metrics.update({k: v for k, v in task.finish(lambda _: None).items() if isinstance(v, (int, float))})
    if dynamic:
        for prefix, ids in task.held_out_streams().items():
            metrics.update(task.perplexity_metrics(f"dynamic_{prefix}", task.dynamic_stream_loss(ids, **dynamic)))
    return metrics


def _build(task, backend: str, device: str, amp: Optional[str] = None) -> None:
    if backend == "numpy":
        if amp:
            raise UsageError("--amp bf16 needs --backend torch on a CUDA device")
        task.build_model("numpy")
    else:
        from rnnlab.backends import require_backend

        require_backend(backend)
        if getattr(task.options, "bptt_truncate", None) is not None:
            raise UsageError("--bptt-truncate is a NumPy-engine feature; use --backend numpy, or shorten --seq-len")
        task.build_model(f"{backend}:{device}")
        if amp:
            task.model.enable_amp(amp)


def _describe(trainer: Trainer, task, quiet: bool) -> None:
    if quiet or not trainer.is_writer:
        return
    model = task.model
    print(
        f"{task.name}: {model.config.cell.upper()} {model.config.num_layers}x{model.config.hidden_size}, "
        f"{model.num_parameters():,} parameters, {len(trainer.sampler)} batches/epoch, "
        f"run folder {trainer.run_dir}",
        flush=True,
    )


def inspect(run: RunLike, **settings: Any) -> dict[str, Any]:
    """What a trained language model's units and gates learned: the page and files of `rnnlab inspect`
    (see rnnlab.inspect.report.inspect for the settings: text, split, length, units, out, force, lstmvis)."""
    from rnnlab.inspect import inspect as write_inspection

    return write_inspection(run, **settings)
