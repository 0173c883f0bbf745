"""One (layer, direction) of a recurrent stack through time: forward, full and truncated backward.

The stack (recurrent.py) computes the input projection `xp` of all steps, hands this module
views in *processing order* (reversed for the reverse direction) and turns the gate
gradients written here into dW_ih, dx and the bias gradients with one product each.

    h_T, c_T, cache = forward(cell, xp, h0, c0, w_hh, b_hh, h_seq, buffer, extras)
    dh0, dc0 = backward_full(cell, spec, cache, dh_seq, dh_last, dc_last, w_hh, dgx, dgh, recorded)
    dh0, dc0 = backward_truncated(cell, spec, cache, dh_seq, dh_last, dc_last, w_hh, dgx, dgh, k)

Backward through time: dh_t = dy_t + dh_{t+1 -> t}, the cell writes the gate gradients
dgx_t (input projection) and dgh_t (hidden projection), and dh_{t-1} = dgh_t W_hh (+ the
cell's direct path, GRU's dh z). Truncated (the WildML tutorial's `bptt_truncate` k): from
each output t, the same chain through steps t .. t-k only.
"""

from __future__ import annotations

import numpy as np


def reversed_if(array, reverse: bool):
    """A view in processing order: time runs backwards for the reverse direction."""
    return array[::-1] if reverse else array


def forward(cell, xp, h0, c0, w_hh, b_hh, h_seq, buffer, extras):
    """Runs the cell over all steps (arrays in processing order) -> (h_T, c_T or None, cache)."""
    with np.errstate(over="ignore"):  # sigmoid's exp(-x) -> inf gives exactly 0
        return cell.forward(xp, h0, c0, w_hh, b_hh, h_seq, buffer, extras)


def recording(cell, spec, cache, reverse: bool) -> dict:
    """Copies of the activated gates (one (T,B,H) per gate name) and c, in time order."""
    gates, c = cell.activations(cache)  # (T, B, G*H), (T, B, H) or None, processing order
    gates = reversed_if(gates, reverse)
    hidden = gates.shape[2] // spec.num_gates
    out = {name: gates[:, :, k * hidden : (k + 1) * hidden].copy() for k, name in enumerate(spec.gate_names)}
    if c is not None:
        out["c"] = reversed_if(c, reverse).copy()
    return out


def add_hidden_weight_grad(grad, dgh, h_seq, h0, reverse: bool) -> None:
    """dW_hh += sum_t dgh_t^T h_{t-1}, where 'previous' follows the processing direction (time order in)."""
    steps, _batch, gate_rows = dgh.shape
    hidden = h_seq.shape[2]
    if steps > 1:
        later, earlier = (dgh[:-1], h_seq[1:]) if reverse else (dgh[1:], h_seq[:-1])
        grad += later.reshape(-1, gate_rows).T @ earlier.reshape(-1, hidden)
    first = dgh[-1] if reverse else dgh[0]  # the step whose previous state is h0
    grad += first.T @ h0


def backward_full(cell, spec, cache, dh_seq, dh_last, dc_last, w_hh, dgx, dgh, recorded=None):
    """Backward through all steps in one reversed loop -> (dL/dh0, dL/dc0 or None)."""
    steps, batch, hidden = dh_seq.shape
    dh = np.zeros((batch, hidden), dtype=w_hh.dtype) if dh_last is None else dh_last.copy()
    dh_next = np.empty_like(dh)
    dc = None
    if spec.has_cell_state:
        dc = np.zeros_like(dh) if dc_last is None else dc_last.copy()
    direct = spec.direct_hidden_grad
    for step in reversed(range(steps)):
        np.add(dh, dh_seq[step], out=dh)  # total dL/dh_t: from the output and from step t+1
        if recorded is not None:
            recorded[step] = dh
        dc = cell.backward_step(cache, step, dh, dc, dgx[step], dgh[step])
        np.matmul(dgh[step], w_hh, out=dh_next)  # (B, H)
        if direct:
            dh_next += cell.direct_hidden_grad(cache, step, dh)
        dh, dh_next = dh_next, dh
    return dh, dc


def backward_truncated(cell, spec, cache, dh_seq, dh_last, dc_last, w_hh, dgx, dgh, truncate: int):
    """From each output t, backward through steps t, t-1, ..., t-truncate only."""
    steps, batch, hidden = dh_seq.shape
    dtype = w_hh.dtype
    dgx[...] = 0
    dgh[...] = 0
    shared = spec.folds_hidden_bias  # one projection feeds both: dgh is dgx's memory (views differ)
    step_dgx = np.empty(dgx.shape[1:], dtype=dtype)
    step_dgh = step_dgx if shared else np.empty_like(step_dgx)
    grad_h0 = np.zeros((batch, hidden), dtype=dtype)
    grad_c0 = np.zeros_like(grad_h0) if spec.has_cell_state else None
    for output_step in range(steps):
        dh = np.array(dh_seq[output_step])
        dc = np.zeros_like(dh) if spec.has_cell_state else None
        if output_step == steps - 1:
            if dh_last is not None:
                dh += dh_last
            if dc is not None and dc_last is not None:
                dc += dc_last
        lowest = max(0, output_step - truncate)
        for step in range(output_step, lowest - 1, -1):
            dc = cell.backward_step(cache, step, dh, dc, step_dgx, step_dgh)
            dgx[step] += step_dgx
            if not shared:
                dgh[step] += step_dgh
            direct = cell.direct_hidden_grad(cache, step, dh) if spec.direct_hidden_grad else None
            dh = step_dgh @ w_hh
            if direct is not None:
                dh += direct
        if lowest == 0:  # this output's gradient reached the initial state
            grad_h0 += dh
            if grad_c0 is not None:
                grad_c0 += dc
    return grad_h0, grad_c0
