"""The one table of recurrent cells: everything other code asks about a cell.

Every question about a cell (how many gates, their names, whether it has a cell state,
which parameters it has, whether a forget-gate bias applies, what torch.nn calls it) is
answered here, never by testing the cell's name elsewhere. Adding a cell is one class in
cells.py (or lstm_variants.py) and one entry below; the tests pick it up from here, and
tests/test_recurrent.py asks for its equations once (REFERENCE_STEPS) to check its recordings.

A cell class has `forward(xp, h0, c0, w_hh, b_hh, h_out, buffer, extras)`,
`backward_step(cache, t, dh, dc, dgx, dgh)` and `activations(cache)`; with `direct_hidden_grad`
also `direct_hidden_grad(cache, t, dh)`, with `extra_params` also `extra_grads(cache, dgx,
grads)`; with no `torch_module`, `step(projected, h, c, w_hh, extras, sigmoid, tanh)`, which
the torch backend loops over (backends/loop.py).

    >>> spec = get_cell("lstm")
    >>> spec.num_gates, spec.has_cell_state, spec.gate_names
    (4, True, ('i', 'f', 'g', 'o'))
    >>> cell_names()
    ('rnn', 'lstm', 'gru', 'peephole', 'minimal-lstm')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .cells import GRUCell, LSTMCell, RNNCell
from .lstm_variants import MinimalLSTMCell, PeepholeLSTMCell


@dataclass(frozen=True)
class CellSpec:
    """What a cell is, for every module that builds, converts, checks or reports one."""

    name: str  # the value of --cell
    make: Callable[[str], Any]  # nonlinearity -> a cell object (cells.py)
    gate_names: tuple[str, ...]  # the stacked gates, in the parameters' row order
    has_cell_state: bool  # the state is a pair (h, c)
    summary: str  # one line for --help and reports
    nonlinearities: tuple[str, ...] = ("tanh",)  # values --nonlinearity may take for this cell
    forget_gate: Optional[int] = None  # index of the forget gate in gate_names (a forget bias applies), or None
    extra_params: tuple[tuple[str, Callable[[int], tuple[int, ...]]], ...] = ()  # (kind, hidden -> shape)
    torch_module: Optional[str] = None  # the torch.nn class that computes the same thing, or None (backends/loop.py)
    torch_nonlinearities: tuple[str, ...] = ("tanh",)  # the nonlinearities the torch backend computes
    gate_activations: tuple[str, ...] = field(default=())  # per gate: "sigmoid" | "tanh" | ... (inspection)
    folds_hidden_bias: bool = True  # b_hh is added with the input projection (GRU: only b_hr, b_hz)
    direct_hidden_grad: bool = False  # the cell adds a dL/dh_{t-1} term that skips W_hh (GRU's z path)

    @property
    def num_gates(self) -> int:
        return len(self.gate_names)

    @property
    def extra_param_kinds(self) -> tuple[str, ...]:
        """Parameters beyond weight_ih, weight_hh, bias_ih, bias_hh; the cell forms their gradients."""
        return tuple(kind for kind, _ in self.extra_params)

    @property
    def own_grads(self) -> tuple[str, ...]:
        """The gradients the cell forms itself: its extra parameters', and "h_prev" for a direct path."""
        return self.extra_param_kinds + (("h_prev",) if self.direct_hidden_grad else ())

    def param_shapes(
        self, input_size: int, hidden_size: int, bias: bool = True, hidden_bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        """kind -> shape of one layer and direction's parameters (suffix `_l{k}[_reverse]` on each).

        `hidden_bias=False` leaves out bias_hh: one bias per gate, as the d2l and nicodjimenez
        programs have (PyTorch's layers always have both)."""
        rows = self.num_gates * hidden_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
        if bias:
            shapes["bias_ih"] = (rows,)
            if hidden_bias:
                shapes["bias_hh"] = (rows,)
        shapes.update({kind: shape(hidden_size) for kind, shape in self.extra_params})
        return shapes

    def forget_rows(self, hidden_size: int) -> slice:
        """The forget gate's rows of a stacked (G*H,) bias; ValueError for a cell without one."""
        if self.forget_gate is None:
            raise ValueError(f"the {self.name} cell has no forget gate")
        return slice(self.forget_gate * hidden_size, (self.forget_gate + 1) * hidden_size)


def _diagonal(hidden_size: int) -> tuple[int, ...]:
    return (hidden_size,)


CELLS: dict[str, CellSpec] = {
    spec.name: spec
    for spec in (
        CellSpec(
            "rnn",
            RNNCell,
            ("h",),
            False,
            "Elman RNN: h = act(W_ih x + W_hh h_prev + b)",
            nonlinearities=("tanh", "relu", "sigmoid"),
            torch_module="RNN",
            torch_nonlinearities=("tanh", "relu"),
            gate_activations=("act",),
        ),
        CellSpec(
            "lstm",
            lambda nonlinearity: LSTMCell(),
            ("i", "f", "g", "o"),
            True,
            "LSTM (PyTorch's): c = f c_prev + i g, h = o tanh(c)",
            forget_gate=1,
            torch_module="LSTM",
            gate_activations=("sigmoid", "sigmoid", "tanh", "sigmoid"),
        ),
        CellSpec(
            "gru",
            lambda nonlinearity: GRUCell(),
            ("r", "z", "n"),
            False,
            "GRU (PyTorch's): h = (1 - z) n + z h_prev",
            torch_module="GRU",
            gate_activations=("sigmoid", "sigmoid", "tanh"),
            folds_hidden_bias=False,  # b_hn is inside r * (.)
            direct_hidden_grad=True,
        ),
        CellSpec(
            "peephole",
            lambda nonlinearity: PeepholeLSTMCell(),
            ("i", "f", "g", "o"),
            True,
            "peephole LSTM (Gers & Schmidhuber 2000): i, f see c_prev, o sees c",
            forget_gate=1,
            extra_params=(("weight_ci", _diagonal), ("weight_cf", _diagonal), ("weight_co", _diagonal)),
            gate_activations=("sigmoid", "sigmoid", "tanh", "sigmoid"),
        ),
        CellSpec(
            "minimal-lstm",
            lambda nonlinearity: MinimalLSTMCell(),
            ("g", "i", "f", "o"),
            True,
            "the nicodjimenez/lstm tutorial's LSTM: s = g i + f s_prev, h = o s (no tanh)",
            forget_gate=2,
            gate_activations=("tanh", "sigmoid", "sigmoid", "sigmoid"),
        ),
    )
}


def cell_names() -> tuple[str, ...]:
    """The valid --cell values, in the registry's order."""
    return tuple(CELLS)


def get_cell(name: str) -> CellSpec:
    """The registry entry for `name`; ValueError naming the choices for an unknown cell."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose one of: {', '.join(CELLS)}") from None
