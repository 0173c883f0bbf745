"""PNG plots (matplotlib, an optional extra, imported only here and only when plotting).

Without matplotlib every function returns None and the run goes on: plots are a
view of the numbers in metrics.jsonl, never the only copy of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence


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
