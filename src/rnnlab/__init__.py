"""rnnlab: recurrent neural networks (RNN, LSTM, GRU) from scratch in NumPy, and on PyTorch."""

__version__ = "0.1.0"
