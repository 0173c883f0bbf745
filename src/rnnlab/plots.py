"""PNG plots (matplotlib, an optional extra, imported only here and only when plotting).

Without matplotlib every function returns None and the run goes on: plots are a
view of the numbers in metrics.jsonl, never the only copy of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from numpy.typing import ArrayLike


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_history(history: Sequence[dict], path: Path, title: str) -> Optional[Path]:
    """Loss (and perplexity, when present) per evaluation: train and validation."""
    plt = _pyplot()
    if plt is None or not history:
        return None
    epochs = [row["epoch"] for row in history]
    has_ppl = any("val_ppl" in row or "train_ppl" in row for row in history)
    figure, axes = plt.subplots(1, 2 if has_ppl else 1, figsize=(10 if has_ppl else 5.5, 3.8), squeeze=False)
    panels = [("loss", ("train_loss", "val_loss"))] + ([("perplexity", ("train_ppl", "val_ppl"))] if has_ppl else [])
    for axis, (label, keys) in zip(axes[0], panels):
        for key in keys:
            points = [(e, row[key]) for e, row in zip(epochs, history) if key in row]
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, label=key.split("_")[0])
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        if label == "perplexity":
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)


def plot_prediction(x: ArrayLike, truth: ArrayLike, prediction: ArrayLike, path: Path, title: str) -> Optional[Path]:
    """A regression prediction against the truth along x (sincos: cos(x) predicted from sin(x))."""
    plt = _pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.plot(x, truth, color="tab:red", label="truth")
    axis.plot(x, prediction, color="tab:blue", linestyle="--", label="prediction")
    axis.set_xlabel("x")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)


def animate_predictions(
    x: Sequence[float], truth: Sequence[float], frames: Sequence[tuple], path: Path, title: str, fps: int = 2
) -> Optional[Path]:
    """A GIF with one frame per (epoch, prediction) pair: the prediction improving over training."""
    plt = _pyplot()
    if plt is None or not frames:
        return None
    from matplotlib.animation import FuncAnimation, PillowWriter

    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.plot(x, truth, color="tab:red", label="truth")
    (line,) = axis.plot(x, frames[0][1], color="tab:blue", linestyle="--", label="prediction")
    low = min(min(truth), min(min(p) for _, p in frames))
    high = max(max(truth), max(max(p) for _, p in frames))
    axis.set_ylim(max(low, -3.0) - 0.1, min(high, 3.0) + 0.1)
    axis.set_xlabel("x")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")

    def draw(k):
        epoch, prediction = frames[k]
        line.set_ydata(prediction)
        axis.set_title(f"{title}, epoch {epoch}")
        return (line,)

    animation = FuncAnimation(figure, draw, frames=len(frames), blit=False)
    animation.save(str(path), writer=PillowWriter(fps=fps))
    plt.close(figure)
    return Path(path)
