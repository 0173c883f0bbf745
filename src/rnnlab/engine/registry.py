"""The one table of recurrent cells: everything other code asks about a cell.

Every question about a cell (how many gates, their names, whether it has a cell state,
which parameters it has, whether a forget-gate bias applies, what torch.nn calls it) is
answered here, never by testing the cell's name elsewhere. Adding a cell is one class in
cells.py and one entry below.

    >>> spec = get_cell("lstm")
    >>> spec.num_gates, spec.has_cell_state, spec.gate_names
    (4, True, ('i', 'f', 'g', 'o'))
    >>> cell_names()
    ('rnn', 'lstm', 'gru')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from .cells import GRUCell, LSTMCell, RNNCell


@dataclass(frozen=True)
class CellSpec:
    """What a cell is, for every module that builds, converts, checks or reports one."""

    name: str  # the value of --cell
    make: Callable[[str], object]  # nonlinearity -> a cell object (cells.py)
    gate_names: Tuple[str, ...]  # the stacked gates, in the parameters' row order
    has_cell_state: bool  # the state is a pair (h, c)
    summary: str  # one line for --help and reports
    nonlinearities: Tuple[str, ...] = ("tanh",)  # values --nonlinearity may take for this cell
    forget_gate: Optional[int] = None  # index of the forget gate in gate_names (a forget bias applies), or None
    extra_params: Tuple[Tuple[str, Callable[[int], Tuple[int, ...]]], ...] = ()  # (kind, hidden -> shape)
    torch_module: Optional[str] = None  # the torch.nn class that computes the same thing, or None
    gate_activations: Tuple[str, ...] = field(default=())  # per gate: "sigmoid" | "tanh" | ... (inspection)

    @property
    def num_gates(self) -> int:
        return len(self.gate_names)


CELLS: Dict[str, CellSpec] = {
    spec.name: spec
    for spec in (
        CellSpec("rnn", RNNCell, ("h",), False, "Elman RNN: h = act(W_ih x + W_hh h_prev + b)",
                 nonlinearities=("tanh", "relu", "sigmoid"), torch_module="RNN", gate_activations=("act",)),
        CellSpec("lstm", lambda nonlinearity: LSTMCell(), ("i", "f", "g", "o"), True,
                 "LSTM (PyTorch's): c = f c_prev + i g, h = o tanh(c)", forget_gate=1, torch_module="LSTM",
                 gate_activations=("sigmoid", "sigmoid", "tanh", "sigmoid")),
        CellSpec("gru", lambda nonlinearity: GRUCell(), ("r", "z", "n"), False,
                 "GRU (PyTorch's): h = (1 - z) n + z h_prev", torch_module="GRU",
                 gate_activations=("sigmoid", "sigmoid", "tanh")),
    )
}


def cell_names() -> Tuple[str, ...]:
    """The valid --cell values, in the registry's order."""
    return tuple(CELLS)


def get_cell(name: str) -> CellSpec:
    """The registry entry for `name`; ValueError naming the choices for an unknown cell."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose one of: {', '.join(CELLS)}") from None
