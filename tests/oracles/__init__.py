"""Test oracles: self-contained NumPy transcriptions of the classic tutorial programs.

Each module reproduces one public tutorial's program as published (same order of random
draws, same update rules, same printed lines) so that tests can run rnnlab's faithful
presets and compare every printed number with the original's. They import nothing from
rnnlab, on purpose: an oracle that shared code with what it checks would check nothing.

- `iamtrask`      the iamtrask tutorial "Anyone can learn to code an LSTM-RNN" (binary addition)
- `nicodjimenez`  the nicodjimenez/lstm tutorial (minimal LSTM in NumPy)
- `d2l`           d2l's RNN chapter from scratch (character model, consecutive sampling)
"""
