"""`rnnlab runs`: a line per run folder, from its JSON files alone, whatever else lies there."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from rnnlab import api
from rnnlab.errors import UsageError
from rnnlab.runs import add_runs_parser, checkpoint_header, format_table, list_runs, run_runs

TINY = {"max_chars": 3000, "hidden": 16, "seq_len": 10, "batch_size": 4, "sample_length": 5}


def train_tiny_run(run_dir: Path, **settings) -> dict:
    """A real charlm run in seconds (the one place that names the task's options)."""
    return api.train("charlm", run_dir=run_dir, quiet=True, progress=False, **{**TINY, **settings})


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    train_tiny_run(root / "a-finished", epochs=1)
    train_tiny_run(root / "b-stopped", epochs=2, minutes=1e-6)  # the budget ends it after its first batch
    return root


def rows_by_name(root: Path) -> dict:
    return {Path(row["run"]).name: row for row in list_runs(root)}


def metrics_rows(run: Path) -> list:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_runs_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["runs", *argv])


def test_each_run_gets_its_task_model_steps_and_best_validation_from_its_files(runs_root):
    rows = rows_by_name(runs_root)
    assert sorted(rows) == ["a-finished", "b-stopped"]
    for name, row in rows.items():
        run = runs_root / name
        config = json.loads((run / "config.json").read_text())
        model = config["model"]
        assert row["task"] == "charlm"
        assert row["model"] == f"{model['cell']} {model['num_layers']}x{model['hidden_size']}"
        assert row["steps"] == metrics_rows(run)[-1]["step"]
        assert row["best_val"] == pytest.approx(min(m["val_loss"] for m in metrics_rows(run)))
    assert rows["a-finished"]["steps"] == json.loads((runs_root / "a-finished" / "final.json").read_text())["steps"]


def test_a_finished_run_says_finished_and_a_stopped_one_how_to_resume_it(runs_root):
    rows = rows_by_name(runs_root)
    assert rows["a-finished"]["finished"] and rows["a-finished"]["status"] == "finished"
    assert rows["a-finished"]["resume"] is None
    stopped = rows["b-stopped"]
    assert not stopped["finished"] and stopped["status"].startswith("stopped after 0 of 2 epochs")
    assert stopped["resume"] == f"rnnlab train --resume {runs_root / 'b-stopped'}"
    assert stopped["resume"] in stopped["status"]


def test_the_table_has_a_header_and_one_line_per_run(runs_root, capsys):
    assert run_runs(parse(str(runs_root))) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["run", "task", "model", "steps", "best", "val", "status"]
    assert len(lines) == 3
    assert lines[1].split()[-1] == "finished" and "rnnlab train --resume" in lines[2]


def test_json_prints_the_rows_as_a_list(runs_root, capsys):
    assert run_runs(parse(str(runs_root), "--json")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(list_runs(runs_root)))
    assert [row["finished"] for row in printed] == [True, False]


def test_the_printed_resume_command_finishes_the_run_and_the_listing_then_says_so(runs_root, tmp_path):
    run = tmp_path / "stopped"
    shutil.copytree(runs_root / "b-stopped", run)
    assert not list_runs(run)[0]["finished"]  # DIR may be one run folder
    api.resume(run, quiet=True, progress=False, minutes=60)
    row = list_runs(run)[0]
    assert row["finished"] and row["status"] == "finished" and row["resume"] is None
    assert row["steps"] == metrics_rows(run)[-1]["step"]


def test_listing_reads_no_weights(runs_root, monkeypatch):
    import safetensors.numpy

    import rnnlab.checkpoint

    def refuse(*args, **kwargs):
        raise AssertionError("the listing loaded a checkpoint's weights")

    monkeypatch.setattr(rnnlab.checkpoint, "load_checkpoint", refuse)
    monkeypatch.setattr(safetensors.numpy, "load", refuse)
    monkeypatch.setattr(safetensors.numpy, "load_file", refuse)
    assert [row["finished"] for row in list_runs(runs_root)] == [True, False]


def test_the_checkpoint_header_holds_what_training_saved(runs_root):
    meta = checkpoint_header(runs_root / "b-stopped" / "checkpoints" / "last.safetensors")
    assert meta["task"] == "charlm" and meta["options"]["epochs"] == 2 and meta["epoch"] == 0


def test_corrupt_and_foreign_folders_are_listed_as_such_not_crashed_on(runs_root, tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "a-finished", root / "damaged")
    (root / "empty").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("hello")
    (root / "corrupt").mkdir()
    (root / "corrupt" / "config.json").write_text("{not json")
    (root / "foreign").mkdir()
    (root / "foreign" / "config.json").write_text('["a", "list"]')
    damaged = root / "damaged"
    with open(damaged / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "step"')  # a line cut short
    (damaged / "checkpoints" / "last.safetensors").write_bytes(b"\xff" * 20)
    rows = rows_by_name(root)
    assert rows["empty"]["problem"] == rows["notes"]["problem"] == "not a run"
    assert rows["corrupt"]["problem"] == "corrupt" and "config.json is not JSON" in rows["corrupt"]["status"]
    assert rows["foreign"]["problem"] == "foreign"
    assert rows["damaged"]["task"] == "charlm" and "1 unreadable line" in rows["damaged"]["status"]
    assert rows["damaged"]["steps"] == metrics_rows(runs_root / "a-finished")[-1]["step"]
    assert run_runs(parse(str(root))) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 5


def test_runs_inside_a_folder_of_runs_are_listed_too(runs_root, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "a-finished", root / "sweep" / "lr-1")
    shutil.copytree(runs_root / "b-stopped", root / "sweep" / "lr-2")
    assert [Path(row["run"]).name for row in list_runs(root)] == ["lr-1", "lr-2"]


def test_a_missing_folder_is_a_usage_error_and_an_empty_one_has_no_runs(tmp_path):
    with pytest.raises(UsageError, match="no folder"):
        list_runs(tmp_path / "nothing")
    assert list_runs(tmp_path) == []
    assert format_table([]) == "no runs"
