"""wordlm (stream, PyTorch's word_language_model) and wordlm-sentence (WildML), on tiny data."""

import json
import math

import numpy as np
import pytest

import rnnlab.api as api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.data import SENTENCE_END, SENTENCE_START
from rnnlab.engine.gradcheck import check_gradients
from rnnlab.errors import UsageError
from rnnlab.tasks import TASKS
from rnnlab.data.sentences import SentenceSampler, split_tokenised_sentences
from rnnlab.tasks.wordlm import WordLM, WordLMOptions
from rnnlab.tasks.wordlm_sentence import WordLMSentence, WordLMSentenceOptions

EXAMPLE = api.make_options("wordlm", "pytorch-example")
# the example's configuration (these tests were written against it), made tiny
TINY = dict(tied=EXAMPLE.tied, locked_dropout=EXAMPLE.locked_dropout, dropout=EXAMPLE.dropout,
            schedule=EXAMPLE.schedule, adaptive_softmax=EXAMPLE.adaptive_softmax,
            hidden_size=16, num_layers=1, batch_size=4, seq_len=8, sample_length=3)


def tiny(**changes):
    return {**TINY, **changes}
TINY_SENTENCE = dict(mode="sentence", hidden=8, vocab_size=10, max_sentences=40, eval_sentences=10,
                     sample_length=3)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _lines(rng, n):
    """Sentences from a tiny grammar, a few per line: predictable enough to learn in one epoch."""
    subjects, verbs, objects = ["the cat", "a dog", "my friend", "he"], ["saw", "likes", "ate"], \
        ["the fish", "a ball", "bread", "it"]
    lines = []
    for _ in range(n):
        parts = [f"{subjects[rng.integers(4)]} {verbs[rng.integers(3)]} {objects[rng.integers(4)]} "
                 f"{'.!?'[rng.integers(3)]}" for _ in range(rng.integers(1, 4))]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "words"
    folder.mkdir()
    for split, n in (("train", 300), ("valid", 30), ("test", 30)):
        (folder / f"{split}.txt").write_text(_lines(rng, n))
    return folder


def _weights(run_dir):
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return split_prefix(tensors, "model")


# -- options and data --------------------------------------------------------------------

def test_the_pytorch_example_preset_is_the_example_configuration():
    assert TASKS["wordlm"] is WordLM
    o = api.make_options("wordlm", "pytorch-example")
    assert o.adaptive_softmax == "" and not o.locked_dropout
    assert (o.cell, o.num_layers, o.hidden_size, o.dropout, o.lr, o.clip, o.seq_len, o.batch_size, o.epochs) == \
        ("lstm", 2, 200, 0.2, 20.0, 0.25, 35, 20, 6)
    assert (o.optimizer, o.schedule, o.lr_factor, o.init, o.init_scale, o.tied) == \
        ("sgd", "plateau", 0.25, "example", 0.1, False)


@pytest.mark.parametrize("preset", [None, "better"], ids=["default", "better"])
def test_the_default_and_the_better_preset_are_tied_locked_dropout_batch_ten_adaptive_softmax_and_cosine(preset):
    o = api.make_options("wordlm", preset)
    assert (o.hidden_size, o.tied, o.locked_dropout, o.dropout, o.schedule, o.epochs) == (256, True, True, 0.1, "cosine", 6)
    assert o.batch_size == 10 and o.adaptive_softmax == "auto"
    assert (o.lr, o.clip, o.seq_len) == (20.0, 0.25, 35)  # the example's otherwise
    assert api.make_options("wordlm", preset, schedule="plateau").schedule == "plateau"
    assert api.make_options("wordlm", preset) == WordLMOptions()


def test_auto_adaptive_softmax_is_a_2000_word_shortlist_on_the_benchmark_and_is_saved_as_chosen():
    task = WordLM(api.make_options("wordlm", "better", hidden_size=8, num_layers=1))
    task.build_model()
    assert task.model.config.adaptive_cutoffs == (2000,) and task.options.adaptive_softmax == "2000"


def test_sentence_task_defaults_are_wildml_and_flags_still_override():
    assert TASKS["wordlm-sentence"] is WordLMSentence
    o = WordLMSentenceOptions()
    assert (o.cell, o.hidden_size, o.lr, o.bptt_truncate, o.lr_factor, o.batch_size, o.vocab_size, o.clip) == \
        ("rnn", 100, 0.005, 4, 0.5, 1, 8000, 0.0)
    assert WordLMSentenceOptions(hidden_size=200, bptt_truncate=10).hidden_size == 200
    with pytest.raises(UsageError, match="--batch-size must be 1"):
        WordLMSentence(WordLMSentenceOptions(batch_size=2), load_data=False)


