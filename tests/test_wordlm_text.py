"""wordlm on a plain text (--text): the tokeniser, the split, what the run keeps, generate/evaluate on raw text,
and the word model's presets (the better default, pytorch-example) with old runs loading unchanged."""

import json
import math

import numpy as np
import pytest

import rnnlab.api as api
from rnnlab.checkpoint import load_checkpoint, save_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.data import EOS, WordTokenizer, load_corpus, load_word_splits, ptb_tokens, split_tail
from rnnlab.errors import UsageError
from rnnlab.tasks.wordlm import PYTORCH_EXAMPLE, WordLM

TINY = ["--hidden-size", "16", "--num-layers", "1", "--epochs", "1", "--sample-length", "0", "--quiet"]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def book_lines():
    return load_corpus("warpeace").splitlines()


@pytest.fixture
def text_file(tmp_path, book_lines):
    """The first 900 lines of War and Peace as printed (about 7,800 words), raw."""
    path = tmp_path / "book.txt"
    path.write_text("\n".join(book_lines[:900]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def text_run(text_file, capsys):
    assert main(["train", "wordlm", "--text", str(text_file), "--run-dir", "run", *TINY]) == 0
    capsys.readouterr()
    return "run"


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# -- the rule ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tokens", [
    ("The Prince said,", ["the", "prince", "said", ","]),
    ("well-known--so", ["well", "-", "known", "-", "-", "so"]),
    ("don't! prince's", ["don't", "!", "prince's"]),
    ("'faithful slave,'", ["'", "faithful", "slave", ",", "'"]),
    ("In 1805, 160,000 men; 3.14", ["in", "1805", ",", "160,000", "men", ";", "3.14"]),
    ("\u201cDon\u2019t,\u201d she said", ['"', "don't", ",", '"', "she", "said"]),
    ("_italics_ (tête)", ["_", "italics", "_", "(", "tête", ")"]),
    ("a <eos> b <unk>", ["a", EOS, "b", "<unk>"]),
])
def test_the_rule_lowercases_splits_off_punctuation_and_keeps_words_and_numbers_whole(text, tokens):
    assert WordTokenizer().words(text) == tokens


def test_every_line_ends_with_eos_blank_lines_give_nothing_and_paragraphs_end_at_blank_lines():
    text = "It was July.\nHe came\n\n  \nand went\r\n"
    assert WordTokenizer().stream(text) == ["it", "was", "july", ".", EOS, "he", "came", EOS, "and", "went", EOS]
    assert WordTokenizer(paragraphs=True).stream(text) == \
        ["it", "was", "july", ".", "he", "came", EOS, "and", "went", EOS]
    assert WordTokenizer(lowercase=False).words(text) == ["It", "was", "July", ".", EOS, "He", "came", EOS, "and",
                                                          "went"]


def test_on_war_and_peace_the_rule_writes_nearly_every_paragraph_as_the_shipped_benchmark_has_it(book_lines):
    paragraphs = WordTokenizer(paragraphs=True).units("\n".join(book_lines))
    benchmark = [line for split in load_word_splits("warpeace-words").values() for line in split]
    assert len(paragraphs) == len(benchmark)
    vocabulary = {word for line in benchmark for word in line.split()}
    tokenizer = WordTokenizer()
    same = sum([w if w in vocabulary else "<unk>" for w in tokenizer.words(p)] == line.split()
               for p, line in zip(paragraphs, benchmark))
    assert same >= 0.99 * len(benchmark)


def test_raw_held_out_text_has_few_unknown_words_under_the_rule_and_many_split_on_whitespace(book_lines):
    tokenizer = WordTokenizer()
    splits = split_tail(tokenizer.units("\n".join(book_lines)), 0.05)
    vocabulary = set(tokenizer.stream_units(splits["train"]))
    held_out = "\n".join(splits["valid"] + splits["test"])
    new = [t not in vocabulary for t in tokenizer.stream(held_out)]
    old = [t not in vocabulary for t in ptb_tokens(held_out.splitlines())]
    assert np.mean(new) < 0.03 and np.mean(old) > 5 * np.mean(new)  # measured: 1.7% and 19.1%


# -- the split -----------------------------------------------------------------------------

@pytest.mark.parametrize("n, fraction, held", [(3, 0.05, 1), (20, 0.05, 1), (100, 0.05, 5), (101, 0.1, 10),
                                               (1000, 0.05, 50)])
def test_valid_and_test_each_take_round_fraction_times_n_lines_from_the_end_in_order(n, fraction, held):
    lines = [f"line {i}" for i in range(n)]
    splits = split_tail(lines, fraction)
    assert splits["train"] + splits["valid"] + splits["test"] == lines
    assert len(splits["valid"]) == len(splits["test"]) == held


