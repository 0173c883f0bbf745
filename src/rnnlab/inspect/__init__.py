"""What a trained language model's units and gates learned: `rnnlab inspect RUN`.

In reading order: recording.py (per-step h, c and gates, predictions and losses),
features.py (text features), units.py (correlations, found units, gate saturation),
report.py (`inspect`, the whole job), page.py (the offline HTML page), pngs.py,
lstmvis.py (files for LSTMVis), torch_recording.py (the same recording on PyTorch),
cli.py (the subcommand).

    from rnnlab.inspect import inspect
    inspect("runs/charlm-1", text="my.txt")   # -> runs/charlm-1/inspect/inspect.html
"""

from rnnlab.inspect.cli import add_inspect_parser, run_inspect
from rnnlab.inspect.report import inspect

__all__ = ["inspect", "add_inspect_parser", "run_inspect"]
