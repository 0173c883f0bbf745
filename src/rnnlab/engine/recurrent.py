"""The recurrent stack of any registered cell (registry.py): layers, directions, dropout between layers.

One (layer, direction) through time (forward, full and truncated backward) is direction.py;
this module projects the inputs, splits and joins the states, and forms the weight gradients.

The contract mirrors `torch.nn.RNN/LSTM/GRU` (time-major, PyTorch's parameter names,
layouts and gate orders), so a `state_dict` moves between the two unchanged:

    y, h_n = layer.forward(x, h0=None)        # x (T, B, I) -> y (T, B, D*H), h_n (L*D, B, H)
    dx = layer.backward(dy, dh_n=None)        # adds parameter gradients into layer.grads

For cells with a cell state (the LSTMs), `h0`, `h_n` and `dh_n` are pairs `(h, c)`. After `backward`,
`layer.grad_h0` holds dL/dh0 in the same form (how a caller carries gradients across
windows, or cuts them: ignore it).

One-hot inputs: `forward(ids)` with integer ids of shape (T, B) stands for their one-hot
vectors (input_size = the vocabulary). The input projection is then a row lookup of
`W_ih^T + b` and dW_ih a sum of rows, rather than products with a mostly-zero matrix;
`backward` returns None (ids have no gradient).

Truncated backpropagation: `backward(dy, bptt_truncate=k)` lets the gradient from each
output (and from `dh_n`) flow back through at most k+1 steps: its own and k earlier
ones, as in the WildML tutorial's `bptt_truncate`. Equivalently, the sum over outputs
t of the full gradient of loss_t with the state before step t-k held constant.

Weight dropout (`weight_dropout=p`, AWD-LSTM's DropConnect, not in torch.nn): in training,
each forward runs on W_hh * m / (1 - p), with a 0/1 mask m drawn per weight (1 with
probability 1 - p) for the whole sequence, and backward gives dW_hh = m / (1 - p) * (the
gradient of the masked weights). The parameters themselves are never changed.

Recording (`forward(x, h0, record=True)`) fills `layer.recorded`: (layer, direction) ->
{"h": (T,B,H), "c": (T,B,H) for cells with a cell state, and per gate name of the cell's
registry entry its activation (T,B,H)}, copies in time order (index t is step t in both
directions). Off (the default), nothing is copied.

Per layer and direction the work is: one matrix product (or lookup) for the input
projection of all T steps; per step one product `h_{t-1} @ W_hh^T` for all gates at
once; after the backward loop one product each for dW_ih, dW_hh and dx.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from . import direction as bptt
from .layers import add_rows_at, check_indices
from .module import Module
from .registry import cell_names, get_cell

State = Union[np.ndarray, tuple]


_reversed_if = bptt.reversed_if


class Recurrent(Module):
    """A stack of any registered cell (`cell=` a registry name; RNN, LSTM, GRU fix it)."""

    cell_name = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        dtype=np.float32,
        seed: Optional[int] = None,
        nonlinearity: str = "tanh",
        locked_dropout: bool = False,
        weight_dropout: float = 0.0,
        cell: Optional[str] = None,
        hidden_bias: bool = True,
    ) -> None:
        super().__init__()
        if cell is not None:
            self.cell_name = cell
        self.spec = get_cell(self.cell_name)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {weight_dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.bidirectional, self.dropout = bias, bidirectional, float(dropout)
        self.hidden_bias = bias and hidden_bias  # False: b_ih alone (one bias per gate, not in torch.nn)
        self.locked_dropout = locked_dropout  # one mask for all steps between layers (not in torch.nn)
        self.weight_dropout = float(weight_dropout)  # DropConnect on W_hh, one mask per forward (not in torch.nn)
        self.num_directions = 2 if bidirectional else 1
        self.dtype = np.dtype(dtype)
        if len(self.spec.nonlinearities) == 1:  # a gated cell: its nonlinearities are fixed (the argument is ignored)
            nonlinearity = self.spec.nonlinearities[0]
        elif nonlinearity not in self.spec.nonlinearities:
            raise ValueError(f"nonlinearity must be one of {', '.join(self.spec.nonlinearities)}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.cell = self.spec.make(nonlinearity)
        self.rng = np.random.default_rng(seed)  # initialisation, then dropout masks
        bound = 1.0 / np.sqrt(hidden_size)  # PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) for all
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                for kind, shape in self.spec.param_shapes(layer_in, hidden_size, bias, hidden_bias).items():
                    values = self.rng.uniform(-bound, bound, size=shape).astype(self.dtype)
                    self.add_param(self._name(kind, layer, direction), values)
        self._cache: Optional[dict] = None
        self._workspace: dict = {}  # reusable work arrays: touching fresh memory every call costs page faults
        self.grad_h0: Optional[State] = None
        self.record_hidden_grads = False  # when True, backward keeps dL/dh_t per layer and direction
        self.hidden_grads: dict = {}
        self.recorded: dict = {}  # forward(..., record=True): (layer, direction) -> {"h", "c", gates...}

    @staticmethod
    def _name(kind: str, layer: int, direction: int) -> str:
        return f"{kind}_l{layer}" + ("_reverse" if direction == 1 else "")

    def _weights(self, layer: int, direction: int):
        get = lambda kind: self.params.get(self._name(kind, layer, direction))  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _extras(self, layer: int, direction: int) -> dict:
        """The cell's parameters beyond the four standard ones (peephole weights), by kind."""
        return {kind: self.params[self._name(kind, layer, direction)] for kind in self.spec.extra_param_kinds}

    def _folded_bias(self, b_ih, b_hh):
        """The biases added once to the input projection: b_ih + b_hh (GRU: b_ih + [b_hr, b_hz, 0])."""
        if b_ih is None or b_hh is None:
            return b_ih
        if self.spec.folds_hidden_bias:
            return b_ih + b_hh
        folded = b_ih.copy()  # GRU: b_hn stays inside r * (...)
        folded[: 2 * self.hidden_size] += b_hh[: 2 * self.hidden_size]
        return folded

    def _buffer(self, key: tuple, shape: tuple) -> np.ndarray:
        """A work array for `key`, reused across calls while the shape stays the same.

        Valid until the next forward (the same lifetime as the forward cache). Arrays
        handed back to the caller (y, h_n, dx) are never taken from here.
        """
        array = self._workspace.get(key)
        if array is None or array.shape != shape:
            array = np.empty(shape, dtype=self.dtype)
            self._workspace[key] = array
        return array

    def init_state(self, batch_size: int) -> State:
        """Zeros in the shape `forward` takes as h0 (a pair for the LSTM)."""
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        zeros = np.zeros(shape, dtype=self.dtype)
        return (zeros, zeros.copy()) if self.spec.has_cell_state else zeros

    def _split_state(self, state: Optional[State], batch_size: int, what: str):
        """-> (h, c) arrays of shape (L*D, B, H); c is None for cells without a cell state."""
        if state is None:
            state = self.init_state(batch_size)
        if self.spec.has_cell_state:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise ValueError(f"{what} for the {self.spec.name} cell must be a pair (h, c)")
            h, c = (np.asarray(s, dtype=self.dtype) for s in state)
        else:
            h, c = np.asarray(state, dtype=self.dtype), None
        expected = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        for array in (h, c):
            if array is not None and array.shape != expected:
                raise ValueError(f"{what} must have shape {expected}, got {array.shape}")
        return h, c

    def _join_state(self, h, c) -> State:
        return (h, c) if self.spec.has_cell_state else h

    # ----------------------------------------------------------------------------- forward
    def forward(self, x: np.ndarray, h0: Optional[State] = None, record: bool = False):
        """x (T, B, input_size) -> y (T, B, D*H), h_n (L*D, B, H) [pair (h_n, c_n) with a cell state].

        x may also be integer ids (T, B), standing for one-hot vectors of size input_size.
        record=True fills `self.recorded` (see the module docstring); otherwise it is emptied.
        """
        self.recorded = {}
        x = np.asarray(x)
        ids = None
        if np.issubdtype(x.dtype, np.integer):
            if x.ndim != 2:
                raise ValueError(f"token ids must have shape (T, B), got {x.shape}")
            ids = check_indices(x, self.input_size).reshape(-1)  # (T*B,)
            steps, batch = x.shape
        else:
            x = x.astype(self.dtype, copy=False)
            if x.ndim != 3 or x.shape[2] != self.input_size:
                raise ValueError(f"input must have shape (T, B, {self.input_size}), got {x.shape}")
            steps, batch, _ = x.shape
        hidden, directions = self.hidden_size, self.num_directions
        h0_all, c0_all = self._split_state(h0, batch, "h0")
        h_n = np.empty_like(h0_all)
        c_n = np.empty_like(c0_all) if c0_all is not None else None
        layers = []  # what backward needs, per layer
        layer_input = x
        for layer in range(self.num_layers):
            flat_input = ids if layer == 0 and ids is not None else layer_input.reshape(steps * batch, -1)
            one_hot = flat_input.ndim == 1  # (T*B,) ids, or (T*B, in) features
            outputs, directions_cache = [], []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, direction)
                index = layer * directions + direction
                gate_rows = w_ih.shape[0]
                w_hh, w_mask = self._drop_weights(w_hh, (layer, direction))
                xp = self._buffer(("xp", layer, direction), (steps * batch, gate_rows))
                bias = self._folded_bias(b_ih, b_hh)  # (G*H,) or None
                if one_hot and flat_input.size < w_ih.shape[1]:  # fewer ids than symbols: their columns
                    np.copyto(xp, w_ih[:, flat_input].T)  # (20 word ids of 8,000: 0.04 ms, the table 1.4 ms)
                    if bias is not None:
                        xp += bias
                elif one_hot:  # row ids of the table W_ih^T + b: one pass over xp, no product
                    table = w_ih.T + bias if bias is not None else w_ih.T  # (V, G*H)
                    np.take(table, flat_input, axis=0, out=xp)
                else:
                    np.matmul(flat_input, w_ih.T, out=xp)  # (T*B, G*H): all steps' input projections at once
                    if bias is not None:
                        xp += bias
                xp = xp.reshape(steps, batch, -1)  # (T, B, G*H)
                returned = layer == self.num_layers - 1 and directions == 1  # y itself: the caller keeps it
                h_seq = (
                    np.empty((steps, batch, hidden), dtype=self.dtype)
                    if returned
                    else self._buffer(("h", layer, direction), (steps, batch, hidden))
                )  # (T, B, H)
                reverse = direction == 1
                c0 = c0_all[index] if c0_all is not None else None
                buffer = lambda role, shape, key=(layer, direction): self._buffer((role,) + key, shape)  # noqa: E731
                h_last, c_last, cache = bptt.forward(
                    self.cell,
                    _reversed_if(xp, reverse),
                    h0_all[index],
                    c0,
                    w_hh,
                    b_hh,
                    _reversed_if(h_seq, reverse),
                    buffer,
                    self._extras(layer, direction),
                )
                if record:
                    self.recorded[(layer, direction)] = {
                        "h": h_seq.copy(),
                        **bptt.recording(self.cell, self.spec, cache, reverse),
                    }
                h_n[index] = h_last
                if c_n is not None:
                    c_n[index] = c_last
                outputs.append(h_seq)
                directions_cache.append(
                    {"cell": cache, "h": h_seq, "h0": h0_all[index], "w_hh": w_hh, "w_mask": w_mask}
                )
            output = outputs[0] if directions == 1 else np.concatenate(outputs, axis=2)  # (T, B, D*H)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = 1.0 - self.dropout
                mask_shape = (1,) + output.shape[1:] if self.locked_dropout else output.shape  # (1|T, B, D*H)
                mask = (self.rng.random(mask_shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                output = output * mask
            layers.append({"input": flat_input, "directions": directions_cache, "mask": mask})
            layer_input = output
        self._cache = {"layers": layers, "shape": (steps, batch), "has_c": c0_all is not None}
        return layer_input, self._join_state(h_n, c_n)

    __call__ = forward

    # ---------------------------------------------------------------------------- backward
    def backward(
        self,
        dy: np.ndarray,
        dh_n: Optional[State] = None,
        bptt_truncate: Optional[int] = None,
        need_input_grad: bool = True,
    ) -> Optional[np.ndarray]:
        """dy (T, B, D*H) [, dh_n like h_n] -> dx (T, B, input_size); adds into self.grads.

        `need_input_grad=False` skips the last product (dx) and returns None: for one-hot
        inputs, where nobody wants dx.
        """
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        if bptt_truncate is not None and bptt_truncate < 0:
            raise ValueError(f"bptt_truncate must be >= 0, got {bptt_truncate}")
        steps, batch = self._cache["shape"]
        hidden, directions = self.hidden_size, self.num_directions
        dy = np.asarray(dy, dtype=self.dtype)
        if dy.shape != (steps, batch, directions * hidden):
            raise ValueError(f"dy must have shape {(steps, batch, directions * hidden)}, got {dy.shape}")
        if dh_n is None:
            dh_last_all, dc_last_all = None, None
        else:
            dh_last_all, dc_last_all = self._split_state(dh_n, batch, "dh_n")
        grad_h0 = np.zeros((self.num_layers * directions, batch, hidden), dtype=self.dtype)
        grad_c0 = np.zeros_like(grad_h0) if self._cache["has_c"] else None
        self.hidden_grads = {}
        d_output: Optional[np.ndarray] = dy
        for layer in reversed(range(self.num_layers)):
            layer_cache = self._cache["layers"][layer]
            assert d_output is not None  # the layer above (or the caller) always passes a gradient down
            if layer_cache["mask"] is not None:
                d_output = d_output * layer_cache["mask"]
            flat_input = layer_cache["input"]  # (T*B, in)
            d_input = None
            for direction in range(directions):
                w_ih, _, b_ih, b_hh = self._weights(layer, direction)
                index = layer * directions + direction
                cache = layer_cache["directions"][direction]
                w_hh = cache["w_hh"]  # the weights the forward used (masked under weight dropout)
                reverse = direction == 1
                gate_rows = w_hh.shape[0]
                dgx = self._buffer(("dgx", layer, direction), (steps, batch, gate_rows))  # d(input projection)
                dgh = (
                    dgx
                    if self.spec.folds_hidden_bias  # d(hidden projection)
                    else self._buffer(("dgh", layer, direction), (steps, batch, gate_rows))
                )
                dh_seq = d_output[:, :, direction * hidden : (direction + 1) * hidden]  # (T, B, H) view
                recorded = None
                if self.record_hidden_grads and bptt_truncate is None:
                    recorded = np.empty((steps, batch, hidden), dtype=self.dtype)
                    self.hidden_grads[(layer, direction)] = recorded
                dh_last = dh_last_all[index] if dh_last_all is not None else None
                dc_last = dc_last_all[index] if dc_last_all is not None else None
                in_order = (
                    cache["cell"],
                    _reversed_if(dh_seq, reverse),
                    dh_last,
                    dc_last,
                    w_hh,
                    _reversed_if(dgx, reverse),
                    _reversed_if(dgh, reverse),
                )
                if bptt_truncate is None:
                    dh0, dc0 = bptt.backward_full(
                        self.cell,
                        self.spec,
                        *in_order,
                        recorded=_reversed_if(recorded, reverse) if recorded is not None else None,
                    )
                else:
                    dh0, dc0 = bptt.backward_truncated(self.cell, self.spec, *in_order, bptt_truncate)
                if self.spec.extra_params:  # the peephole weights: the cell sums their gradients
                    self.cell.extra_grads(
                        cache["cell"],
                        _reversed_if(dgx, reverse),
                        {kind: self.grads[self._name(kind, layer, direction)] for kind in self.spec.extra_param_kinds},
                    )
                grad_h0[index] = dh0
                if grad_c0 is not None:
                    grad_c0[index] = dc0
                # one product each over the whole sequence
                flat_dgx = dgx.reshape(steps * batch, gate_rows)  # (T*B, G*H)
                grad_w_ih = self.grads[self._name("weight_ih", layer, direction)]
                one_hot = flat_input.ndim == 1  # ids: dW_ih^T[v] = sum of dgx rows with id v
                if one_hot:
                    add_rows_at(grad_w_ih.T, flat_input, flat_dgx)
                else:
                    grad_w_ih += flat_dgx.T @ flat_input
                grad_w_hh = self.grads[self._name("weight_hh", layer, direction)]
                if cache["w_mask"] is None:
                    bptt.add_hidden_weight_grad(grad_w_hh, dgh, cache["h"], cache["h0"], reverse)
                else:  # W_hh entered as W_hh * keep / (1 - p): its gradient is that of the product, masked
                    masked_grad = self._buffer(("dw_hh", layer, direction), grad_w_hh.shape)
                    masked_grad.fill(0)
                    bptt.add_hidden_weight_grad(masked_grad, dgh, cache["h"], cache["h0"], reverse)
                    masked_grad *= cache["w_mask"]
                    masked_grad *= self._weight_dropout_scale()
                    grad_w_hh += masked_grad
                if b_ih is not None:
                    bias_grad = flat_dgx.sum(axis=0)
                    self.grads[self._name("bias_ih", layer, direction)] += bias_grad
                    if b_hh is not None:
                        if dgh is not dgx:
                            bias_grad = dgh.reshape(steps * batch, gate_rows).sum(axis=0)
                        self.grads[self._name("bias_hh", layer, direction)] += bias_grad
                if one_hot or (layer == 0 and not need_input_grad):
                    continue
                if d_input is None:  # dx of layer 0 goes to the caller; lower layers' dy is work space
                    d_input = (
                        np.empty((steps * batch, w_ih.shape[1]), dtype=self.dtype)
                        if layer == 0
                        else self._buffer(("d_input", layer), (steps * batch, w_ih.shape[1]))
                    )
                    np.matmul(flat_dgx, w_ih, out=d_input)  # (T*B, in)
                else:
                    d_input += flat_dgx @ w_ih
            d_output = d_input.reshape(steps, batch, -1) if d_input is not None else None
        self.grad_h0 = self._join_state(grad_h0, grad_c0)
        return d_output

    def _drop_weights(self, w_hh: np.ndarray, key: tuple = ()):
        """Weight dropout (DropConnect on the recurrent weights, as in AWD-LSTM): in training,
        W_hh * keep / (1 - p) with one boolean mask `keep` for the whole sequence, each entry
        True with probability 1 - p -> (weights to use, keep or None)."""
        if not (self.training and self.weight_dropout > 0):
            return w_hh, None
        keep = self.rng.random(w_hh.shape, dtype=self.dtype) < self.dtype.type(1.0 - self.weight_dropout)
        dropped = self._buffer(("w_hh",) + key, w_hh.shape)
        np.multiply(w_hh, keep, out=dropped)
        dropped *= self._weight_dropout_scale()
        return dropped, keep

    def _weight_dropout_scale(self):
        return self.dtype.type(1.0) / self.dtype.type(1.0 - self.weight_dropout)  # 1 / (1 - p), in dtype


class RNN(Recurrent):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh | relu | sigmoid."""

    cell_name = "rnn"


class LSTM(Recurrent):
    """Long short-term memory (PyTorch's equations and gate order i, f, g, o)."""

    cell_name = "lstm"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.pop("nonlinearity", None)
        super().__init__(*args, **kwargs)


class GRU(Recurrent):
    """Gated recurrent unit (PyTorch's equations and gate order r, z, n)."""

    cell_name = "gru"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.pop("nonlinearity", None)
        super().__init__(*args, **kwargs)


def make_recurrent(cell: str, input_size: int, hidden_size: int, **kwargs) -> Recurrent:
    """A recurrent stack of the registered `cell` (any name of registry.cell_names())."""
    return Recurrent(input_size, hidden_size, cell=cell, **kwargs)


# cell name -> constructor (input_size, hidden_size, **kwargs), for every registered cell (older callers)
RECURRENT = {
    name: (lambda *args, _cell=name, **kwargs: make_recurrent(_cell, *args, **kwargs)) for name in cell_names()
}
