"""Gradient flow through time: how far back the error of a loss at the last step reaches.

Backpropagation through time multiplies the error by the step Jacobian dh_t/dh_{t-1}
once per step back. For the tanh RNN that is diag(1 - h_t^2) W_hh: with spectral
radius below 1 the product shrinks geometrically (vanishing), above 1 it can grow
(exploding). The LSTM's cell state is carried by c_t = f_t * c_{t-1} + i_t * g_t, so the
error along c is multiplied by the forget gate only (close to 1 when the net wants to
remember); the GRU's h_t = (1 - z_t) * n_t + z_t * h_{t-1} has the same additive path.

The measurement (NumPy engine, float64 so that tiny norms do not underflow):

    x (T, B, I) ~ N(0, 1)    -> layer -> h_1 .. h_T      (top layer of the stack)
    dL/dh_T = u,  u random with |u| = 1 per sequence; nothing else in the loss
    backward  -> dL/dh_t for every t   (layer.record_hidden_grads)
    norms[k]  = median over sequences and seeds of |dL/dh_{T-k}|,  k = 0 .. T-1 steps back

so norms[0] = 1 and norms[k] is how much of a unit error survives k steps back.

    >>> norms = measure_cell("rnn", steps=20, hidden=16, seeds=(0,))
    >>> norms.shape, float(norms[0])
    ((20,), 1.0)

Also here: the same measurement on a trained run (its own inputs, its weights in
float64), the effect of the recurrent weight scale (spectral radius of W_hh for the
RNN), a short training run on an exploding configuration with and without gradient
clipping, the text report and the plots (matplotlib, imported only when plotting).
Left out: bidirectional layers, per-unit analysis, the torch backend.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from rnnlab.engine import make_recurrent
from rnnlab.engine.init import set_forget_biases
from rnnlab.engine.losses import mean_squared_error
from rnnlab.engine.optim import SGD, clip_grad_norm
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.errors import UsageError

REPORT_STEPS_BACK = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)


@dataclass
class Curve:
    """One line of a plot: median |dL/dh_{T-k}| for k = 0 .. T-1 steps back."""

    label: str
    norms: np.ndarray  # (T,)


@dataclass
class ClipTrace:
    """A short training run: the global gradient norm (before clipping) and loss per update."""

    label: str
    setting: str = ""  # the model and training that were run
    grad_norms: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- measurement
def set_spectral_radius(layer, radius: float, layer_index: int = 0) -> None:
    """Scale W_hh of an RNN layer so its largest |eigenvalue| is `radius` (in place)."""
    if layer.spec.num_gates != 1:
        raise UsageError(
            "a spectral radius can be set for a one-gate cell only, the plain RNN (its W_hh is one matrix)"
        )
    weight = layer.params[f"weight_hh_l{layer_index}"]  # (H, H)
    current = float(np.max(np.abs(np.linalg.eigvals(weight))))
    if current == 0.0:
        raise UsageError("W_hh is zero: no spectral radius to scale")
    weight *= radius / current


def hidden_grad_norms(layer, x: np.ndarray, rng: np.random.Generator, h0=None) -> np.ndarray:
    """x (T, B, I) -> (T, B) |dL/dh_{T-k}| for k = 0 .. T-1 (index = steps back).

    L = sum_b u_b . h_T[b] with |u_b| = 1, read at the top layer (forward direction).
    """
    _steps, batch, _ = x.shape
    y, _ = layer.forward(x, h0)  # (T, B, H)
    direction = rng.normal(size=(batch, layer.hidden_size))  # (B, H)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    dy = np.zeros_like(y)  # (T, B, H): the loss reads h_T only
    dy[-1] = direction
    layer.record_hidden_grads = True
    layer.zero_grad()
    layer.backward(dy, need_input_grad=False)
    layer.record_hidden_grads = False
    grads = layer.hidden_grads[(layer.num_layers - 1, 0)]  # (T, B, H)
    return np.linalg.norm(grads, axis=2)[::-1]  # (T, B), row k = k steps back


def make_layer(
    cell: str,
    hidden: int,
    input_size: int,
    seed: int,
    nonlinearity: str = "tanh",
    spectral_radius: Optional[float] = None,
    forget_bias: Optional[float] = None,
):
    """A one-layer float64 NumPy layer with PyTorch's initialisation, optionally rescaled."""
    if cell not in cell_names():
        raise UsageError(f"unknown cell {cell!r}; choose from {', '.join(cell_names())}")
    layer = make_recurrent(cell, input_size, hidden, dtype=np.float64, seed=seed, nonlinearity=nonlinearity)
    if spectral_radius is not None:
        set_spectral_radius(layer, spectral_radius)
    if forget_bias is not None and layer.spec.forget_gate is not None:
        set_forget_biases(layer.params, cell, hidden, forget_bias)
    return layer


