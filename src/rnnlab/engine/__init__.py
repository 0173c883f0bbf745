"""The NumPy engine: recurrent layers, layers, losses, optimisers, gradient checks.

Imports nothing but NumPy. Read in this order: module.py (the params/grads convention),
cells.py (one direction of one layer, forward and backward side by side), recurrent.py
(multi-layer, bidirectional, truncation), layers.py, losses.py, adaptive.py (the adaptive
softmax), optim.py, gradcheck.py.
"""
from .module import Module
from .recurrent import GRU, LSTM, RECURRENT, RNN

__all__ = ["Module", "RNN", "LSTM", "GRU", "RECURRENT"]