@pytest.mark.parametrize("n, fraction, words", [(2, 0.05, "at least 3"), (10, 0.45, "at least 11"),
                                                (10, 0.5, "--val-fraction"), (10, 0.0, "--val-fraction")])
def test_a_text_too_short_to_split_or_a_bad_fraction_is_a_one_line_error(n, fraction, words):
    with pytest.raises(UsageError, match=words) as error:
        split_tail([f"line {i}" for i in range(n)], fraction)
    assert "\n" not in str(error.value)


# -- training on a text, and what the run keeps --------------------------------------------

def test_a_text_run_trains_and_keeps_its_rule_its_split_and_a_head_that_fits_its_vocabulary(text_run, text_file):
    config = json.loads(open(f"{text_run}/config.json").read())
    options = config["options"]
    assert (options["text"], options["lowercase"], options["paragraphs"], options["val_fraction"]) == \
        (str(text_file), True, False, 0.05)
    assert options["adaptive_softmax"] == "" and config["model"]["adaptive_cutoffs"] == []  # 1,733 words < 5,000
    _, meta = load_checkpoint(f"{text_run}/checkpoints/last.safetensors")
    assert meta["vocab"]["version"] == 2
    assert meta["vocab"]["tokenizer"] == {"rule": "rnnlab-words", "version": 1, "lowercase": True,
                                          "paragraphs": False}
    task = api.load(text_run, load_data=True)
    assert task.vocab.tokenizer == WordTokenizer()
    assert "prince" in task.vocab and "Prince" not in task.vocab and "," in task.vocab
    final = json.loads(open(f"{text_run}/final.json").read())
    assert math.isfinite(final["test_ppl"]) and final["test_ppl"] < len(task.vocab)


