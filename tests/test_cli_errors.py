"""Every command's bad numbers and missing folders end in one line on stderr and exit code 2."""
import pytest

import rnnlab.api as api
from rnnlab.cli import main

TINY = dict(max_chars=3000, hidden_size=8, seq_len=10, batch_size=4, sample_length=5, epochs=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    api.train("charlm", run_dir=run_dir, quiet=True, **TINY)
    return str(run_dir)


TRAIN_FLAGS = [["--hidden", "0"], ["--hidden-size", "-3"], ["--layers", "0"], ["--num-layers", "-1"],
               ["--seq-len", "-1"], ["--batch-size", "0"], ["--batch-size", str(10**9)], ["--hidden", str(10**5)],
               ["--epochs", "-1"], ["--seed", "-1"], ["--lr", "nan"], ["--clip", "inf"], ["--momentum", "-1"],
               ["--weight-decay", "-1"], ["--init-scale", "0"], ["--cell", "gru", "--nonlinearity", "relu"],
               ["--cell", "nope"], ["--hidden", "many"]]
TASKS_WITH_FLAGS = ["charlm", "wordlm", "wordlm-sentence", "addition", "lstm-toy", "sincos", "adding", "copy"]


def run_main(argv):
    """main's exit code; argparse's own errors exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def assert_one_line_error(code, err):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("task", TASKS_WITH_FLAGS)
@pytest.mark.parametrize("flags", TRAIN_FLAGS, ids=" ".join)
def test_a_bad_number_for_any_task_is_a_one_line_error(tmp_path, capsys, task, flags):
    code = run_main(["train", task, *flags, "--quiet", "--run-dir", str(tmp_path / "r")])
    assert_one_line_error(code, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("task, flags", [
    ("charlm", ["--max-chars", "0"]), ("charlm", ["--temperature", "-1"]), ("charlm", ["--sample-length", "-1"]),
    ("wordlm", ["--max-tokens", "0"]), ("wordlm-sentence", ["--vocab-size", "0"]),
    ("wordlm-sentence", ["--batch-size", "2"]), ("addition", ["--bits", "100"]), ("addition", ["--test-pairs", "0"]),
    ("lstm-toy", ["--x-dim", "0"]), ("lstm-toy", ["--cell", "gru"]), ("sincos", ["--projection", "0"]),
    ("adding", ["--seq-len", str(10**6)]), ("adding", ["--eval-size", str(10**8)]), ("copy", ["--symbols", "1"]),
])
def test_a_bad_task_setting_is_a_one_line_error(tmp_path, capsys, task, flags):
    code = run_main(["train", task, *flags, "--quiet", "--run-dir", str(tmp_path / "r")])
    assert_one_line_error(code, capsys.readouterr().err)


@pytest.mark.parametrize("args", [
    ["generate", "{run}", "--prefix", "a", "--length", "-5"],
    ["generate", "{run}", "--prefix", "a", "--length", str(10**9)],
    ["generate", "{run}", "--prefix", "a", "--temperature", "-1"],
    ["generate", "{run}", "--prefix", "a", "--top-k", "0"],
    ["generate", "{run}", "--prefix", "a", "--seed", "-1"],
    ["generate", "{run}", "--prefix", ""],
    ["generate", "{run}"],
    ["generate", "{missing}", "--prefix", "a"],
    ["evaluate", "{missing}"],
    ["evaluate", "{run}", "--text", "{missing}"],
    ["evaluate", "{run}", "--dynamic-lr", "0"],
    ["evaluate", "{run}", "--dynamic-lr", "1", "--dynamic-window", "0"],
    ["export", "{missing}", "--onnx", "x.onnx"],
    ["export", "{run}", "--onnx", "x.onnx", "--opset", "0"],
    ["gradcheck", "--cell", "lstm", "--layers", "0"],
    ["gradcheck", "--num-layers", "-2"],
    ["gradcheck", "--cell", "gru", "--nonlinearity", "relu"],
    ["gradcheck", "--threshold", "0"],
    ["gradcheck", "--bptt-truncate", "-1"],
    ["gradients", "--steps", "0"],
    ["gradients", "--hidden", "0"],
    ["gradients", "--seeds", "-1"],
    ["gradients", "--batch", "0"],
    ["gradients", "--cells", "nope"],
    ["gradients", "--clip-updates", "-1"],
    ["train"],
    ["train", "--resume", "{missing}"],
    ["train", "--resume", "{run}", "--epochs", "0"],
    ["train", "--resume", "{run}", "--minutes", "-1"],
    ["train", "--resume", "{run}"],
], ids=lambda args: " ".join(args))
def test_every_command_refuses_bad_values_and_missing_folders_in_one_line(run, tmp_path, capsys, args):
    argv = [a.format(run=run, missing=str(tmp_path / "nowhere")) for a in args]
    assert_one_line_error(run_main(argv), capsys.readouterr().err)


def test_temperature_zero_is_greedy_and_allowed(run, capsys):
    outputs = []
    for flags in (["--temperature", "0"], ["--greedy"]):
        assert main(["generate", run, "--prefix", "a", "--length", "10", *flags]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
