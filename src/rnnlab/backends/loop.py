"""A registered cell that torch.nn lacks, as a torch module: a step-by-step loop over time.

`LoopRecurrent(cell, input_size, hidden_size, num_layers, bias, bidirectional, dropout)`
has torch.nn.LSTM's interface (time-major `(y, h_n)` or `(y, (h_n, c_n))`, the same
parameter names `weight_ih_l0`, ..., `_reverse`, plus the cell's extras such as
`weight_ci_l0`), so the torch backend, the tests and `state_dict`s treat it as they treat
torch.nn.LSTM. Each step is the NumPy cell's own `step` (its equations written with
operators) applied to tensors; autograd gives the backward. Slower than torch.nn's fused
kernels (one Python step per time step), the same arithmetic as the NumPy engine.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.engine.registry import get_cell


class LoopRecurrent(nn.Module):
    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: Optional[str] = None,
        dtype=None,
        device=None,
    ) -> None:
        super().__init__()
        self.spec = get_cell(cell)
        self.cell: Any = self.spec.make(nonlinearity or self.spec.nonlinearities[0])  # duck-typed: needs step()
        if not hasattr(self.cell, "step"):
            raise ValueError(f"the {cell} cell has no step equations for a torch loop")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.bidirectional, self.dropout = bias, bidirectional, float(dropout)
        self.num_directions = 2 if bidirectional else 1
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                for kind, shape in self.spec.param_shapes(layer_in, hidden_size, bias).items():
                    weight = torch.empty(shape, dtype=dtype, device=device).uniform_(-bound, bound)
                    self.register_parameter(self._name(kind, layer, direction), nn.Parameter(weight))

    @staticmethod
    def _name(kind: str, layer: int, direction: int) -> str:
        return f"{kind}_l{layer}" + ("_reverse" if direction == 1 else "")

    def _get(self, kind: str, layer: int, direction: int):
        return getattr(self, self._name(kind, layer, direction), None)

    def forward(self, x: torch.Tensor, state=None):
        """x (T, B, I) -> y (T, B, D*H), h_n (L*D, B, H) [pair (h_n, c_n) with a cell state]."""
        steps, batch = x.shape[0], x.shape[1]
        count = self.num_layers * self.num_directions
        zeros = x.new_zeros((count, batch, self.hidden_size))
        has_c = self.spec.has_cell_state
        if state is None:
            h0, c0 = zeros, (zeros if has_c else None)
        elif has_c:
            h0, c0 = state
        else:
            h0, c0 = state, None
        finals_h: list[torch.Tensor] = []
        finals_c: list = []  # c_n parts, when the cell has a cell state
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                w_ih, w_hh = self._get("weight_ih", layer, direction), self._get("weight_hh", layer, direction)
                projected = layer_input @ w_ih.T  # (T, B, G*H)
                if self.bias:
                    projected = (
                        projected + self._get("bias_ih", layer, direction) + self._get("bias_hh", layer, direction)
                    )
                extras = {kind: self._get(kind, layer, direction) for kind in self.spec.extra_param_kinds}
                h, c = h0[index], (c0[index] if c0 is not None else None)  # c0 is None exactly when not has_c
                order = range(steps - 1, -1, -1) if direction == 1 else range(steps)
                hs: list = [None] * steps  # (T,) of (B, H), filled in the direction's order
                for t in order:
                    h, c = self.cell.step(projected[t], h, c, w_hh, extras, torch.sigmoid, torch.tanh)
                    hs[t] = h
                outputs.append(torch.stack(hs))  # (T, B, H)
                finals_h.append(h)
                finals_c.append(c)
            layer_input = outputs[0] if self.num_directions == 1 else torch.cat(outputs, dim=2)
        h_n = torch.stack(finals_h)
        return layer_input, ((h_n, torch.stack(finals_c)) if has_c else h_n)


def recurrent_module(cell: str):
    """The torch module class for a registered cell: torch.nn's counterpart, else LoopRecurrent
    (either called like torch.nn.LSTM: (input_size, hidden_size, num_layers=, bias=, ...))."""
    spec = get_cell(cell)
    if spec.torch_module is not None:
        return getattr(nn, spec.torch_module)
    return lambda *args, **kwargs: LoopRecurrent(cell, *args, **kwargs)
