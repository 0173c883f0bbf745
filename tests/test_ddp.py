"""Data-parallel training: 2 ranks x batch B/2 end with the weights of 1 process x batch B.

The real command under torchrun (gloo, 2 CPU processes, float64): `rnnlab train charlm
--backend torch` for one epoch of 10 steps, each rank reading its half of the batch
columns, only rank 0 writing the run folder; then the same run in one process with the
whole batch, and the two final checkpoints compared.
"""
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

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from rnnlab import api  # noqa: E402
from rnnlab.checkpoint import load_checkpoint, split_prefix  # noqa: E402
from rnnlab.tasks import TASKS  # noqa: E402

# 460 characters -> 414 for training -> 10 consecutive windows of 10 steps x 4 columns
SETTINGS = dict(max_chars=460, hidden=12, layers=2, seq_len=10, batch_size=4, sample_length=5, dtype="float64",
                optimizer="adam", lr=0.01, clip=1.0, epochs=1,
                dropout=0.0, weight_dropout=0.0)  # no masks: each rank draws its own


def flags(settings):
    return [item for key, value in settings.items() for item in ("--" + key.replace("_", "-"), str(value))]


def final(run_dir):
    tensors, meta = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return split_prefix(tensors, "model"), split_prefix(tensors, "extra"), meta


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_ranks_with_half_batches_end_with_the_weights_of_one_process_with_the_whole_batch(tmp_path):
    assert len(TASKS["charlm"](api.make_options("charlm", **SETTINGS)).sampler()) == 10
    parallel = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rnnlab", "train", "charlm", *flags(SETTINGS), "--backend", "torch", "--device", "cpu",
               "--run-dir", str(parallel), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]

    single = tmp_path / "single"
    torch.set_num_threads(1)
    api.train("charlm", run_dir=single, quiet=True, backend="torch", device="cpu", **SETTINGS)

    weights_parallel, carried_parallel, meta_parallel = final(parallel)
    weights_single, carried_single, meta_single = final(single)
    # rank 0 read columns 0..1 of each batch: its carried state is those columns of the whole batch's
    assert carried_parallel["h"].shape == (2, 2, 12) and carried_single["h"].shape == (2, 4, 12)
    for part in ("h", "c"):
        np.testing.assert_allclose(carried_parallel[part], carried_single[part][:, :2], rtol=1e-9, atol=1e-12)
    assert meta_parallel["step"] == meta_single["step"] == 10
    for name in weights_single:
        np.testing.assert_allclose(weights_parallel[name], weights_single[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    # only rank 0 wrote: one metrics line per epoch, not one per rank
    assert len((parallel / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((parallel / "config.json").read_text())["backend"] == "torch"


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_ranks_under_a_time_budget_stop_at_the_same_step_with_the_same_learning_rate(tmp_path):
    # Each rank reads its own clock; if one saw the budget end a step before the other, that one
    # would leave while the other waits in its next all-reduce (a hang, then an error), and under
    # cosine-time their learning rates, and so their weights, would part. They read the largest clock of all.
    settings = dict(SETTINGS, epochs=100_000, schedule="cosine-time", minutes=0.03)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rnnlab", "train", "charlm", *flags(settings), "--backend", "torch", "--device", "cpu",
               "--run-dir", str(tmp_path / "ddp"), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["epoch"] < 100_000 and rows[-1]["lr"] == 0.0


def children(pid: int) -> list:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks' processes in /proc")
def test_ctrl_c_reaching_one_rank_stops_both_at_the_same_step_with_a_checkpoint_that_resumes(tmp_path):
    # A scheduler's SIGTERM (or a Ctrl-C) need not reach every rank before the same step. Alone,
    # the rank that got it would leave and the other would fail in its next all-reduce, with the
    # checkpoint an epoch old. The ranks agree on the stop each step, so both stop together.
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rnnlab", "train", "charlm", *flags(dict(SETTINGS, epochs=100_000)), "--backend", "torch",
               "--device", "cpu", "--run-dir", str(run), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    agent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not ((run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline and agent.poll() is None, "training did not start"
            time.sleep(0.05)
        workers = children(agent.pid)
        assert len(workers) == 2
        os.kill(workers[-1], signal.SIGINT)  # one rank only
        _, err = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
    stops = re.findall(r"stopped at epoch \d+, step (\d+)", err)  # rank 0 speaks for both
    assert len(stops) == 1 and "resume with: the same torchrun command" in err, err[-3000:]
    assert not re.search(r"\[rank\d\]:.*Error", err), err[-3000:]  # no rank failed
    _, _, meta = final(run)
    assert meta["step"] == int(stops[0])
    resume = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "rnnlab", "train", "--resume", str(run), "--epochs", str(meta["epoch"] + 2), "--quiet"]
    result = subprocess.run(resume, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert final(run)[2]["epoch"] == meta["epoch"] + 2