def test_the_old_sentence_mode_of_wordlm_is_the_sentence_task():
    o = api.make_options("wordlm", mode="sentence", hidden=200)
    assert isinstance(o, WordLMSentenceOptions) and o.hidden_size == 200 and o.cell == "rnn"
    assert isinstance(api.make_options("wordlm", mode="stream"), WordLMOptions)


def test_shipped_benchmark_has_the_documented_vocabulary():
    task = WordLM(WordLMOptions())
    assert len(task.vocab) == 10_001 and "<eos>" in task.vocab
    assert len(task.ids["train"]) > 600_000


def test_sentences_split_on_end_marks_and_line_ends():
    assert split_tokenised_sentences(['" hello ! " he said .', "no end mark"]) == [
        [SENTENCE_START, '"', "hello", "!", '"', SENTENCE_END],
        [SENTENCE_START, "he", "said", ".", SENTENCE_END],
        [SENTENCE_START, "no", "end", "mark", SENTENCE_END]]


def test_sentence_sampler_resumes_mid_epoch_with_the_same_order():
    pairs = [(np.arange(n), np.arange(1, n + 1)) for n in range(1, 12)]
    first = SentenceSampler(pairs, np.random.default_rng(5))
    list(first.epoch())  # epoch 0
    it = first.epoch()
    seen = [next(it) for _ in range(4)]
    state = first.state()
    rest = [x for x, _ in it]
    second = SentenceSampler(pairs, np.random.default_rng(99))
    second.set_state(state)
    assert [x.tolist() for x, _ in second.epoch()] == [x.tolist() for x in rest]
    assert all(x.shape[1] == 1 for x, _ in seen) and second.epoch_index == 2


@pytest.mark.parametrize("problem", ["missing_dir", "missing_file", "empty_file", "blank_file"])
def test_bad_data_folder_is_a_usage_error(data_dir, problem):
    if problem == "missing_dir":
        folder = data_dir / "nope"
    else:
        folder = data_dir
        if problem == "missing_file":
            (data_dir / "valid.txt").unlink()
        else:
            (data_dir / "test.txt").write_text("" if problem == "empty_file" else "  \n\n")
    with pytest.raises(UsageError) as error:
        WordLM(WordLMOptions(data=str(folder), **TINY))
    assert "\n" not in str(error.value)


# -- model -------------------------------------------------------------------------------

def test_example_init_touches_embedding_and_head_only(data_dir):
    task = WordLM(WordLMOptions(data=str(data_dir), **TINY))
    task.build_model()
    p = task.model.params
    assert np.abs(p["embedding.weight"]).max() <= 0.1 and np.abs(p["head.weight"]).max() <= 0.1
    assert not p["head.bias"].any()
    assert np.abs(p["rnn.weight_hh_l0"]).max() > 0.1  # PyTorch's U(+-1/sqrt(16)) kept


def test_tied_weights_are_one_array(data_dir):
    task = WordLM(WordLMOptions(data=str(data_dir), **tiny(tied=True)))
    task.build_model()
    model = task.model
    assert model.head.params["weight"] is model.encoder.params["weight"]
    assert "head.weight" not in model.params
    result = api.train("wordlm", run_dir="tied", quiet=True, epochs=1, data=str(data_dir), **tiny(tied=True))
    assert math.isfinite(result["test_ppl"])