def measure_cell(
    cell: str,
    steps: int = 100,
    hidden: int = 64,
    seeds: Sequence[int] = (0, 1, 2),
    batch: int = 16,
    input_size: int = 4,
    nonlinearity: str = "tanh",
    spectral_radius: Optional[float] = None,
    forget_bias: Optional[float] = None,
) -> np.ndarray:
    """(steps,) median |dL/dh_{T-k}| over sequences and seeds, for freshly initialised layers."""
    _check_positive(steps=steps, hidden=hidden, batch=batch, input_size=input_size)
    if not seeds:
        raise UsageError("--seeds must be at least 1")
    norms = []
    for seed in seeds:
        rng = np.random.default_rng([seed, 7])
        layer = make_layer(cell, hidden, input_size, seed, nonlinearity, spectral_radius, forget_bias)
        x = rng.normal(size=(steps, batch, input_size))  # (T, B, I)
        norms.append(hidden_grad_norms(layer, x, rng))  # (T, B)
    return np.median(np.concatenate(norms, axis=1), axis=1)  # (T,)


def measure_run(run_dir, steps: int, seeds: Sequence[int] = (0, 1, 2), batch: int = 16) -> Curve:
    """The same measurement on the recurrent stack of a trained run, fed its own task's inputs."""
    from rnnlab import api

    task = api.load(run_dir, load_data=False)
    model = task.model
    config = model.config
    layer = make_recurrent(
        config.cell,
        config.recurrent_input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        bias=config.bias,
        dtype=np.float64,
        nonlinearity=config.nonlinearity,
    )
    layer.load_state_dict(model.rnn.state_dict())
    layer.eval()
    norms = []
    for seed in seeds:
        rng = np.random.default_rng([seed, 8])
        inputs = _task_inputs(task, rng, steps, batch)
        x = model.encoder.forward(inputs) if model.encoder is not None else inputs  # (T, B, E)
        if model.projection is not None:
            x = model.projection.forward(x)  # (T, B, P)
        norms.append(hidden_grad_norms(layer, np.asarray(x, dtype=np.float64), rng))
    trained_len = getattr(task.options, "seq_len", "?")
    label = f"{config.cell} trained ({task.name}, T={trained_len})"
    return Curve(label, np.median(np.concatenate(norms, axis=1), axis=1))


def _task_inputs(task, rng: np.random.Generator, steps: int, batch: int) -> np.ndarray:
    """Inputs of the run's task when it can make them at any length; else random ones of the right kind."""
    probe = getattr(task, "probe_inputs", None)
    if probe is not None:
        return probe(rng, batch, steps)
    config = task.model.config
    if config.input == "dense":
        return rng.normal(size=(steps, batch, config.input_size))
    return rng.integers(0, config.input_size, size=(steps, batch))


