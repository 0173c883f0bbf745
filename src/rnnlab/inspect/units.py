"""Units found automatically (correlation with text features) and gate saturation.

    corr = correlations(activations, features)   # (N, U), {name: (N,)} -> (F, U) Pearson r
    best = strongest_units(table, features)      # per feature: the unit with the largest |r|

Pearson r between a unit's activation a_t and a feature f_t over the N symbols:
r = sum_t (a_t - mean a)(f_t - mean f) / (N std(a) std(f)); a constant unit or a feature
absent from the text has r = 0 (reported as such, not as NaN).

Saturation (Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent
Networks"): per gate unit, the fraction of steps it is left-saturated (sigmoid < 0.1,
tanh < -0.9) and right-saturated (sigmoid > 0.9, tanh > 0.9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

# activation kind -> (left threshold, right threshold)
SATURATION_THRESHOLDS = {"sigmoid": (0.1, 0.9), "tanh": (-0.9, 0.9)}


def _standardised(x: np.ndarray) -> np.ndarray:
    """Columns of (N, U) with mean 0 and norm 1; constant columns all 0."""
    x = x.astype(np.float64)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)


def correlations(activations: np.ndarray, features: dict[str, np.ndarray]) -> np.ndarray:
    """(N, U) activations, features {name: (N,)} -> (F, U) Pearson r, rows in the features' order."""
    f = _standardised(np.stack(list(features.values()), axis=1))  # (N, F)
    return f.T @ _standardised(activations)  # (F, U)


class UnitTable:
    """All units of some (layer, direction, kind) arrays side by side: column j <-> labels[j]."""

    def __init__(self, arrays: dict[tuple[int, int, str], np.ndarray]) -> None:
        self.labels: list[tuple[int, int, str, int]] = []  # (layer, direction, kind, unit)
        columns = []
        for (layer, direction, kind), values in arrays.items():
            columns.append(values)  # (N, H)
            self.labels.extend((layer, direction, kind, unit) for unit in range(values.shape[1]))
        self.values = np.concatenate(columns, axis=1)  # (N, U)


def strongest_units(
    table: UnitTable, features: dict[str, np.ndarray], corr: Optional[np.ndarray] = None, per_feature: int = 3
) -> list[dict]:
    """Per feature, the `per_feature` units with the largest |r|, strongest first."""
    corr = correlations(table.values, features) if corr is None else corr
    found = []
    for row, name in enumerate(features):
        present = np.ptp(features[name]) > 0
        order = np.argsort(-np.abs(corr[row]), kind="stable")[:per_feature]
        units = [
            dict(zip(("layer", "direction", "kind", "unit"), table.labels[j]), r=float(corr[row, j])) for j in order
        ]
        found.append({"feature": name, "present": bool(present), "units": units if present else []})
    return found


def units_to_show(
    table: UnitTable, corr: np.ndarray, per_array: int, must: Sequence[tuple[int, int, str, int]] = ()
) -> list[tuple[int, int, str, int]]:
    """For each (layer, direction, kind): the `per_array` units most correlated with any feature
    (then by variance), plus every unit in `must`; in (layer, direction, kind, unit) order."""
    score = np.abs(corr).max(axis=0) if corr.size else np.zeros(len(table.labels))  # (U,)
    variance = table.values.var(axis=0)
    groups: dict[tuple[int, int, str], list[int]] = {}
    for j, label in enumerate(table.labels):
        groups.setdefault(label[:3], []).append(j)
    chosen = set(must)
    for columns in groups.values():
        ranked = sorted(columns, key=lambda j: (-score[j], -variance[j], j))[:per_array]
        chosen.update(table.labels[j] for j in ranked)
    return sorted(chosen)


def saturation(values: np.ndarray, activation: str) -> Optional[dict[str, np.ndarray]]:
    """(N, H) gate values -> {"left": (H,), "right": (H,)} fractions of steps; None if the
    activation has no saturation thresholds (e.g. relu)."""
    if activation not in SATURATION_THRESHOLDS:
        return None
    low, high = SATURATION_THRESHOLDS[activation]
    return {"left": (values < low).mean(axis=0), "right": (values > high).mean(axis=0)}
