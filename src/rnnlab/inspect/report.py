"""`inspect(run, ...)`: read a text with a trained language model and write what its units did.

    summary = inspect("runs/charlm-1", text="my.txt", length=2000, units=32, out="runs/charlm-1/inspect")

Steps: check every input (nothing is written before all checks pass) -> load the run on
the NumPy engine (runs trained on torch load too: the weights are the same) -> the
symbols to read (a text file or the validation split) -> record (recording.py) ->
features, correlations, found units, saturation (features.py, units.py) -> write the
page, inspect.json, activations.safetensors, PNGs, and optionally LSTMVis files, each
into a temporary folder renamed into place at the end.

What the page embeds (to stay small): the symbols, per-symbol loss and top-5
predictions, and for each layer, direction and state kind (h, and c for cells with a
cell state) the `units` units most correlated with any feature plus every found unit,
all rounded to 3 decimals; gate saturation as two fractions per gate unit.
activations.safetensors holds every recorded array in full (float32).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from rnnlab.errors import UsageError
from rnnlab.inspect.features import DESCRIPTIONS, text_features
from rnnlab.inspect.recording import (
    Recording,
    array_name,
    gate_kinds,
    record,
    state_kinds,
)
from rnnlab.inspect.units import (
    SATURATION_THRESHOLDS,
    UnitTable,
    correlations,
    saturation,
    strongest_units,
    units_to_show,
)

FORMAT, VERSION = "rnnlab.inspect", 1
DEFAULT_LENGTH = 2000  # symbols read and shown
DEFAULT_UNITS = 32  # units per layer, direction and kind embedded in the page's picker


def _round(values) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 3).tolist()


def check_output_dir(path: Path, force: bool, flag: str) -> None:
    if path.exists() and not force:
        raise UsageError(f"{flag} {path} already exists; add --force to replace it, or choose another folder")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder; choose another path")


def _language_model_task(run: Path) -> str:
    from rnnlab import api
    from rnnlab.tasks import TASKS
    from rnnlab.tasks.lm import LanguageModelTask

    name = api.read_config(run)["task"]
    if not issubclass(TASKS[name], LanguageModelTask):
        raise UsageError(f"{run} is a {name} run; rnnlab inspect reads language models (charlm, wordlm)")
    return name


def symbols_to_read(task, text: Optional[str], length: int) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """(ids (N,), symbols, notes) of a text file or the validation split, at most `length` of them."""
    vocab = task.vocab
    notes: dict[str, Any] = {}
    if text is not None:
        from rnnlab.data import read_text_file, stream_tokens

        raw = read_text_file(text)
        pieces = stream_tokens(raw, vocab.tokenizer) if vocab.kind == "word" else list(raw)  # as `evaluate` reads it
        known = np.array([p in vocab for p in pieces], dtype=bool)
        notes["unknown"] = int((~known).sum())
        if vocab.kind == "word" and vocab.unk is not None:
            ids = vocab.encode(pieces, unknown="unk")  # scored as <unk>, as `evaluate` does
            notes["unknown_as"] = vocab.unk
        else:
            ids = (
                vocab.encode([p for p, k in zip(pieces, known) if k], unknown="error")
                if known.any()
                else np.zeros(0, dtype=np.int64)
            )
        notes["source"] = str(text)
    else:
        streams = task.held_out_streams()
        if "val" not in streams:
            raise UsageError(
                f"this {task.name} run has no validation stream to read "
                f"(mode {getattr(task.options, 'mode', '?')}); give a text with --text PATH"
            )
        ids = np.asarray(streams["val"])
        notes["source"] = "the validation split"
    if len(ids) < 2:
        what = "known symbols" if text is not None else "symbols"
        raise UsageError(
            f"{notes['source']} has {len(ids)} {what}; inspect needs at least 2 "
            f"(unknown ones skipped: {notes.get('unknown', 0)})"
        )
    ids = ids[:length]
    return ids, [vocab.itos[i] for i in ids], notes


def _val_loss(run: Path) -> str:
    path = run / "metrics.jsonl"
    losses = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry.get("val_loss"), (int, float)):
                losses.append(float(entry["val_loss"]))
    if not losses:  # no log: the checkpoint's own record of its best validation loss
        from rnnlab.checkpoint import load_checkpoint

        for name in ("best", "last"):
            checkpoint = run / "checkpoints" / f"{name}.safetensors"
            if checkpoint.exists():
                best = load_checkpoint(checkpoint)[1].get("best_val")
                if isinstance(best, (int, float)) and math.isfinite(best):
                    return f"best {best:.4f} (ppl {math.exp(min(best, 50)):.2f}), from the checkpoint"
        return "not recorded"
    best = min(losses)
    return (
        f"{losses[-1]:.4f} (ppl {math.exp(min(losses[-1], 50)):.2f}) at the last evaluation, "
        f"best {best:.4f} (ppl {math.exp(min(best, 50)):.2f})"
    )


def _header(run: Path, task, ids, notes, length_limit: int, units: int) -> dict[str, Any]:
    config = task.model.config
    options = task.options
    data = getattr(options, "text", None) or getattr(options, "data", None) or getattr(options, "corpus", "?")
    limit = getattr(options, "max_chars", None) or getattr(options, "max_tokens", None)
    inspected = f"{len(ids)} symbols of {notes['source']}"
    if notes.get("unknown"):
        inspected += f"; {notes['unknown']} unknown symbols " + (
            f"read as {notes['unknown_as']!r}" if "unknown_as" in notes else "skipped"
        )
    return {
        "run": run.name or str(run),
        "run_path": str(run),
        "model": f"{config.cell.upper()} {config.num_layers}x{config.hidden_size}, {config.input} input, "
        f"{task.model.num_parameters():,} parameters ({task.name}, {task.vocab.kind} vocabulary of "
        f"{len(task.vocab)})",
        "data": f"{data}" + (f", first {limit:,} symbols" if limit else ""),
        "val_loss": _val_loss(run),
        "inspected": inspected,
        "embedded": f"all {len(ids)} symbols; per layer and state kind the {units} units most correlated "
        f"with a feature, plus the found units; values rounded to 3 decimals",
    }


def analyse(rec: Recording, symbols: list[str], cell: str, kind: str, units: int) -> dict[str, Any]:
    """Features, correlations, found units, the units to embed and gate saturation."""
    features = text_features(symbols, kind)
    kinds = state_kinds(cell)
    table = UnitTable(
        {(layer, direction, k): values[k] for (layer, direction), values in rec.states.items() for k in kinds}
    )
    corr = correlations(table.values, features)  # (F, U)
    found = strongest_units(table, features, corr)
    must = [(u["layer"], u["direction"], u["kind"], u["unit"]) for item in found for u in item["units"]]
    shown = units_to_show(table, corr, units, must)
    saturations = []
    for (layer, direction), values in sorted(rec.states.items()):
        for gate, activation in gate_kinds(cell):
            fractions = saturation(values[gate], activation)
            if fractions is not None:
                saturations.append(
                    {
                        "layer": layer,
                        "direction": direction,
                        "gate": gate,
                        "activation": activation,
                        "thresholds": list(SATURATION_THRESHOLDS[activation]),
                        **fractions,
                    }
                )
    return {
        "features": features,
        "table": table,
        "corr": corr,
        "found": found,
        "shown": shown,
        "saturation": saturations,
        "correlated_kinds": kinds,
    }


def build_payload(header, rec: Recording, symbols, kind: str, line_end: str, analysis) -> dict[str, Any]:
    """The data the page embeds (see the module docstring for what and why)."""
    top_vocab: dict[int, int] = {}
    for i in rec.top_ids.reshape(-1).tolist():
        top_vocab.setdefault(i, len(top_vocab))
    top_symbols = [None] * len(top_vocab)
    itos = analysis["itos"]
    for i, local in top_vocab.items():
        top_symbols[local] = itos[i]
    best_of: dict[tuple, str] = {}
    for item in analysis["found"]:
        for u in item["units"][:1]:
            best_of.setdefault((u["layer"], u["direction"], u["kind"], u["unit"]), f"{item['feature']} r={u['r']:+.2f}")
    unit_rows = [
        {
            "layer": layer,
            "direction": direction,
            "kind": k,
            "unit": unit,
            "best": best_of.get((layer, direction, k, unit), ""),
            "values": _round(rec.states[(layer, direction)][k][:, unit]),
        }
        for layer, direction, k, unit in analysis["shown"]
    ]
    loss = [None if not np.isfinite(x) else x for x in _round(rec.loss)]
    kinds = sorted({(g["activation"], tuple(g["thresholds"])) for g in analysis["saturation"]})
    if analysis["saturation"]:
        note = (
            "Per gate unit, the fraction of steps left-saturated and right-saturated: "
            + "; ".join(f"{a} gates below {lo} / above {hi}" for a, (lo, hi) in kinds)
            + ". Units on the grey diagonal (left + right = 1) are always saturated, one way or the other; "
            "near the origin, never."
        )
    else:
        note = "This cell has no gates (its only nonlinearity is the state itself): nothing to show here."
    return {
        "format": FORMAT,
        "version": VERSION,
        "header": header,
        "kind": kind,
        "line_end": line_end,
        "directions": 1 + max(d for _, d in analysis["table_keys"]),
        "symbols": list(symbols),
        "loss": loss,
        "top": {
            "ids": [[top_vocab[i] for i in row] for row in rec.top_ids.tolist()],
            "probs": _round(rec.top_probs),
            "symbols": top_symbols,
        },
        "units": unit_rows,
        "found": analysis["found"],
        "correlated_kinds": list(analysis["correlated_kinds"]),
        "feature_descriptions": DESCRIPTIONS,
        "saturation": [{**g, "left": _round(g["left"]), "right": _round(g["right"])} for g in analysis["saturation"]],
        "saturation_note": note,
    }


def _write_json_summary(path: Path, header, rec: Recording, analysis, payload_units: int) -> dict[str, Any]:
    summary = {
        "format": FORMAT,
        "version": VERSION,
        "header": header,
        "arrays": {name: list(shape) for name, shape in rec.names().items()},
        "features": list(analysis["features"]),
        "feature_descriptions": {k: DESCRIPTIONS[k] for k in analysis["features"]},
        "correlations": {
            "units": [array_name(label[:2], label[2]) + f"[{label[3]}]" for label in analysis["table"].labels],
            "r": {name: _round(row) for name, row in zip(analysis["features"], analysis["corr"])},
        },
        "top_units": analysis["found"],
        "saturation": [{**g, "left": _round(g["left"]), "right": _round(g["right"])} for g in analysis["saturation"]],
        "page_units": payload_units,
    }
    path.write_text(json.dumps(summary, ensure_ascii=False) + "\n")
    return summary


def inspect(
    run,
    text: Optional[str] = None,
    split: Optional[str] = None,
    length: int = DEFAULT_LENGTH,
    units: Optional[int] = None,
    out=None,
    force: bool = False,
    lstmvis=None,
    checkpoint: str = "best",
    say=print,
) -> dict[str, Any]:
    """Inspect a language-model run (`units`: default min(32, hidden)).

    Returns {"out": folder, "files": [...], "notes": [...], ...}.
    """
    from rnnlab import api

    run = Path(run)
    if text is not None and split is not None:
        raise UsageError("give either --text PATH or --split val, not both")
    if split not in (None, "val"):
        raise UsageError(f"--split must be val, got {split!r}")
    if not isinstance(length, int) or length <= 0:
        raise UsageError(f"--length must be a positive number of symbols, got {length!r}")
    _language_model_task(run)
    out = Path(out) if out is not None else run / "inspect"
    check_output_dir(out, force, "--out")
    if lstmvis is not None:
        lstmvis = Path(lstmvis)
        check_output_dir(lstmvis, force, "--lstmvis")
        from rnnlab.inspect.lstmvis import require_h5py

        require_h5py()
    task = api.load(run, checkpoint=checkpoint, load_data=text is None)
    hidden = task.model.config.hidden_size
    if units is None:
        units = min(DEFAULT_UNITS, hidden)
    if not isinstance(units, int) or not 1 <= units <= hidden:
        raise UsageError(f"--units must be between 1 and the model's {hidden} hidden units, got {units!r}")
    ids, symbols, notes = symbols_to_read(task, text, length)
    rec = record(task.model, ids)
    cell = task.model.config.cell
    analysis = analyse(rec, symbols, cell, task.vocab.kind, units)
    analysis["itos"] = task.vocab.itos
    analysis["table_keys"] = list(rec.states)
    header = _header(run, task, ids, notes, length, units)
    line_end = (
        "\n" if task.vocab.kind == "char" else next((s for s in ("<eos>", "SENTENCE_END") if s in task.vocab), "\n")
    )
    payload = build_payload(header, rec, symbols, task.vocab.kind, line_end, analysis)
    messages: list[str] = []
    if notes.get("unknown"):
        messages.append(
            f"note: {notes['unknown']} unknown symbols in {notes['source']} were "
            + (f"read as {notes['unknown_as']!r}" if "unknown_as" in notes else "skipped")
        )
    written = _write_all(
        out, force, lambda folder: _write_outputs(folder, payload, header, rec, analysis, symbols, messages)
    )
    if lstmvis is not None:
        from rnnlab.inspect.lstmvis import write_lstmvis

        _write_all(lstmvis, force, lambda folder: write_lstmvis(folder, rec, task.vocab, header, cell))
        written.append(str(lstmvis))
    page_bytes = (out / "inspect.html").stat().st_size
    if page_bytes > 5e6:
        messages.append(f"note: the page is {page_bytes / 1e6:.1f} MB; --length or --units smaller make it lighter")
    for message in messages:
        say(message)
    return {
        "out": str(out),
        "files": written,
        "notes": messages,
        "symbols": len(ids),
        "page_bytes": page_bytes,
        "found": analysis["found"],
    }


def _write_all(target: Path, force: bool, write) -> list[str]:
    """Write into a fresh temporary folder next to `target`, then put it in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        names = write(work)
        if target.exists() and force:
            shutil.rmtree(target)
        work.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return [str(target / name) for name in names]


