"""Runs as a user sees them: the CLI, run folders, exact resume, generation, and bad input."""
import dataclasses
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnlab import api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.engine.lr_schedules import CosineLR
from rnnlab.tasks import TASKS
from rnnlab.train import LossNotFinite, Trainer, TrainingStopped

TINY = dict(max_chars=3000, hidden=16, seq_len=10, batch_size=4, sample_length=10)
TINY_FLAGS = ["--max-chars", "3000", "--hidden", "16", "--seq-len", "10", "--batch-size", "4",
              "--sample-length", "10"]


def final_weights(run_dir: Path) -> dict:
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return split_prefix(tensors, "model")


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "char"
    api.train("charlm", run_dir=run_dir, quiet=True, epochs=2, **TINY)
    return run_dir


# ------------------------------------------------------------------------------ a run folder
def test_a_training_run_writes_config_metrics_checkpoints_plot_and_a_json_last_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "charlm", *TINY_FLAGS, "--epochs", "2", "--run-dir", str(run_dir), "--quiet", "--json"]) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    final = json.loads(last_line)
    assert final["run_dir"] == str(run_dir) and final["epochs"] == 2
    assert np.isfinite(final["val_loss"]) and final["val_ppl"] == pytest.approx(np.exp(final["val_loss"]))
    for name in ("config.json", "metrics.jsonl", "final.json", "curves.png",
                 "checkpoints/last.safetensors", "checkpoints/best.safetensors"):
        assert (run_dir / name).is_file(), name
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert json.loads((run_dir / "config.json").read_text())["options"]["hidden_size"] == 16


def test_tensorboard_gets_every_evaluation_scalar(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    logs = tmp_path / "tb"
    assert main(["train", "charlm", *TINY_FLAGS, "--epochs", "2", "--run-dir", str(tmp_path / "run"), "--quiet",
                 "--tensorboard", str(logs)]) == 0
    events = list(logs.glob("events.out.tfevents.*"))
    assert len(events) == 1
    written = events[0].read_bytes()
    for tag in (b"train_loss", b"val_loss", b"val_ppl", b"tokens_per_s"):
        assert tag in written


def test_the_same_seed_gives_the_same_run(tmp_path):
    for name in ("a", "b"):
        api.train("charlm", run_dir=tmp_path / name, quiet=True, epochs=1, **TINY)
    assert_same_weights(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))


def test_training_lowers_the_validation_loss(trained_run):
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val_loss"] < np.log(40)  # below a uniform guess over the ~40 characters


@pytest.mark.parametrize("task, settings", [
    ("charlm", dict(TINY, sampling="consecutive")),
    ("wordlm", dict(max_tokens=2000, hidden=8, layers=1, batch_size=4, seq_len=10, sample_length=0)),
])
def test_the_state_is_carried_between_the_batches_of_an_epoch_and_each_epoch_starts_from_zeros(
        tmp_path, monkeypatch, task, settings):
    from rnnlab.models import NumpyModel

    started_from_zeros = []  # per training batch: was the model given no state?
    forward = NumpyModel.forward

    def recording(self, inputs, state=None):
        if self.training:
            started_from_zeros.append(state is None)
        return forward(self, inputs, state)

    monkeypatch.setattr(NumpyModel, "forward", recording)
    batches = len(TASKS[task](api.make_options(task, **settings)).sampler())
    api.train(task, run_dir=tmp_path / "r", quiet=True, epochs=2, **settings)
    assert batches > 2
    assert started_from_zeros == ([True] + [False] * (batches - 1)) * 2


# ----------------------------------------------------------------------------------- resume
def test_a_run_resumed_at_an_epoch_boundary_ends_with_the_same_weights(tmp_path):
    settings = dict(TINY, sampling="random", dropout=0.2, layers=2, schedule="none")  # cosine: see the next test
    api.train("charlm", run_dir=tmp_path / "straight", quiet=True, epochs=3, **settings)
    api.train("charlm", run_dir=tmp_path / "stopped", quiet=True, epochs=1, **settings)
    api.resume(tmp_path / "stopped", epochs=3, quiet=True)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped"))


