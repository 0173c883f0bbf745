"""Gradient checks by central finite differences, for any (params, loss) pair.

    numeric_i = (L(p + eps e_i) - L(p - eps e_i)) / (2 eps)

Each element is perturbed in place and restored, so `loss_fn` simply recomputes the
loss from the current parameter arrays. Use float64 parameters: in float32 the
differences are dominated by rounding.

Relative error of an element, ours `a` against numeric `n`:

    rel = |a - n| / max(|a| + |n|, floor)

`floor` (default 1e-4) keeps elements where both are ~0 from blowing up: below it the
error is measured against `floor`, so an absolute error of `threshold * floor` is
tolerated there -- about the rounding noise of central differences in float64.

Example (the gradient of sum(w^2) is 2w):
    >>> params = {"w": np.array([1.0, -2.0, 0.5])}
    >>> errors = check_gradients(params, {"w": 2 * params["w"]}, lambda: float(np.sum(params["w"] ** 2)))
    >>> bool(errors["w"] < 1e-6)                                          # {name: max rel err}
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Callable, Optional

import numpy as np

DEFAULT_FLOOR = 1e-4


def numeric_gradients(
    params: Mapping[str, np.ndarray],
    loss_fn: Callable[[], float],
    names: Optional[Iterable[str]] = None,
    eps: float = 1e-6,
    max_elements: Optional[int] = None,
    rng: Optional[np.random.Generator] = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Central-difference gradients of `loss_fn()` w.r.t. `params[name]`, element by element.

    Returns {name: (flat_indices, numeric_values)}. With `max_elements`, arrays larger
    than that are checked on a random subset of elements drawn with `rng` (default seed 0).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    result = {}
    for name in params if names is None else names:
        p = params[name]
        if max_elements is not None and p.size > max_elements:
            idx = np.sort(rng.choice(p.size, size=max_elements, replace=False))
        else:
            idx = np.arange(p.size)
        values = np.empty(idx.size, dtype=np.float64)
        for k, i in enumerate(idx):
            original = p.flat[i]
            p.flat[i] = original + eps
            plus = float(loss_fn())
            p.flat[i] = original - eps
            minus = float(loss_fn())
            p.flat[i] = original
            values[k] = (plus - minus) / (2 * eps)
        result[name] = (idx, values)
    return result


def relative_error(ours: np.ndarray, numeric: np.ndarray, floor: float = DEFAULT_FLOOR) -> np.ndarray:
    """|a - n| / max(|a| + |n|, floor), elementwise."""
    ours = np.asarray(ours, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    return np.abs(ours - numeric) / np.maximum(np.abs(ours) + np.abs(numeric), floor)


def check_gradients(
    params: Mapping[str, np.ndarray],
    analytic_grads: Mapping[str, np.ndarray],
    loss_fn: Callable[[], float],
    eps: float = 1e-6,
    max_elements: Optional[int] = None,
    rng: Optional[np.random.Generator] = None,
    names: Optional[Iterable[str]] = None,
    floor: float = DEFAULT_FLOOR,
    threshold: Optional[float] = None,
) -> dict[str, float]:
    """Max relative error (see module docstring) of `analytic_grads` vs central differences.

    `analytic_grads[name]` must hold d loss_fn() / d params[name] for the current
    parameters. With `threshold`, every array above it prints its worst element:
    ours and the numeric value side by side.
    """
    errors, worst = _check(params, analytic_grads, loss_fn, eps, max_elements, rng, names, floor)
    if threshold is not None:
        for name, err in errors.items():
            if err > threshold:
                print(worst[name])
    return errors


def _check(params, analytic_grads, loss_fn, eps, max_elements, rng, names, floor):
    names = list(analytic_grads if names is None else names)
    numeric = numeric_gradients(params, loss_fn, names, eps, max_elements, rng)
    errors, worst = {}, {}
    for name in names:
        idx, num = numeric[name]
        ours = np.asarray(analytic_grads[name]).reshape(-1)[idx]
        rel = relative_error(ours, num, floor)
        errors[name] = float(rel.max()) if rel.size else 0.0
        worst[name] = worst_element(name, params[name].shape, idx, ours, num, floor) if rel.size else name
    return errors, worst


def worst_element(
    name: str, shape: tuple, idx: np.ndarray, ours: np.ndarray, numeric: np.ndarray, floor: float = DEFAULT_FLOOR
) -> str:
    """One line naming the element with the largest relative error, ours vs numeric."""
    rel = relative_error(ours, numeric, floor)
    k = int(np.argmax(rel))
    where = np.unravel_index(int(idx[k]), shape)
    return f"{name}{list(map(int, where))}: ours {ours[k]: .12e}  numeric {numeric[k]: .12e}  rel err {rel[k]:.3e}"


def format_report(errors: Mapping[str, float], threshold: float = 1e-6) -> str:
    """A printable table: one row per parameter, its max relative error and ok/FAIL."""
    width = max([len("parameter")] + [len(n) for n in errors])
    lines = [f"{'parameter':<{width}}  max rel err  status"]
    for name, err in errors.items():
        status = "ok" if err <= threshold else "FAIL"
        lines.append(f"{name:<{width}}  {err:11.3e}  {status}")
    return "\n".join(lines)


def assert_gradients(
    params: Mapping[str, np.ndarray],
    analytic_grads: Mapping[str, np.ndarray],
    loss_fn: Callable[[], float],
    threshold: float = 1e-6,
    eps: float = 1e-6,
    max_elements: Optional[int] = None,
    rng: Optional[np.random.Generator] = None,
    names: Optional[Iterable[str]] = None,
    floor: float = DEFAULT_FLOOR,
) -> dict[str, float]:
    """check_gradients that raises AssertionError on failure; the message holds the
    report table and, for each failing array, ours and the numeric value side by side."""
    errors, worst = _check(params, analytic_grads, loss_fn, eps, max_elements, rng, names, floor)
    failing = [worst[name] for name, err in errors.items() if err > threshold]
    if failing:
        raise AssertionError(
            "gradient check failed\n" + format_report(errors, threshold) + "\nworst elements:\n" + "\n".join(failing)
        )
    return errors
