"""Progress within an epoch: tqdm in a terminal, plain lines in files, pipes, CI, or without tqdm."""
import io
import subprocess
import sys

import pytest

from rnnlab import progress as progress_module
from rnnlab.progress import PlainLines, epoch_progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_come_every_tenth_of_the_epoch_with_the_epoch_step_loss_ppl_speed_and_eta():
    stream, clock = io.StringIO(), Clock()
    lines = PlainLines(100, epoch=0, epochs=3, done=0, stream=stream, loss_name="loss", clock=clock)
    for _ in range(100):
        clock.now += 0.1
        lines.update(2.5, ppl=12.18, tokens_per_s=12345.0)
    printed = stream.getvalue().splitlines()
    assert len(printed) == 9  # at 10%, ..., 90%; the epoch's end has its own summary
    assert printed[0] == "epoch 1/3 step 10/100 (10%) | loss 2.5000 | ppl 12.18 | tok/s 12,345 | eta 0:09"
    assert "\r" not in stream.getvalue()


def test_plain_lines_come_every_thirty_seconds_when_a_tenth_of_the_epoch_takes_longer():
    stream, clock = io.StringIO(), Clock()
    lines = PlainLines(1000, epoch=1, epochs=2, done=0, stream=stream, loss_name="mse", clock=clock)
    for _ in range(50):
        clock.now += 7.0
        lines.update(0.25)
    printed = stream.getvalue().splitlines()
    assert [line.split()[3] for line in printed] == [f"{5 * k}/1000" for k in range(1, 11)]  # 35 s apart
    assert printed[0].startswith("epoch 2/2 step 5/1000 (0%) | mse 0.2500 | eta ")
    assert "ppl" not in printed[0]


def test_a_resumed_epoch_counts_on_from_where_it_stopped():
    stream = io.StringIO()
    lines = PlainLines(100, epoch=0, epochs=1, done=37, stream=stream, loss_name="loss", clock=Clock())
    for _ in range(5):
        lines.update(1.0)
    assert stream.getvalue().startswith("epoch 1/1 step 40/100 (40%)")


def test_a_terminal_gets_a_tqdm_bar_and_anything_else_plain_lines():
    pytest.importorskip("tqdm")
    assert isinstance(epoch_progress(10, 0, 1, stream=Terminal()), progress_module.TqdmBar)
    assert isinstance(epoch_progress(10, 0, 1, stream=io.StringIO()), PlainLines)
    assert isinstance(epoch_progress(10, 0, 1, stream=Terminal(), enabled=False), progress_module.NoProgress)


def test_without_tqdm_a_terminal_gets_plain_lines_and_no_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    assert isinstance(epoch_progress(10, 0, 1, stream=Terminal()), PlainLines)


@pytest.mark.slow
def test_a_run_logged_to_a_file_has_plain_progress_lines_and_no_carriage_returns(tmp_path):
    log = tmp_path / "log"
    command = [sys.executable, "-m", "rnnlab", "train", "charlm", "--max-chars", "20000", "--hidden", "16",
               "--seq-len", "10", "--batch-size", "4", "--sample-length", "10", "--epochs", "1",
               "--run-dir", str(tmp_path / "run")]
    with open(log, "w") as handle:  # as `rnnlab train ... > log 2>&1`
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, timeout=300)
    text = log.read_text()
    assert "\r" not in text
    progress_lines = [line for line in text.splitlines() if line.startswith("epoch 1/1 step ")]
    assert len(progress_lines) >= 5
    assert all(" | loss " in line and " | ppl " in line and " | tok/s " in line and " | eta " in line
               for line in progress_lines)
