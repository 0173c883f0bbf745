"""The NumPy engine: recurrent layers, layers, losses, optimisers, gradient checks.

Imports nothing but NumPy. Read in this order: module.py (the params/grads convention),
registry.py (the cells), cells.py and lstm_variants.py (one step's equations of one
direction of one layer, forward and backward side by side), direction.py (one direction
through time, truncation), recurrent.py (the stack: layers, directions, dropout), layers.py,
losses.py, adaptive.py (the adaptive softmax), optim.py, lr_schedules.py, gradcheck.py.
"""

from .module import Module
from .recurrent import GRU, LSTM, RECURRENT, RNN, Recurrent, make_recurrent
from .registry import cell_names, get_cell

__all__ = ["Module", "RNN", "LSTM", "GRU", "RECURRENT", "Recurrent", "make_recurrent", "cell_names", "get_cell"]