def test_a_run_saved_before_weight_dropout_existed_resumes_without_it(tmp_path):
    settings = dict(TINY, sampling="random", schedule="none", weight_dropout=0.0)
    api.train("charlm", run_dir=tmp_path / "straight", quiet=True, epochs=2, **settings)
    api.train("charlm", run_dir=tmp_path / "old", quiet=True, epochs=1, **settings)
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    del config["options"]["weight_dropout"], config["format_version"]  # as format version 1 wrote it
    config_path.write_text(json.dumps(config))
    api.resume(tmp_path / "old", epochs=2, quiet=True)  # charlm's default is now 0.2: not for this run
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "old"))


def test_resuming_a_finished_cosine_run_for_more_epochs_stretches_the_curve_over_the_new_length(tmp_path):
    api.train("charlm", run_dir=tmp_path / "run", quiet=True, epochs=1, schedule="cosine", **TINY)
    after_one = final_weights(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["lr"] == 0.0
    api.resume(tmp_path / "run", epochs=2, quiet=True)
    trained_on = [name for name, value in final_weights(tmp_path / "run").items()
                  if not np.array_equal(value, after_one[name])]
    assert trained_on  # with the old curve's horizon the learning rate would have stayed 0


def test_a_time_budget_stops_mid_epoch_with_a_checkpoint_and_resuming_ends_with_the_same_weights(tmp_path):
    settings = dict(epochs=2, sampling="random", dropout=0.2, schedule="step", step_size=1, **TINY)
    api.train("charlm", run_dir=tmp_path / "straight", quiet=True, **settings)
    budgeted = api.train("charlm", run_dir=tmp_path / "budget", quiet=True, minutes=1e-9, **settings)
    assert budgeted["steps"] == 1 and budgeted["epochs"] == 0  # one step, then evaluated and saved
    assert "val_loss" in budgeted
    resumed = api.resume(tmp_path / "budget", quiet=True, minutes=1e9)
    assert resumed["epochs"] == 2
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "budget"))


