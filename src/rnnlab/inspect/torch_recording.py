"""The recording on PyTorch: the recurrent stack run step by step in torch from the same weights.

    recorded = record_stack_torch(cell, weights, x, num_layers)   # x (T, B, I) -> {(layer, 0): {...}}

The result has the NumPy engine's recording layout ({(layer, direction): {"h", "c" if the cell
has one, each gate by the registry's gate_names}: (T, B, H)}), so the two can be compared
value by value; `rnnlab inspect` itself runs on the NumPy engine (a run trained on torch
loads there with the same weights). Each torch step is written from torch.nn's documented
equations (gate order and bias placement as torch.nn.LSTM / GRU / RNN), keyed by the
registry's `torch_module`; the h and c it produces are checked against torch.nn's own
modules in the tests.
"""

from __future__ import annotations

import numpy as np

from rnnlab.engine.registry import get_cell


def _lstm_step(torch, x_proj, h, c, w_hh, b_hh, nonlinearity):
    gates = x_proj + h @ w_hh.T + (b_hh if b_hh is not None else 0)
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c, (i, f, g, o)


def _gru_step(torch, x_proj, h, c, w_hh, b_hh, nonlinearity):
    h_proj = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    x_r, x_z, x_n = x_proj.chunk(3, dim=1)
    h_r, h_z, h_n = h_proj.chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h = (1 - z) * n + z * h
    return h, None, (r, z, n)


def _rnn_step(torch, x_proj, h, c, w_hh, b_hh, nonlinearity):
    pre = x_proj + h @ w_hh.T + (b_hh if b_hh is not None else 0)
    h = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    return h, None, (h,)


STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN": _rnn_step}  # by the registry's torch_module


def record_stack_torch(
    cell: str, weights: dict[str, np.ndarray], x: np.ndarray, num_layers: int, nonlinearity: str = "tanh"
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """weights: the recurrent layer's state dict (`weight_ih_l0`, ...); x (T, B, I) -> the recording."""
    import torch

    spec = get_cell(cell)
    if spec.torch_module not in STEPS:
        raise ValueError(f"cell {cell!r} has no torch counterpart to record with")
    step = STEPS[spec.torch_module]
    dtype = torch.float64 if np.asarray(x).dtype == np.float64 else torch.float32
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    layer_input = tensor(x)  # (T, B, I)
    steps, batch, _ = layer_input.shape
    out = {}
    with torch.no_grad():
        for layer in range(num_layers):
            w_ih, w_hh = tensor(weights[f"weight_ih_l{layer}"]), tensor(weights[f"weight_hh_l{layer}"])
            b_ih = tensor(weights[f"bias_ih_l{layer}"]) if f"bias_ih_l{layer}" in weights else None
            b_hh = tensor(weights[f"bias_hh_l{layer}"]) if f"bias_hh_l{layer}" in weights else None
            hidden = w_hh.shape[1]
            h = torch.zeros(batch, hidden, dtype=dtype)
            c = torch.zeros(batch, hidden, dtype=dtype) if spec.has_cell_state else None
            kinds = ("h", *(("c",) if spec.has_cell_state else ()), *spec.gate_names)
            values: dict[str, list] = {name: [] for name in kinds}
            for t in range(steps):
                x_proj = layer_input[t] @ w_ih.T + (b_ih if b_ih is not None else 0)  # (B, G*H)
                h, c, gates = step(torch, x_proj, h, c, w_hh, b_hh, nonlinearity)
                values["h"].append(h)
                if c is not None:
                    values["c"].append(c)
                for name, gate in zip(spec.gate_names, gates):
                    if name not in ("h", "c"):
                        values[name].append(gate)
            out[(layer, 0)] = {k: torch.stack(v).numpy() for k, v in values.items() if v}
            layer_input = torch.stack(values["h"])  # (T, B, H)
    return out