@pytest.mark.parametrize("adaptive_softmax", ["", "4,9"], ids=["full-softmax", "adaptive-softmax"])
def test_tied_gradient_sums_the_head_and_the_embedding_parts_and_accumulates(data_dir, adaptive_softmax):
    task = WordLM(WordLMOptions(data=str(data_dir), **tiny(tied=True, dtype="float64",
                                                                 adaptive_softmax=adaptive_softmax)))
    task.build_model()
    model = task.model
    assert model.head.grads["weight"] is model.encoder.grads["weight"]  # one gradient array too
    inputs, targets = next(iter(task.sampler().epoch()))
    model.eval()
    model.zero_grad()
    task.window_loss(inputs, targets, None, need_grad=True)
    once = {name: grad.copy() for name, grad in model.grads.items()}
    errors = check_gradients(model.params, once, lambda: task.window_loss(inputs, targets, None, need_grad=False)[0],
                             eps=1e-5)
    assert max(errors.values()) < 1e-6, errors
    task.window_loss(inputs, targets, None, need_grad=True)  # no zero_grad: the second pass adds
    for name, grad in model.grads.items():
        np.testing.assert_allclose(grad, 2 * once[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("embedding_size", [8, 24])
def test_tied_weights_narrower_or_wider_than_the_hidden_state_go_through_a_head_projection(
        data_dir, embedding_size):
    task = WordLM(WordLMOptions(data=str(data_dir), **tiny(tied=True, embedding_size=embedding_size,
                                                                 dtype="float64")))
    task.build_model()
    model = task.model
    assert model.params["head_projection.weight"].shape == (embedding_size, 16)  # H -> E, no bias
    assert model.head.params["weight"] is model.encoder.params["weight"]
    assert "head.weight" not in model.params and "head_projection.bias" not in model.params
    inputs, targets = next(iter(task.sampler().epoch()))
    model.eval()  # the same function at every evaluation: no dropout masks drawn
    model.zero_grad()
    task.window_loss(inputs, targets, None, need_grad=True)
    errors = check_gradients(model.params, model.grads,
                             lambda: task.window_loss(inputs, targets, None, need_grad=False)[0],
                             eps=1e-5)  # the mean loss is ~log V: at eps 1e-6 rounding alone gives ~5e-6
    assert max(errors.values()) < 1e-6, errors


# -- training runs -----------------------------------------------------------------------

def test_stream_mode_learns_in_one_epoch_and_reports_test_perplexity(data_dir):
    result = api.train("wordlm", run_dir="stream", quiet=True, epochs=1, data=str(data_dir), **TINY)
    assert result["val_ppl"] < result["vocab_size"] / 2
    assert 1 < result["test_ppl"] < result["vocab_size"] / 2
    assert math.isclose(result["test_ppl"], math.exp(result["test_loss"]))


def test_sentence_mode_runs(data_dir):
    result = api.train("wordlm", run_dir="sent", quiet=True, epochs=2, data=str(data_dir), **TINY_SENTENCE)
    assert result["vocab_size"] == 11  # 10 tokens + UNKNOWN_TOKEN
    assert math.isfinite(result["test_ppl"]) and result["val_ppl"] < 11
    assert SENTENCE_END not in result["sample"].split()


@pytest.mark.parametrize("settings", [tiny(dropout=0.3), TINY_SENTENCE,
                                      tiny(dropout=0.3, tied=True, adaptive_softmax="4")],
                         ids=["stream", "sentence", "adaptive-softmax"])
def test_resume_ends_with_the_same_weights(data_dir, tmp_path, settings):
    api.train("wordlm", run_dir=tmp_path / "straight", quiet=True, epochs=2, data=str(data_dir), **settings)
    api.train("wordlm", run_dir=tmp_path / "resumed", quiet=True, epochs=1, data=str(data_dir), **settings)
    api.resume(tmp_path / "resumed", epochs=2, quiet=True)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_an_adaptive_softmax_model_trains_and_evaluates_and_generates_from_its_checkpoint(data_dir, capsys):
    result = api.train("wordlm", run_dir="adaptive", quiet=True, epochs=1, data=str(data_dir),
                       **tiny(tied=True, adaptive_softmax="4,9"))
    assert 1 < result["test_ppl"] < result["vocab_size"] / 2
    task = api.load("adaptive", load_data=True)
    assert task.model.config.adaptive_cutoffs == (4, 9)
    assert task.model.params["head.cluster_weight"].shape == (2, 16)
    capsys.readouterr()
    assert main(["evaluate", "adaptive", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["test_ppl"] == pytest.approx(result["test_ppl"], rel=1e-6)
    assert main(["generate", "adaptive", "--prefix", "the cat", "--length", "5", "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip().startswith("the cat")


@pytest.mark.parametrize("flags, words", [
    (["--adaptive-softmax", "many"], ("--adaptive-softmax",)),
    (["--adaptive-softmax", "0"], ("cutoffs",)),
    (["--adaptive-softmax", "9,4"], ("cutoffs",)),
    (["--adaptive-softmax", "100000"], ("cutoffs",)),
    (["--adaptive-softmax", "4", "--mode", "sentence", "--vocab-size", "10"], ("--mode stream",)),
    (["--adaptive-softmax", "4", "--backend", "torch"], ("NumPy engine",)),
])
def test_impossible_adaptive_softmax_settings_are_one_line_errors(data_dir, capsys, flags, words):
    if "torch" in flags:
        pytest.importorskip("torch")
    args = ["train", "wordlm", "--data", str(data_dir), "--hidden", "8", "--layers", "1", "--epochs", "1",
            "--quiet", "--run-dir", "bad", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(word in err for word in words), err


def test_cli_smoke(data_dir, capsys):
    code = main(["train", "wordlm", "--data", str(data_dir), "--hidden", "8", "--layers", "1", "--batch-size",
                 "2", "--bptt", "5", "--epochs", "1", "--quiet", "--json", "--run-dir", "cli"])
    assert code == 0 and '"test_ppl"' in capsys.readouterr().out
    assert main(["train", "wordlm", "--data", "nowhere", "--quiet"]) == 2


def test_under_data_parallel_each_rank_reads_its_own_columns_of_the_stream(data_dir):
    from types import SimpleNamespace

    options = api.make_options("wordlm", data=str(data_dir), **TINY)
    whole = WordLM(options).sampler()
    sharded_task = WordLM(options)
    sharded_task.model = SimpleNamespace(rank=1, world_size=2)  # what a torchrun rank's model reports
    shard = sharded_task.sampler()
    (x_whole, y_whole), (x_shard, y_shard) = next(iter(whole.epoch())), next(iter(shard.epoch()))
    assert x_shard.shape == (x_whole.shape[0], 2)
    np.testing.assert_array_equal(x_shard, x_whole[:, 2:])
    np.testing.assert_array_equal(y_shard, y_whole[:, 2:])


# -- dynamic evaluation ------------------------------------------------------------------

@pytest.fixture
def trained_words(data_dir):
    api.train("wordlm", run_dir="dyn", quiet=True, epochs=1, data=str(data_dir), **TINY)
    return api.load("dyn", load_data=True)


def test_dynamic_evaluation_scores_a_window_before_it_learns_from_it(trained_words):
    ids = trained_words.ids["test"][: TINY["seq_len"] + 1]  # exactly one window
    static = trained_words.stream_loss(ids, batch_size=1)
    assert trained_words.dynamic_stream_loss(ids, lr=100.0) == pytest.approx(static, rel=1e-12)


def test_dynamic_evaluation_with_a_vanishing_step_is_static_evaluation_in_one_column(trained_words):
    ids = trained_words.ids["test"]
    static = trained_words.stream_loss(ids, batch_size=1)
    assert trained_words.dynamic_stream_loss(ids, lr=1e-9) == pytest.approx(static, rel=1e-5)


def test_dynamic_evaluation_learns_a_passage_the_model_has_not_seen_as_it_rereads_it(trained_words):
    passage = np.random.default_rng(1).integers(0, len(trained_words.vocab), size=40)  # random words
    ids = np.tile(passage, 4)
    static = trained_words.stream_loss(ids, batch_size=1)
    dynamic = trained_words.dynamic_stream_loss(ids, lr=1.0)
    assert dynamic < 0.8 * static


def test_dynamic_evaluation_leaves_the_trained_weights_as_they_were(trained_words):
    before = trained_words.model.state_dict()
    trained_words.dynamic_stream_loss(trained_words.ids["test"], lr=1.0, decay=0.1, window=3)
    after = trained_words.model.state_dict()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


def test_evaluate_with_dynamic_lr_reports_static_and_dynamic_perplexity(data_dir, capsys):
    api.train("wordlm", run_dir="dyn", quiet=True, epochs=1, data=str(data_dir), **TINY)
    capsys.readouterr()
    assert main(["evaluate", "dyn", "--dynamic-lr", "0.5", "--dynamic-window", "4", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("val_ppl", "test_ppl", "dynamic_val_ppl", "dynamic_test_ppl"):
        assert math.isfinite(metrics[key]) and metrics[key] > 1, key


def test_evaluating_a_text_tokenised_unlike_the_training_text_counts_its_unknown_words_and_says_so(
        data_dir, tmp_path, capsys):
    api.train("wordlm", run_dir="run", quiet=True, epochs=1, data=str(data_dir), **TINY)
    raw, tokenised = tmp_path / "raw.txt", tmp_path / "tokenised.txt"
    raw.write_text("The cat saw the fish.\n")
    tokenised.write_text("the cat saw the fish .\n")
    capsys.readouterr()
    assert main(["evaluate", "run", "--text", str(raw), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["unknown_words"] == 2       # 'The', 'fish.'
    assert "2 of 6 tokens (33%)" in err and f"{data_dir}/train.txt" in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", "run", "--text", str(tokenised), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["unknown_words"] == 0 and err == ""


@pytest.mark.parametrize("flags, words", [
    (["--dynamic-lr", "0"], ("--dynamic-lr",)),
    (["--dynamic-lr", "nan"], ("--dynamic-lr",)),
    (["--dynamic-lr", "1", "--dynamic-decay", "1"], ("--dynamic-decay",)),
    (["--dynamic-lr", "1", "--dynamic-window", "0"], ("--dynamic-window",)),
    (["--dynamic-lr", "1", "--backend", "torch"], ("torch",)),
])
def test_nonsense_dynamic_evaluation_settings_are_one_line_errors(data_dir, capsys, flags, words):
    api.train("wordlm", run_dir="dyn", quiet=True, epochs=1, data=str(data_dir), **TINY)
    capsys.readouterr()
    assert main(["evaluate", "dyn", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(word in err for word in words), err


def test_dynamic_evaluation_of_a_sentence_model_is_a_one_line_error(data_dir, capsys):
    api.train("wordlm", run_dir="sent", quiet=True, epochs=1, data=str(data_dir), **TINY_SENTENCE)
    capsys.readouterr()
    assert main(["evaluate", "sent", "--dynamic-lr", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stream" in err, err


def test_an_old_wordlm_run_in_sentence_mode_loads_resumes_evaluates_and_generates(data_dir, capsys):
    from rnnlab.checkpoint import save_checkpoint

    api.train("wordlm", run_dir="old", quiet=True, epochs=1, data=str(data_dir), **TINY_SENTENCE)
    old_names = {"hidden_size": "hidden", "num_layers": "layers"}

    def as_before(options):  # what `wordlm --mode sentence` saved: one options class for both modes
        options = {old_names.get(k, k): v for k, v in options.items()}
        return {**options, "mode": "sentence", "max_tokens": None, "adaptive_softmax": ""}

    config = json.loads(open("old/config.json").read())
    assert config["task"] == "wordlm-sentence"
    config.update(task="wordlm", options=as_before(config["options"]))
    open("old/config.json", "w").write(json.dumps(config))
    for name in ("last", "best"):
        path = f"old/checkpoints/{name}.safetensors"
        tensors, meta = load_checkpoint(path)
        meta.update(task="wordlm", options=as_before(meta["options"]))
        save_checkpoint(path, tensors, meta)
    task = api.load("old")
    assert isinstance(task, WordLMSentence) and task.options.hidden_size == 8
    assert main(["evaluate", "old", "--json"]) == 0
    assert main(["generate", "old", "--prefix", SENTENCE_START, "--length", "3", "--seed", "1"]) == 0
    assert main(["train", "wordlm", "--mode", "sentence", "--hidden", "8", "--resume", "old", "--epochs", "2",
                 "--quiet"]) == 0


def test_the_old_sentence_spelling_on_the_command_line_runs_the_sentence_task(data_dir, capsys):
    assert main(["train", "wordlm", "--mode", "sentence", "--data", str(data_dir), "--hidden", "8", "--vocab-size",
                 "10", "--max-sentences", "20", "--eval-sentences", "5", "--epochs", "1", "--quiet", "--json",
                 "--run-dir", "cli-sent"]) == 0
    assert json.loads(open("cli-sent/config.json").read())["task"] == "wordlm-sentence"


@pytest.mark.parametrize("spelling", [["--preset", "better"], ["--adaptive-softmax", "auto"], []])
def test_a_run_of_the_default_resumes_under_the_preset_name_it_had_or_with_auto_spelt_out(data_dir, spelling):
    """--adaptive-softmax auto is saved as what it chose ('' on a small vocabulary), and resuming with
    the default's old name (--preset better) or with auto given again is the same configuration."""
    flags = ["--data", str(data_dir), "--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "8",
             "--sample-length", "3", "--quiet"]
    assert main(["train", "wordlm", *flags, "--epochs", "1", "--run-dir", "run"]) == 0
    assert json.loads(open("run/config.json").read())["options"]["adaptive_softmax"] == ""
    assert main(["train", "wordlm", *spelling, *flags, "--resume", "run", "--epochs", "2"]) == 0
    assert json.loads(open("run/final.json").read())["epochs"] == 2


def test_resuming_with_another_adaptive_softmax_than_the_run_chose_is_refused(data_dir, capsys):
    flags = ["--data", str(data_dir), "--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "8",
             "--sample-length", "3", "--quiet"]
    assert main(["train", "wordlm", *flags, "--epochs", "1", "--run-dir", "run"]) == 0
    assert main(["train", "wordlm", *flags, "--adaptive-softmax", "4", "--resume", "run", "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--adaptive-softmax" in err, err