def test_a_time_budget_spent_in_an_epochs_last_batch_stops_at_that_epochs_end(tmp_path):
    settings = dict(TINY, seq_len=500, epochs=3)  # 2,700 training characters in 4 rows: one window per epoch
    budgeted = api.train("charlm", run_dir=tmp_path / "budget", quiet=True, minutes=1e-9, **settings)
    assert budgeted["steps"] == 1 and budgeted["epochs"] == 1  # not one step into the next epoch
    rows = [json.loads(line) for line in (tmp_path / "budget" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1]
    resumed = api.resume(tmp_path / "budget", quiet=True, minutes=1e9)
    assert resumed["epochs"] == 3 and resumed["steps"] == 3


def test_a_cosine_time_run_anneals_to_zero_by_the_end_of_its_budget_and_stops_there(tmp_path):
    task = TASKS["charlm"](api.make_options("charlm", epochs=10_000, schedule="cosine-time", minutes=1.0, **TINY))
    task.build_model()
    reads = itertools.count(1)
    task.model.agreed = lambda readings: (next(reads) * 0.1, 0.0)  # a clock at 0.1 s per step, however fast
    result = Trainer(task, tmp_path / "run", quiet=True).fit()
    assert result["epochs"] < 10_000 and result["steps"] <= 600  # the budget, not the epochs, ended it
    rates = [json.loads(line)["lr"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rates) > 2 and rates == sorted(rates, reverse=True) and rates[0] > rates[-2] > 0
    assert rates[-1] == 0.0


def test_cosine_time_without_an_epoch_count_trains_until_the_budget_is_spent(tmp_path):
    options = api.make_options("charlm", schedule="cosine-time", minutes=0.02, **TINY)
    assert options.epochs == 0  # not the task's default epoch count: the budget decides
    assert api.make_options("charlm", schedule="cosine-time", minutes=0.02, epochs=3, **TINY).epochs == 3
    result = api.train("charlm", run_dir=tmp_path / "run", quiet=True, schedule="cosine-time", minutes=0.02, **TINY)
    rates = [json.loads(line)["lr"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] > 0 and rates[-1] == 0.0  # it ran to the budget's end, annealed


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs 0 trains until the time budget is spent: give one with --minutes"),
    (["--epochs", "0", "--minutes", "1", "--schedule", "cosine"], "--schedule cosine anneals over --epochs"),
    (["--epochs", "-1"], "--epochs must be a positive integer (0: until --minutes is spent)"),
])
def test_an_epoch_count_that_cannot_work_is_a_one_line_error(tmp_path, capsys, flags, message):
    assert main(["train", "charlm", *TINY_FLAGS, "--run-dir", str(tmp_path / "run"), *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_time_budget_is_read_from_the_models_agreed_clock(tmp_path):
    # under torchrun the torch model's `agreed` hands every rank the largest reading of all ranks (tests/test_ddp.py)
    task = TASKS["charlm"](api.make_options("charlm", epochs=3, minutes=1e6, **TINY))
    task.build_model()
    task.model.agreed = lambda readings: (1e9, 0.0)  # another rank says the budget is long gone
    result = Trainer(task, tmp_path / "run", quiet=True).fit()
    assert result["steps"] == 1


def test_a_stop_asked_of_another_rank_stops_this_one_at_the_same_step_with_a_checkpoint(tmp_path):
    task = TASKS["charlm"](api.make_options("charlm", epochs=3, **TINY))
    task.build_model()
    task.model.agreed = lambda readings: (readings[0], 1.0)  # Ctrl-C reached another rank first
    with pytest.raises(TrainingStopped):
        Trainer(task, tmp_path / "run", quiet=True).fit()
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 1


def test_a_cosine_time_run_stopped_and_resumed_anneals_the_rest_of_its_curve_over_the_new_budget(
        tmp_path, monkeypatch):
    original = Trainer._train_epoch

    def stop_in_the_second_epoch(self):
        if self.epoch == 1:
            self._request_stop(signal.SIGINT, None)
        return original(self)

    original_step = CosineLR.step
    monkeypatch.setattr(Trainer, "_train_epoch", stop_in_the_second_epoch)
    with pytest.raises(TrainingStopped):
        api.train("charlm", run_dir=tmp_path / "run", quiet=True, epochs=10_000, schedule="cosine-time",
                  minutes=0.1, **TINY)
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    stopped_at = meta["schedule"]["time_progress"]
    assert 0 < stopped_at < 1
    steps = []
    monkeypatch.setattr(CosineLR, "step", lambda self, *a, **k: steps.append(original_step(self, *a, **k)))
    api.resume(tmp_path / "run", minutes=0.02, quiet=True)
    rates = [json.loads(line)["lr"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rates[-1] == 0.0 and all(rate <= rates[0] for rate in rates)  # on down the curve, never back up
    # from the first step on: it does not wait at the old point until the new budget's share catches up
    assert steps[0] < rates[0] and steps[1] < steps[0]


def test_a_run_resumed_for_more_epochs_keeps_that_length_when_stopped_and_resumed_again(tmp_path, monkeypatch):
    api.train("charlm", run_dir=tmp_path / "run", quiet=True, epochs=1, **TINY)
    original = Trainer._train_epoch

    def stop_at_once(self):
        self._request_stop(signal.SIGINT, None)  # as if Ctrl-C arrived during the first step
        return original(self)

    monkeypatch.setattr(Trainer, "_train_epoch", stop_at_once)
    with pytest.raises(TrainingStopped):
        api.resume(tmp_path / "run", epochs=3, quiet=True)  # stopped in epoch 2 of the new 3
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    assert api.resume(tmp_path / "run", quiet=True)["epochs"] == 3


@pytest.mark.parametrize("sampling", ["consecutive", "random"])
def test_a_run_stopped_mid_epoch_and_resumed_ends_with_the_same_weights(tmp_path, monkeypatch, sampling):
    settings = dict(TINY, epochs=2, sampling=sampling, dropout=0.1, weight_dropout=0.3, layers=2, optimizer="adam")
    api.train("charlm", run_dir=tmp_path / "straight", quiet=True, **settings)

    original = Trainer._train_epoch
    calls = {"steps": 0}

    def stop_after_some_steps(self):
        step = self.task.train_step

        def counted(batch):
            calls["steps"] += 1
            if calls["steps"] == 7:  # as if Ctrl-C arrived during step 7
                self._request_stop(signal.SIGINT, None)
            return step(batch)
        self.task.train_step = counted
        return original(self)

    monkeypatch.setattr(Trainer, "_train_epoch", stop_after_some_steps)
    with pytest.raises(TrainingStopped):
        api.train("charlm", run_dir=tmp_path / "stopped", quiet=True, **settings)
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    api.resume(tmp_path / "stopped", quiet=True)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped"))


def test_ctrl_c_saves_a_checkpoint_and_prints_the_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "rnnlab", "train", "charlm", "--max-chars", "20000", "--hidden", "32",
               "--epochs", "1000", "--run-dir", str(run_dir), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run_dir / "checkpoints" / "last.safetensors").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert f"rnnlab train --resume {run_dir}" in stderr
    _, meta = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert meta["step"] > 0


def test_resuming_a_finished_run_without_more_epochs_is_a_usage_error(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run)]) == 2
    assert "already finished" in capsys.readouterr().err


def test_resume_also_works_after_the_task_name_and_continues_the_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    api.train("charlm", run_dir=run_dir, quiet=True, epochs=1, **TINY)
    assert main(["train", "charlm", "--resume", str(run_dir), "--epochs", "2", "--quiet", "--json"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert final["epochs"] == 2 and final["run_dir"] == str(run_dir)


def test_resuming_under_another_task_name_or_with_other_settings_is_an_error_that_leaves_the_run(
        trained_run, capsys):
    checkpoint = trained_run / "checkpoints" / "last.safetensors"
    before = checkpoint.read_bytes()
    code, err = run_cli(["train", "wordlm", "--resume", str(trained_run)], capsys)
    assert_one_line_error(code, err, "is a charlm run, not wordlm", "rnnlab train --resume")
    code, err = run_cli(["train", "charlm", "--resume", str(trained_run), "--epochs", "3", "--lr", "0.1",
                         "--hidden", "8"], capsys)
    assert_one_line_error(code, err, "--hidden-size: the run has 16, you gave 8", "--lr: the run has 0.003, you gave 0.1",
                          "--epochs and --minutes")
    assert checkpoint.read_bytes() == before


# ------------------------------------------------------------------------- generate/evaluate
def test_greedy_generation_is_deterministic_and_starts_with_the_prefix(trained_run, capsys):
    outputs = []
    for _ in range(2):
        assert main(["generate", str(trained_run), "--prefix", "the", "--length", "20", "--greedy"]) == 0
        outputs.append(capsys.readouterr().out)
    text = api.generate(api.load(trained_run), "the", length=20, greedy=True)
    assert text.startswith("the") and len(text) == 23
    assert outputs[0] == outputs[1] == text + "\n"


def test_sampling_with_a_seed_is_reproducible_and_top_k_works(trained_run):
    task = api.load(trained_run)
    a = api.generate(task, "a", length=30, temperature=0.8, top_k=3, seed=5)
    b = api.generate(task, "a", length=30, temperature=0.8, top_k=3, seed=5)
    assert a == b and len(a) == 31


def test_evaluate_reports_perplexity_on_any_text_file(trained_run, tmp_path, capsys):
    text = tmp_path / "some.txt"
    text.write_text("the king is dead, long live the king\n" * 5)
    assert main(["evaluate", str(trained_run), "--text", str(text), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["ppl"] > 1 and metrics["tokens"] == len(text.read_text())


def test_dynamic_evaluation_of_a_text_file_learns_what_the_text_repeats(trained_run, tmp_path, capsys):
    text = tmp_path / "some.txt"
    text.write_text("the king is dead, long live the king\n" * 20)
    assert main(["evaluate", str(trained_run), "--text", str(text), "--dynamic-lr", "0.3", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1 < metrics["dynamic_ppl"] < metrics["ppl"]
    assert main(["evaluate", str(trained_run), "--dynamic-lr", "0.3", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(metrics["dynamic_val_ppl"]) and "dynamic_test_ppl" not in metrics  # charlm has no test split


def test_evaluate_without_text_reports_the_validation_metrics(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(metrics["val_loss"])


# --------------------------------------------------------------------------------- bad input
def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err.strip()


def assert_one_line_error(code, err, *words):
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("content, words", [
    (None, ("not found",)),
    (b"", ("empty",)),
    (b"caf\xe9 au lait\n", ("UTF-8",)),
])
def test_a_bad_text_file_is_a_one_line_error(tmp_path, capsys, content, words):
    path = tmp_path / "text.txt"
    if content is not None:
        path.write_bytes(content)
    code, err = run_cli(["train", "charlm", "--text", str(path), "--run-dir", str(tmp_path / "r")], capsys)
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "r").exists()


def test_a_text_too_short_for_one_batch_says_which_flag_to_change(tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text("hello world, this is short\n")
    code, err = run_cli(["train", "charlm", "--text", str(path), "--run-dir", str(tmp_path / "r")], capsys)
    assert_one_line_error(code, err, "--batch-size")


@pytest.mark.parametrize("flags, words", [
    (["--hidden", "0"], ("--hidden",)),
    (["--lr", "-1"], ("--lr",)),
    (["--dropout", "1.5"], ("--dropout",)),
    (["--weight-dropout", "1"], ("--weight-dropout",)),
    (["--input", "embedding", "--embedding-size", "-3"], ("--embedding-size",)),
    (["--epochs", "0"], ("--epochs",)),
    (["--clip", "-2"], ("--clip",)),
    (["--minutes", "0"], ("--minutes",)),
    (["--schedule", "cosine-time"], ("cosine-time", "--minutes")),
    (["--cell", "lstm", "--nonlinearity", "sigmoid"], ("sigmoid",)),
])
def test_nonsense_hyperparameters_are_one_line_errors(tmp_path, capsys, flags, words):
    code, err = run_cli(["train", "charlm", *flags, "--run-dir", str(tmp_path / "r")], capsys)
    assert_one_line_error(code, err, *words)


def test_a_prefix_with_unknown_characters_names_them_or_skips_them(trained_run, capsys):
    code, err = run_cli(["generate", str(trained_run), "--prefix", "tΩhé", "--length", "5"], capsys)
    assert_one_line_error(code, err, "'Ω'", "--unknown skip")
    assert main(["generate", str(trained_run), "--prefix", "tΩh", "--length", "5", "--unknown", "skip"]) == 0


def test_an_existing_run_is_never_overwritten_by_a_new_training(trained_run, capsys):
    before = (trained_run / "checkpoints" / "last.safetensors").read_bytes()
    code, err = run_cli(["train", "charlm", *TINY_FLAGS, "--run-dir", str(trained_run)], capsys)
    assert_one_line_error(code, err, "--resume")
    assert (trained_run / "checkpoints" / "last.safetensors").read_bytes() == before


def test_a_corrupt_checkpoint_is_a_one_line_error_and_stays_as_it_was(trained_run, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_bytes((trained_run / "config.json").read_bytes())
    garbage = b"\x00\x01 not a checkpoint at all"
    for name in ("last", "best"):
        (run_dir / "checkpoints" / f"{name}.safetensors").write_bytes(garbage)
    for args in (["generate", str(run_dir), "--prefix", "a"], ["evaluate", str(run_dir)],
                 ["train", "--resume", str(run_dir), "--epochs", "5"]):
        code, err = run_cli(args, capsys)
        assert_one_line_error(code, err, "corrupt")
    assert (run_dir / "checkpoints" / "last.safetensors").read_bytes() == garbage


def test_a_checkpoint_that_does_not_fit_its_config_is_a_one_line_error(trained_run, tmp_path, capsys):
    other = tmp_path / "other"
    api.train("charlm", run_dir=other, quiet=True, epochs=1, **dict(TINY, hidden=8))
    run_dir = tmp_path / "mixed"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_bytes((trained_run / "config.json").read_bytes())
    (run_dir / "checkpoints" / "last.safetensors").write_bytes(
        (other / "checkpoints" / "last.safetensors").read_bytes())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["options"]["hidden_size"] == 16
    code, err = run_cli(["train", "--resume", str(run_dir), "--epochs", "9"], capsys)
    assert_one_line_error(code, err, "does not match")


def test_a_missing_run_folder_is_a_one_line_error(tmp_path, capsys):
    code, err = run_cli(["generate", str(tmp_path / "nothing"), "--prefix", "a"], capsys)
    assert_one_line_error(code, err, "no run folder")


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    api.train("charlm", run_dir=run_dir, quiet=True, epochs=1, **TINY)
    good = (run_dir / "checkpoints" / "last.safetensors").read_bytes()
    from rnnlab.tasks.charlm import CharLM

    monkeypatch.setattr(CharLM, "train_step", lambda self, batch: (float("nan"), 1))
    with pytest.raises(LossNotFinite, match="last good checkpoint"):
        api.resume(run_dir, epochs=2, quiet=True)
    assert (run_dir / "checkpoints" / "last.safetensors").read_bytes() == good


def test_python_m_rnnlab_and_the_console_script_show_help():
    for command in ([sys.executable, "-m", "rnnlab", "--help"], [sys.executable, "-m", "rnnlab", "train", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        assert result.returncode == 0 and "charlm" in result.stdout


def test_version_prints_the_installed_packages_version():
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "rnnlab", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"rnnlab {version('rnnlab')}"


def test_the_d2l_preset_is_d2ls_plain_rnn_whatever_the_char_models_defaults():
    d2l = api.make_options("charlm", preset="d2l")
    assert (d2l.cell, d2l.hidden_size, d2l.optimizer, d2l.lr, d2l.clip, d2l.seq_len) == ("rnn", 256, "sgd", 100.0, 0.01, 35)
    assert d2l.dropout == 0.0 and d2l.weight_dropout == 0.0 and d2l.schedule == "none"  # the char default's stay out


# ------------------------------------------------------------------- options, help, resume flags
RESUME_FLAGS = ["--max-chars", "3000", "--hidden", "8", "--seq-len", "10", "--batch-size", "4", "--sample-length",
                "0", "--schedule", "none", "--quiet"]


def test_resuming_with_the_runs_own_flags_ends_bit_exactly_where_an_uninterrupted_run_ends(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", "charlm", *RESUME_FLAGS, "--epochs", "2", "--run-dir", str(straight)]) == 0
    assert main(["train", "charlm", *RESUME_FLAGS, "--epochs", "1", "--run-dir", str(stopped)]) == 0
    assert main(["train", "charlm", *RESUME_FLAGS, "--epochs", "2", "--resume", str(stopped)]) == 0
    a, b = _weights(straight), _weights(stopped)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_resume_names_each_flag_that_differs_from_the_run_with_both_values(trained_run, capsys):
    code, err = run_cli(["train", "charlm", "--resume", str(trained_run), "--hidden-size", "32", "--seq-len",
                         "10"], capsys)
    assert_one_line_error(code, err, "--hidden-size: the run has 16, you gave 32")
    assert "--seq-len" not in err  # the run's own value is accepted


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_help_shows_each_flag_once_with_the_tasks_default_and_its_presets(task, capsys):
    with pytest.raises(SystemExit):
        main(["train", task, "--help"])
    out = capsys.readouterr().out
    options = TASKS[task].Options()
    body = out.split("(defaults in brackets):", 1)[1].split("presets (", 1)[0]
    for field in dataclasses.fields(options):
        flag = "--" + field.name.replace("_", "-")
        starts = [line for line in body.splitlines() if re.match(rf"  {re.escape(flag)}(?![\w-])", line)]
        assert len(starts) == 1, (flag, starts)
    assert f"[{options.hidden_size}]" in body and "--hidden-size HIDDEN_SIZE, --hidden HIDDEN_SIZE" in body
    for preset in getattr(TASKS[task], "presets", {}):
        assert len([line for line in out.splitlines() if line.startswith(f"  {preset}: ")]) == 1


def test_every_tasks_cell_choices_are_the_registrys(monkeypatch):
    from rnnlab.engine import registry
    from rnnlab.tasks.options import ModelOptions

    field = {f.name: f for f in dataclasses.fields(ModelOptions)}["cell"]
    assert tuple(field.metadata["choices"]) == registry.cell_names()
    for task in TASKS.values():
        assert {f.name: f for f in dataclasses.fields(task.Options)}["cell"].metadata["choices"] == \
            registry.cell_names()


def test_a_run_saved_with_the_old_option_names_still_loads_resumes_and_evaluates(tmp_path, capsys):
    from rnnlab.checkpoint import save_checkpoint

    run_dir = tmp_path / "old"
    api.train("charlm", run_dir=run_dir, quiet=True, epochs=1, **TINY)
    old = {"hidden_size": "hidden", "num_layers": "layers"}
    config = json.loads((run_dir / "config.json").read_text())
    config["options"] = {old.get(k, k): v for k, v in config["options"].items()}
    (run_dir / "config.json").write_text(json.dumps(config))
    for name in ("last", "best"):
        path = run_dir / "checkpoints" / f"{name}.safetensors"
        tensors, meta = load_checkpoint(path)
        meta["options"] = {old.get(k, k): v for k, v in meta["options"].items()}
        save_checkpoint(path, tensors, meta)
    assert api.load(run_dir).options.hidden_size == 16
    assert main(["evaluate", str(run_dir)]) == 0
    assert main(["train", "charlm", *TINY_FLAGS, "--resume", str(run_dir), "--epochs", "2", "--quiet"]) == 0


def _weights(run_dir):
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return split_prefix(tensors, "model")
