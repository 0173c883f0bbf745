"""A trained model as an ONNX file: `rnnlab export RUN --onnx model.onnx`.

The graph takes the inputs and the initial state and returns the outputs and the final
state, so a runtime can generate step by step by feeding the state back:

    inputs  "inputs" (T, B) int64 ids   [or (T, B, F) float32 features for dense models]
            "h0"     (layers, B, hidden) float32   (and "c0" for the LSTM)
    outputs "outputs" (T, B, output_size) float32, "h_n" (and "c_n")

T and B are dynamic axes. Weights are exported in float32 whatever the run's dtype.

    import onnxruntime, numpy as np
    session = onnxruntime.InferenceSession("model.onnx")
    logits, h, c = session.run(None, {"inputs": ids, "h0": h0, "c0": c0})

Uses torch's TorchScript-based exporter (`dynamo=False`): it needs no extra packages
and handles torch.nn.LSTM/GRU/RNN directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from rnnlab.backends.torch import Network, TorchModel
from rnnlab.engine.registry import get_cell
from rnnlab.errors import UsageError


class _WithExplicitState(nn.Module):
    """network(inputs, state) with the state as separate tensors in and out (ONNX has no tuples)."""

    def __init__(self, network: nn.Module, lstm: bool) -> None:
        super().__init__()
        self.network, self.lstm = network, lstm

    def forward(self, inputs: torch.Tensor, h0: torch.Tensor, c0: Optional[torch.Tensor] = None):
        if self.lstm:
            outputs, (h_n, c_n) = self.network(inputs, (h0, c0))
            return outputs, h_n, c_n
        outputs, h_n = self.network(inputs, h0)
        return outputs, h_n


def export_onnx(model: TorchModel, path: Union[str, Path], opset: int = 17) -> Path:
    """Write `model` (eval mode, float32, CPU) to `path` as ONNX -> the path."""
    config = model.config
    spec = get_cell(config.cell)
    if spec.torch_module is None:
        raise UsageError(
            f"ONNX export needs a cell with a torch.nn counterpart; the {config.cell} cell runs as a "
            f"Python step loop on torch: use the NumPy checkpoint instead"
        )
    lstm = spec.has_cell_state
    network = Network(config, generators={}).eval()  # float32 on the CPU; eval mode draws no dropout masks
    network.load_state_dict(
        {name: value.to(device="cpu", dtype=torch.float32) for name, value in model.network.state_dict().items()}
    )
    wrapper = _WithExplicitState(network, lstm).eval()
    steps, batch = 3, 2  # example shapes; both axes are dynamic in the file
    if config.input == "dense":
        inputs = torch.zeros(steps, batch, config.input_size)  # (T, B, F)
    else:
        inputs = torch.zeros(steps, batch, dtype=torch.int64)  # (T, B)
    h0 = torch.zeros(config.num_layers, batch, config.hidden_size)  # (L, B, H)
    args = (inputs, h0, torch.zeros_like(h0)) if lstm else (inputs, h0)
    state_in = ["h0", "c0"] if lstm else ["h0"]
    state_out = ["h_n", "c_n"] if lstm else ["h_n"]
    dynamic = {"inputs": {0: "T", 1: "B"}, "outputs": {0: "T", 1: "B"}}
    dynamic.update({name: {1: "B"} for name in state_in + state_out})
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise UsageError(f"folder {path.parent} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and batch-size notes
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["inputs"] + state_in,
            output_names=["outputs"] + state_out,
            dynamic_axes=dynamic,
        )
    return path
