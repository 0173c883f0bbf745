"""PNG versions of the page's pictures (matplotlib, optional): gate saturation, and the top
found units on an excerpt of the text.

`write_pngs` returns the file names written, or None when matplotlib is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

EXCERPT = 80  # symbols of the text shown under the found units
TOP_UNITS = 8


def _symbol_label(s: str) -> str:
    return {"\n": "\u21b5", " ": "\u2423", "\t": "\u2192"}.get(s, s)


def write_pngs(folder: Path, rec, analysis, symbols) -> Optional[list[str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = []
    gates = analysis["saturation"]
    if gates:
        cols = min(4, len(gates))
        grid_rows = (len(gates) + cols - 1) // cols
        fig, axes = plt.subplots(grid_rows, cols, figsize=(3.2 * cols, 3.2 * grid_rows), squeeze=False)
        for ax in axes.flat[len(gates) :]:
            ax.axis("off")
        for ax, g in zip(axes.flat, gates):
            ax.scatter(g["left"], g["right"], s=6, alpha=0.6)
            ax.plot([0, 1], [1, 0], color="#ddd", lw=0.8)
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            lo, hi = g["thresholds"]
            ax.set_title(f"layer {g['layer']} gate {g['gate']} ({g['activation']})", fontsize=9)
            ax.set_xlabel(f"fraction < {lo}", fontsize=8)
            ax.set_ylabel(f"fraction > {hi}", fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "saturation.png", dpi=110)
        plt.close(fig)
        names.append("saturation.png")
    picked, labels = [], []
    for item in analysis["found"]:
        for u in item["units"][:1]:
            key = (u["layer"], u["direction"], u["kind"], u["unit"])
            if key not in picked:
                picked.append(key)
                labels.append(f"{item['feature']}: l{key[0]} {key[2]}[{key[3]}] r={u['r']:+.2f}")
    picked, labels = picked[:TOP_UNITS], labels[:TOP_UNITS]
    if picked:
        n = min(EXCERPT, len(symbols))
        rows = np.stack([rec.states[(layer, d)][k][:n, unit] for layer, d, k, unit in picked])  # (units, n)
        scale = np.maximum(np.abs(rows).max(axis=1, keepdims=True), 1e-6)
        fig, ax = plt.subplots(figsize=(max(6, n * 0.16), 0.45 * len(picked) + 1.2))
        ax.imshow(rows / scale, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_yticks(range(len(picked)), labels, fontsize=7)
        ax.set_xticks(
            range(n),
            [_symbol_label(s) for s in symbols[:n]],
            fontsize=7,
            rotation=0 if analysis.get("kind", "char") == "char" else 90,
        )
        ax.set_title("top found units on the first symbols (red +, blue -, per unit's largest |value|)", fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / "units.png", dpi=110)
        plt.close(fig)
        names.append("units.png")
    return names
