"""`rnnlab runs [DIR]`: one line per run folder, without loading any weights.

    run       task    model        steps  best val  status
    charlm-1  charlm  lstm 2x512   12000  1.4012    finished
    wordlm-2  wordlm  lstm 2x650    3400  4.8811    stopped after 2 of 40 epochs: rnnlab train --resume runs/wordlm-2

What a row reads, in a run folder (see train.py): `config.json` (task, options, the
"model" dict), `metrics.jsonl` (one line per evaluation), `final.json` (written when
`fit` returns, also after a time budget stops it), and only the JSON header of
`checkpoints/last.safetensors` (epoch, step, best_val and the options as of the last
save; a resume with --epochs N changes them there, not in config.json). A run is
finished when the epochs it reached are the epochs it was asked for; otherwise it is
stopped, and resumable when it has a last checkpoint. A folder that is not a run, or
whose files do not parse, gets a row that says so.

Left out: runs still training look stopped (nothing in the folder tells them apart).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path
from typing import Any, Optional

from rnnlab.errors import UsageError

COLUMNS = (
    ("run", "run"),
    ("task", "task"),
    ("model", "model"),
    ("steps", "steps"),
    ("best_val", "best val"),
    ("status", "status"),
)


# ----------------------------------------------------------------------------- reading a folder
def _read_json(path: Path) -> Any:
    """The parsed file, None when it does not exist; ValueError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name} cannot be read ({error})") from None
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{path.name} is not JSON") from None


def _read_metrics(path: Path) -> tuple:
    """(the rows of metrics.jsonl that parse as JSON objects, how many lines did not)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return [], 0
    rows, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1  # e.g. a line cut short by a crash mid-write
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def checkpoint_header(path: Path) -> Optional[dict]:
    """The rnnlab metadata in a safetensors file's JSON header (the weights are not read), or
    None when the file is missing or is not an rnnlab checkpoint."""
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size < 1 << 30:
                return None
            header = json.loads(handle.read(size))
        meta = json.loads(header.get("__metadata__", {}).get("rnnlab", "null"))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return meta if isinstance(meta, dict) else None


def _number(value: Any) -> Optional[float]:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else None
    )


def _model_summary(model: Any) -> Optional[str]:
    if not isinstance(model, dict):
        return None
    cell, layers, hidden = model.get("cell"), model.get("num_layers"), model.get("hidden_size")
    return f"{cell or '?'} {layers if layers is not None else '?'}x{hidden if hidden is not None else '?'}"


def describe_run(folder: Path) -> dict[str, Any]:
    """One row: run, task, model, steps, best_val, epoch, epochs, finished, status, resume, problem."""
    row: dict[str, Any] = {
        "run": str(folder),
        "task": None,
        "model": None,
        "steps": None,
        "best_val": None,
        "epoch": None,
        "epochs": None,
        "finished": False,
        "status": "",
        "resume": None,
        "problem": None,
    }
    try:
        config = _read_json(folder / "config.json")
    except ValueError as error:
        return {**row, "status": f"corrupt: {error}", "problem": "corrupt"}
    if config is None:
        return {**row, "status": "not a run (no config.json)", "problem": "not a run"}
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        return {**row, "status": "not an rnnlab run (config.json names no task)", "problem": "foreign"}
    row["task"], row["model"] = config["task"], _model_summary(config.get("model"))
    config_options = config.get("options")
    options = config_options if isinstance(config_options, dict) else {}
    metrics, bad_lines = _read_metrics(folder / "metrics.jsonl")
    try:
        final = _read_json(folder / "final.json")
    except ValueError:
        final, bad_lines = None, bad_lines + 1
    final = final if isinstance(final, dict) else {}
    has_checkpoint = (folder / "checkpoints" / "last.safetensors").is_file()
    meta = checkpoint_header(folder / "checkpoints" / "last.safetensors") if has_checkpoint else None
    latest = meta or {}
    saved_options = latest.get("options")
    latest_options = saved_options if isinstance(saved_options, dict) else {}
    last = metrics[-1] if metrics else {}

    def first(*values):
        return next((value for value in values if _number(value) is not None), None)

    row["steps"] = first(latest.get("step"), last.get("step"), final.get("steps"))
    row["epoch"] = first(latest.get("epoch"), last.get("epoch"), final.get("epochs"))
    row["epochs"] = first(latest_options.get("epochs"), options.get("epochs"))
    read = [_number(m.get("val_loss")) for m in metrics] + [_number(final.get("val_loss"))]
    validation = [value for value in read if value is not None]
    row["best_val"] = first(latest.get("best_val"), min(validation) if validation else None)
    if row["model"] is None:
        row["model"] = _model_summary(latest.get("model"))
    if row["epoch"] is not None and row["epochs"] is not None and row["epoch"] >= row["epochs"]:
        row["finished"], row["status"] = True, "finished"
    elif has_checkpoint:
        where = (
            f" after {int(row['epoch'])} of {int(row['epochs'])} epochs"
            if row["epochs"] is not None and row["epoch"] is not None
            else ""
        )
        row["resume"] = f"rnnlab train --resume {shlex.quote(str(folder))}"
        row["status"] = f"stopped{where}: {row['resume']}"
        if meta is None:
            row["status"] = f"stopped, last checkpoint unreadable (resume may fail): {row['resume']}"
    else:
        row["status"] = "stopped before its first checkpoint (nothing to resume; train it again)"
    if bad_lines:
        row["status"] += f" ({bad_lines} unreadable line(s) in metrics.jsonl/final.json)"
    return row


# ----------------------------------------------------------------------------- a folder of runs
def run_folders(root: Path) -> list[Path]:
    """`root` itself when it is a run; else its subfolders, and the runs one level inside a
    subfolder that is not a run but holds some (a sweep's folder)."""
    if (root / "config.json").exists():
        return [root]
    found = []
    for child in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        inner = (
            []
            if (child / "config.json").exists()
            else sorted(path for path in child.iterdir() if path.is_dir() and (path / "config.json").exists())
        )
        found.extend(inner or [child])
    return found


def list_runs(root="runs") -> list[dict[str, Any]]:
    """A row (see `describe_run`) for each run folder under `root`; UsageError when there is no `root`."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"no folder {root}; give the folder that holds your runs (rnnlab runs DIR)")
    return [describe_run(folder) for folder in run_folders(root)]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned columns under a header line (numbers right-aligned)."""
    if not rows:
        return "no runs"

    def cell(row, key):
        value = row[key]
        if value is None:
            return "-"
        if key == "best_val":
            return f"{value:.4f}"
        if key == "steps":
            return str(int(value))
        return str(value)

    table = [[title for _, title in COLUMNS]] + [[cell(row, key) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    lines = []
    for line in table:
        parts = [
            text.rjust(width) if key in ("steps", "best_val") else text.ljust(width)
            for (key, _), text, width in zip(COLUMNS, line, widths)
        ]
        lines.append("  ".join(parts + [line[-1]]).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the CLI's part
def add_runs_parser(subparsers) -> argparse.ArgumentParser:
    """`rnnlab runs [DIR] [--json]` on the CLI's subcommands."""
    parser = subparsers.add_parser(
        "runs", help="list the runs in a folder: task, model, steps, best validation, finished or how to resume"
    )
    parser.add_argument("dir", nargs="?", default="runs", metavar="DIR", help="folder of run folders [runs]")
    parser.add_argument("--json", action="store_true", help="print the list as JSON instead of a table")
    return parser


def run_runs(args: argparse.Namespace) -> int:
    rows = list_runs(args.dir)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0