# ---------------------------------------------------------------------------- clipping
def clipping_demo(
    updates: int = 150,
    seq_len: int = 50,
    hidden: int = 32,
    radius: float = 1.5,
    lr: float = 0.05,
    clip: float = 1.0,
    seed: int = 0,
    batch: int = 32,
) -> list[ClipTrace]:
    """Train a tanh RNN with a large W_hh (spectral radius `radius`) on the adding problem with
    plain SGD, once without and once with clipping to `clip`; same data and initial weights."""
    from rnnlab.models import ModelConfig, NumpyModel
    from rnnlab.tasks.longrange import adding_batch

    _check_positive(updates=updates, seq_len=seq_len, hidden=hidden, batch=batch)
    traces = []
    for max_norm in (0.0, clip):
        config = ModelConfig(
            input="dense", input_size=2, output_size=1, cell="rnn", hidden_size=hidden, dtype="float64"
        )
        model = NumpyModel(config, seed=seed)
        set_spectral_radius(model.rnn, radius)
        optimizer = SGD(model.params, lr=lr)
        rng = np.random.default_rng([seed, 9])
        trace = ClipTrace(
            "no clipping" if max_norm == 0 else f"clipped to {clip:g}",
            setting=f"tanh RNN {hidden}, spectral radius {radius:g}, adding T={seq_len}, SGD lr {lr:g}",
        )
        started = time.perf_counter()
        with np.errstate(all="ignore"):
            for _ in range(updates):
                x, target = adding_batch(rng, seq_len, batch)  # (T, B, 2), (B,)
                model.zero_grad()
                outputs, _ = model.forward(x)  # (T, B, 1)
                loss, d_last = mean_squared_error(outputs[-1, :, 0], target)
                d_outputs = np.zeros_like(outputs)
                d_outputs[-1, :, 0] = d_last
                model.backward(d_outputs)
                norm = clip_grad_norm(model.grads, max_norm) if max_norm > 0 else _global_norm(model.grads)
                trace.grad_norms.append(norm)
                trace.losses.append(loss)
                if not math.isfinite(loss):
                    break
                optimizer.step(model.grads)
        trace.seconds = time.perf_counter() - started
        traces.append(trace)
    return traces


def _global_norm(grads: dict[str, np.ndarray]) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


# ------------------------------------------------------------------------------ report
@dataclass
class GradientReport:
    steps: int
    hidden: int
    seeds: int
    cells: list[Curve]
    radii: list[Curve]
    clipping: list[ClipTrace]
    seconds: float = 0.0

    def to_json(self) -> dict:
        curves = lambda items: [{"label": c.label, "norms": c.norms.tolist()} for c in items]  # noqa: E731
        return {
            "steps": self.steps,
            "hidden": self.hidden,
            "seeds": self.seeds,
            "cells": curves(self.cells),
            "spectral_radius": curves(self.radii),
            "clipping": [asdict(t) for t in self.clipping],
            "seconds": self.seconds,
        }


def run(
    cells: Sequence[str] = ("rnn", "lstm", "gru"),
    steps: int = 100,
    hidden: int = 64,
    seeds: int = 3,
    batch: int = 16,
    trained: Sequence[str] = (),
    radii: Sequence[float] = (0.9, 1.0, 1.1),
    forget_bias: Optional[float] = None,
    clip_updates: int = 150,
    out_dir=None,
) -> GradientReport:
    """Everything `rnnlab gradients` shows; writes gradients.json and PNGs into out_dir if given."""
    _check_positive(steps=steps, hidden=hidden, seeds=seeds, batch=batch)
    unknown = [c for c in cells if c not in cell_names()]
    if unknown or not cells:
        raise UsageError(f"--cells must list some of {', '.join(cell_names())}; got {','.join(cells) or 'nothing'}")
    if any(not (r > 0 and math.isfinite(r)) for r in radii):
        raise UsageError(f"--radii must be positive numbers, got {list(radii)}")
    started = time.perf_counter()
    seed_list = tuple(range(seeds))
    curves = [Curve(f"{cell} (init)", measure_cell(cell, steps, hidden, seed_list, batch)) for cell in cells]
    if forget_bias is not None:  # again, for each cell with a forget gate
        curves += [
            Curve(
                f"{cell} (init, forget bias {forget_bias:g})",
                measure_cell(cell, steps, hidden, seed_list, batch, forget_bias=forget_bias),
            )
            for cell in cells
            if get_cell(cell).forget_gate is not None
        ]
    for run_dir in trained:
        curves.append(measure_run(run_dir, steps, seed_list, batch))
    radius_curves = [
        Curve(f"tanh RNN, radius {r:g}", measure_cell("rnn", steps, hidden, seed_list, batch, spectral_radius=r))
        for r in radii
    ]
    traces = clipping_demo(updates=clip_updates) if clip_updates > 0 else []
    report = GradientReport(steps, hidden, seeds, curves, radius_curves, traces, time.perf_counter() - started)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "gradients.json").write_text(json.dumps(report.to_json()) + "\n")
        plot_report(report, out)
    return report