def _write_outputs(folder: Path, payload, header, rec: Recording, analysis, symbols, messages) -> list[str]:
    from rnnlab.inspect.page import render_page

    (folder / "inspect.html").write_text(render_page(payload), encoding="utf-8")
    names = ["inspect.html"]
    _write_json_summary(folder / "inspect.json", header, rec, analysis, len(payload["units"]))
    names.append("inspect.json")
    try:
        from safetensors.numpy import save_file
    except ImportError:
        messages.append("note: safetensors is not installed (pip install safetensors): activations.safetensors skipped")
    else:
        arrays = {
            array_name(key, kind): np.ascontiguousarray(values, dtype=np.float32)
            for key, kinds in rec.states.items()
            for kind, values in kinds.items()
        }
        arrays.update(
            {
                "ids": rec.ids,
                "loss": rec.loss.astype(np.float32),
                "top_ids": rec.top_ids,
                "top_probs": rec.top_probs.astype(np.float32),
            }
        )
        save_file(arrays, str(folder / "activations.safetensors"))
        names.append("activations.safetensors")
    from rnnlab.inspect.pngs import write_pngs

    pngs = write_pngs(folder, rec, analysis, symbols)
    if pngs is None:
        messages.append("note: matplotlib is not installed (pip install matplotlib): PNG plots skipped")
    else:
        names.extend(pngs)
    return names