def test_generate_takes_a_raw_prefix_and_writes_it_as_the_training_text_is_written(text_run, capsys):
    assert main(["generate", text_run, "--prefix", "The Prince said,", "--length", "5", "--seed", "1"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("the prince said ,") and len(out.split()) == 4 + 5


def test_evaluate_on_raw_text_of_the_same_source_scores_few_unknown_words(text_run, text_file, capsys):
    assert main(["evaluate", text_run, "--text", str(text_file), "--json"]) == 0
    out_err = capsys.readouterr()
    metrics = json.loads(out_err.out.strip().splitlines()[-1])
    new_fraction = metrics["unknown_words"] / metrics["tokens"]
    vocab = api.load(text_run).vocab
    old = ptb_tokens(text_file.read_text().splitlines())  # what evaluate did before: split on whitespace
    old_fraction = np.mean([t not in vocab for t in old])
    assert new_fraction < 0.05 and old_fraction > 5 * new_fraction  # measured: 1.2% and 34%
    assert out_err.err == ""  # no "write the text the way the training text is written" note


def test_resume_of_a_text_run_ends_with_the_same_weights(text_file):
    settings = dict(text=str(text_file), hidden_size=8, num_layers=1, sample_length=0, max_tokens=2000,
                    schedule="plateau")  # (a cosine over --epochs would anneal differently in a 1-epoch run)
    api.train("wordlm", run_dir="straight", quiet=True, epochs=2, **settings)
    api.train("wordlm", run_dir="resumed", quiet=True, epochs=1, **settings)
    api.resume("resumed", epochs=2, quiet=True)
    a = split_prefix(load_checkpoint("straight/checkpoints/last.safetensors")[0], "model")
    b = split_prefix(load_checkpoint("resumed/checkpoints/last.safetensors")[0], "model")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_vocab_size_keeps_the_most_frequent_training_words_and_no_lowercase_keeps_case(text_file):
    task = WordLM(api.make_options("wordlm", text=str(text_file), vocab_size=100, lowercase=False))
    assert len(task.vocab) == 101 and task.vocab.itos[0] == "<unk>"
    assert "Prince" in task.vocab and "," in task.vocab and EOS in task.vocab
    assert task.vocab.encode("The Prince,").tolist() == [task.vocab.stoi[w] for w in ("The", "Prince", ",")]


def test_paragraphs_gives_one_eos_per_paragraph(text_file):
    lines = WordLM(api.make_options("wordlm", text=str(text_file)))
    paragraphs = WordLM(api.make_options("wordlm", text=str(text_file), paragraphs=True))
    def ends(task):
        return sum(int((ids == task.vocab.stoi[EOS]).sum()) for ids in task.ids.values())

    assert ends(paragraphs) < ends(lines) / 3  # the book's paragraphs run over several printed lines


def test_the_adaptive_head_is_dropped_below_5000_words_and_kept_at_2000_above(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(6000)]
    text = tmp_path / "many.txt"
    text.write_text("\n".join(" ".join(rng.choice(words, 12)) for _ in range(3000)) + "\n")
    large = WordLM(api.make_options("wordlm", text=str(text), hidden_size=8, num_layers=1))
    large.build_model()
    small = WordLM(api.make_options("wordlm", text=str(text), hidden_size=8, num_layers=1, vocab_size=4000))
    small.build_model()
    assert len(large.vocab) >= 5000 and large.model.config.adaptive_cutoffs == (2000,)
    assert small.model.config.adaptive_cutoffs == ()


@pytest.mark.parametrize("make, flags, words", [
    (None, [], "not found"),
    (b"", [], "empty"),
    (b"\xff\xfe bad", [], "UTF-8"),
    (b"one line\ntwo lines\n", [], "at least 3"),
    (b"a\nb\nc\n", ["--data", "somewhere"], "not both"),
    (b"a\nb\nc\n", ["--val-fraction", "0.7"], "--val-fraction"),
    (b"a\nb\nc\n", ["--vocab-size", "0"], "--vocab-size"),
    (b"a\nb\nc\n", [], "needs at least 3"),  # one word a line: 2 tokens in valid
], ids=["missing", "empty", "not-utf8", "two-lines", "with-data", "fraction", "vocab-size", "tiny-splits"])
def test_bad_text_input_is_a_one_line_error_with_exit_code_2(tmp_path, capsys, make, flags, words):
    path = tmp_path / "given.txt"
    if make is not None:
        path.write_bytes(make)
    assert main(["train", "wordlm", "--text", str(path), *flags, "--run-dir", "bad", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "bad").exists()


# -- old runs ------------------------------------------------------------------------------

def test_a_benchmark_run_keeps_splitting_raw_text_on_whitespace(tmp_path, capsys):
    folder = tmp_path / "words"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text("the cat saw the fish .\na dog ate it !\n" * 20)
    api.train("wordlm", run_dir="bench", quiet=True, epochs=1, data=str(folder), hidden_size=8, num_layers=1,
              sample_length=0)
    _, meta = load_checkpoint("bench/checkpoints/last.safetensors")
    assert meta["vocab"]["version"] == 1 and "tokenizer" not in meta["vocab"]
    raw = tmp_path / "raw.txt"
    raw.write_text("The cat saw the fish.\n")
    assert main(["evaluate", "bench", "--text", str(raw), "--json"]) == 0
    assert last_json(capsys)["unknown_words"] == 2  # 'The', 'fish.'


def test_a_run_saved_under_the_old_defaults_loads_evaluates_and_resumes_as_it_was_trained(tmp_path, capsys):
    """The example's configuration was the default; a run saved then that lacks the fields added since
    (or even every field whose default changed) keeps the example's values."""
    folder = tmp_path / "words"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text("the cat saw the fish .\na dog ate it !\n" * 20)
    api.train("wordlm", preset="pytorch-example", run_dir="old", quiet=True, epochs=1, data=str(folder),
              sample_length=0)
    before = api.evaluate(api.load("old", load_data=True))
    changed = [name for name in PYTORCH_EXAMPLE if PYTORCH_EXAMPLE[name] != getattr(api.make_options("wordlm"), name)]
    assert set(changed) == {"hidden_size", "tied", "locked_dropout", "dropout", "schedule", "batch_size",
                            "adaptive_softmax"}

    def as_before(options):  # "text", "lowercase"... did not exist; nor (say) the fields whose default changed
        return {k: v for k, v in options.items()
                if k not in changed + ["text", "lowercase", "paragraphs", "val_fraction", "vocab_size"]}

    config = json.loads(open("old/config.json").read())
    config["options"] = {**as_before(config["options"]), "vocab_size": 8000}  # the sentence mode's, meaningless
    open("old/config.json", "w").write(json.dumps(config))
    for name in ("last", "best"):
        path = f"old/checkpoints/{name}.safetensors"
        tensors, meta = load_checkpoint(path)
        meta["options"] = as_before(meta["options"])
        save_checkpoint(path, tensors, meta)
    task = api.load("old", load_data=True)
    assert all(getattr(task.options, name) == PYTORCH_EXAMPLE[name] for name in changed)
    assert task.options.vocab_size is None and task.model.config.hidden_size == 200
    assert api.evaluate(task)["test_ppl"] == pytest.approx(before["test_ppl"], rel=1e-9)
    api.resume("old", epochs=2, quiet=True)
    _, meta = load_checkpoint("old/checkpoints/last.safetensors")
    assert meta["options"]["hidden_size"] == 200 and meta["options"]["batch_size"] == 20