def format_table(curves: Sequence[Curve], steps: int) -> str:
    """Markdown table: steps back (rows) x curve (columns) -> median |dL/dh|."""
    rows = [k for k in REPORT_STEPS_BACK if k < steps] + ([steps - 1] if steps - 1 not in REPORT_STEPS_BACK else [])
    lines = [
        "| steps back | " + " | ".join(c.label for c in curves) + " |",
        "| ---: | " + " | ".join("---:" for _ in curves) + " |",
    ]
    for k in rows:
        lines.append(f"| {k} | " + " | ".join(f"{c.norms[k]:.3g}" for c in curves) + " |")
    return "\n".join(lines)


def format_clipping(traces: Sequence[ClipTrace]) -> str:
    """Markdown table: gradient-norm distribution and final loss of each clipping trace."""
    lines = [
        "| run | updates | median grad norm | 90th pct | max | first loss | last loss |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in traces:
        norms = np.array(t.grad_norms)
        finite = norms[np.isfinite(norms)]
        stats = [np.median(finite), np.percentile(finite, 90), finite.max()] if finite.size else [math.nan] * 3
        lines.append(
            f"| {t.label} | {len(t.losses)} | "
            + " | ".join(f"{s:.3g}" for s in stats)
            + f" | {t.losses[0]:.3g} | {t.losses[-1]:.3g} |"
        )
    return "\n".join(lines)


def format_report(report: GradientReport) -> str:
    parts = [
        f"median |dL/dh_(T-k)| for a unit error at the last step (T={report.steps}, hidden {report.hidden}, "
        f"{report.seeds} seeds)",
        format_table(report.cells, report.steps),
    ]
    if report.radii:
        parts += ["", "tanh RNN with W_hh rescaled to a spectral radius", format_table(report.radii, report.steps)]
    if report.clipping:
        parts += [
            "",
            f"{report.clipping[0].setting}: global gradient norm per update",
            format_clipping(report.clipping),
        ]
    parts.append(f"\n({report.seconds:.1f} s)")
    return "\n".join(parts)


# ------------------------------------------------------------------------------- plots
def plot_report(report: GradientReport, out_dir) -> list[Path]:
    """gradient-flow.png, spectral-radius.png, clipping.png in out_dir (nothing without matplotlib)."""
    from rnnlab.plots import _pyplot

    plt = _pyplot()
    if plt is None:
        return []
    out, written = Path(out_dir), []
    for name, curves, title in (
        ("gradient-flow.png", report.cells, "How far back the error reaches"),
        ("spectral-radius.png", report.radii, "tanh RNN: the scale of W_hh decides"),
    ):
        if not curves:
            continue
        figure, axis = plt.subplots(figsize=(6.4, 4.0))
        for curve in curves:
            values = np.where(curve.norms > 0, curve.norms, np.nan)  # log axis: exact zeros are not drawn
            axis.plot(np.arange(len(values)), values, label=curve.label)
        axis.set_yscale("log")
        axis.set_xlabel("steps back from the loss (k)")
        axis.set_ylabel("median |dL/dh_(T-k)|")
        axis.set_title(title)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / name, dpi=110)
        plt.close(figure)
        written.append(out / name)
    if report.clipping:
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for trace in report.clipping:
            axes[0].plot(trace.grad_norms, label=trace.label)
            axes[1].plot(trace.losses, label=trace.label)
        axes[0].set_ylabel("global gradient norm (before clipping)")
        axes[1].set_ylabel("training MSE")
        for axis in axes:
            axis.set_yscale("log")
            axis.set_xlabel("update")
            axis.grid(alpha=0.3, which="both")
            axis.legend(fontsize=8)
        figure.suptitle(f"Exploding gradients: {report.clipping[0].setting}")
        figure.tight_layout()
        figure.savefig(out / "clipping.png", dpi=110)
        plt.close(figure)
        written.append(out / "clipping.png")
    return written


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
