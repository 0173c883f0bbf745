"""rnnlab.data: shipped corpora, reading files, vocabularies, tokenisers, batch samplers."""

import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data import (CORPORA, EOS, SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, BpttWindows,
                         ConsecutiveWindows, RandomWindows, Vocabulary, batchify, load_corpus, load_text,
                         load_word_splits, prepare_chars, ptb_tokens, read_text_file, sentence_pairs,
                         sentence_vocabulary, sentences)
from rnnlab.errors import UsageError


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def json_round_trip(d):
    return json.loads(json.dumps(d))


# -- shipped corpora ---------------------------------------------------------------------

def test_every_registered_corpus_file_is_shipped_gzipped_in_the_package():
    root = resources.files("rnnlab.data").joinpath("corpora")
    for corpus in CORPORA.values():
        for f in corpus.files.values():
            blob = root.joinpath(*f.split("/")).read_bytes()
            assert f.endswith(".txt.gz") and blob[:2] == b"\x1f\x8b"
    assert root.joinpath("README.md").is_file()


def test_tinyshakespeare_has_its_documented_size_and_65_characters():
    text = load_corpus("tinyshakespeare")
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:")
    assert len(Vocabulary.from_text(text)) == 65


def test_tang300_has_about_2600_distinct_chinese_characters():
    text = load_corpus("tang300")
    assert 2_500 <= len(set(text)) <= 2_700
    assert "床前明月光" in text


def test_warpeace_is_the_raw_book_of_3_2_million_characters():
    text = load_corpus("warpeace")
    assert 3_100_000 <= len(text) <= 3_300_000
    assert "\r" not in text


def test_warpeace_words_train_vocabulary_has_10001_entries_with_eos():
    splits = load_word_splits("warpeace-words")
    assert set(splits) == {"train", "valid", "test"}
    tokens = {name: ptb_tokens(lines) for name, lines in splits.items()}
    vocab = Vocabulary.from_tokens(tokens["train"])
    assert len(vocab) == 10_001 and EOS in vocab and "<unk>" in vocab
    words = {name: len(t) - len(splits[name]) for name, t in tokens.items()}  # without <eos>
    assert 600_000 <= words["train"] <= 610_000
    assert 30_000 <= words["valid"] <= 38_000 and 30_000 <= words["test"] <= 38_000
    # valid and test use only the train vocabulary (unknown words are already <unk>)
    vocab.encode(tokens["valid"]), vocab.encode(tokens["test"])


def test_an_unknown_corpus_name_is_a_usage_error_listing_the_choices():
    with pytest.raises(UsageError, match="tinyshakespeare"):
        load_corpus("shakespear")


def test_loading_the_word_benchmark_as_text_says_to_use_load_word_splits():
    with pytest.raises(UsageError, match="load_word_splits"):
        load_corpus("warpeace-words")
    with pytest.raises(UsageError, match="load_corpus"):
        load_word_splits("tang300")


# -- reading user files --------------------------------------------------------------------

def test_read_text_file_reads_utf8_and_normalises_bom_and_crlf(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffhé\r\nllo\n".encode("utf-8"))
    assert read_text_file(path) == "hé\nllo\n"


def test_a_missing_file_is_a_usage_error_naming_it(tmp_path):
    with pytest.raises(UsageError, match="not found.*nope.txt"):
        read_text_file(tmp_path / "nope.txt")


def test_a_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        read_text_file(tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_an_empty_or_blank_file_is_a_usage_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="empty|only whitespace"):
        read_text_file(path)


def test_invalid_utf8_is_a_usage_error_with_the_byte_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("abc café".encode("latin-1"))  # é is 0xe9, at byte 7
    with pytest.raises(UsageError) as info:
        read_text_file(path)
    message = str(info.value)
    assert "offset 7" in message and "0xe9" in message and "must be UTF-8" in message
    assert "\n" not in message


def test_load_text_takes_a_corpus_name_or_a_path(tmp_path):
    assert load_text("tang300") == load_corpus("tang300")
    (tmp_path / "mine.txt").write_text("my text", encoding="utf-8")
    assert load_text(tmp_path / "mine.txt") == "my text"
    with pytest.raises(UsageError, match="neither a shipped corpus"):
        load_text("tinyshakespear")


# -- vocabularies --------------------------------------------------------------------------

def test_a_char_vocabulary_is_the_sorted_distinct_characters():
    v = Vocabulary.from_text("hello")
    assert v.itos == ["e", "h", "l", "o"] and v.stoi == {"e": 0, "h": 1, "l": 2, "o": 3}
    ids = v.encode("hole")
    assert ids.dtype == np.int64 and ids.tolist() == [1, 3, 2, 0]
    assert v.decode(ids) == "hole" and len(v) == 4


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1))
def test_any_text_round_trips_through_its_vocabulary_and_json(text):
    v = Vocabulary.from_json(json_round_trip(Vocabulary.from_text(text).to_json()))
    assert v.decode(v.encode(text)) == text


def test_a_word_vocabulary_orders_specials_then_frequency_then_alphabet():
    v = Vocabulary.from_tokens("c b a b c d".split(), specials=["<pad>"], unk="<unk>")
    assert v.itos == ["<pad>", "<unk>", "b", "c", "a", "d"]
    assert Vocabulary.from_tokens("c b a b c d".split()[::-1], specials=["<pad>"], unk="<unk>") == v
    small = Vocabulary.from_tokens("c b a b c d".split(), max_size=4, unk="<unk>")
    assert small.itos == ["<unk>", "b", "c", "a"]
    assert small.encode("b d a", unknown="unk").tolist() == [1, 0, 3]
    assert small.decode([1, 3]) == "b a"


def test_a_word_vocabulary_round_trips_through_json():
    v = Vocabulary.from_tokens("the cat sat on the mat".split(), unk="<unk>")
    again = Vocabulary.from_json(json_round_trip(v.to_json()))
    assert again == v and again.kind == "word" and again.unk == "<unk>"
    assert v.to_json()["version"] == 1


def test_unknown_characters_are_an_error_naming_them_and_suggesting_skip():
    v = Vocabulary.from_text("abc")
    with pytest.raises(UsageError) as info:
        v.encode("abΩcжΩ")
    message = str(info.value)
    assert "'Ω', 'ж'" in message and "--unknown skip" in message


def test_unknown_words_that_the_vocabulary_writes_otherwise_are_shown_as_it_writes_them():
    v = Vocabulary.from_tokens("the prince said , natasha's".split())
    with pytest.raises(UsageError) as info:
        v.encode("The prince said, natasha's xyzzy")
    message = str(info.value)
    assert "'The' -> 'the'" in message and "'said,' -> 'said ,'" in message
    assert "'xyzzy'" in message and "'xyzzy' ->" not in message and "\n" not in message


def test_many_unknown_symbols_are_named_up_to_ten():
    v = Vocabulary.from_text("a")
    with pytest.raises(UsageError, match=r"'k' and 5 more"):
        v.encode("bcdefghijklmnop")


def test_unknown_symbols_can_be_skipped_or_mapped_to_unk():
    chars = Vocabulary.from_text("abc")
    assert chars.decode(chars.encode("axbyc", unknown="skip")) == "abc"
    with pytest.raises(UsageError, match="no unknown-token"):
        chars.encode("x", unknown="unk")
    words = Vocabulary.from_tokens(["a", "b"], unk="<unk>")
    assert words.decode(words.encode(["a", "zz", "b"], unknown="unk")) == "a <unk> b"


def test_a_damaged_or_newer_vocabulary_file_is_a_usage_error():
    d = Vocabulary.from_text("abc").to_json()
    with pytest.raises(UsageError, match="version"):
        Vocabulary.from_json({**d, "version": 99})
    with pytest.raises(UsageError, match="not an rnnlab vocabulary"):
        Vocabulary.from_json({"itos": ["a"]})
    with pytest.raises(UsageError, match="more than once"):
        Vocabulary.from_json({**d, "itos": ["a", "a"]})


def test_decoding_ids_outside_the_vocabulary_is_a_usage_error():
    with pytest.raises(UsageError, match="out of range"):
        Vocabulary.from_text("ab").decode([0, 5])


# -- text preparation ----------------------------------------------------------------------

def test_prepare_chars_replaces_newlines_then_cuts_like_d2l():
    assert prepare_chars("ab\ncd\r\nef", max_chars=6, newlines="space") == "ab cd "
    assert prepare_chars("ab\ncd") == "ab\ncd"
    with pytest.raises(UsageError):
        prepare_chars("abc", max_chars=0)


def test_ptb_tokens_append_eos_after_every_line():
    assert ptb_tokens(["a b", "", " c  "]) == ["a", "b", EOS, EOS, "c", EOS]


def test_sentences_are_lowercased_tokenised_and_wrapped():
    got = sentences('Hello, World! "Don\'t go," she said. Bye')
    assert got == [
        [SENTENCE_START, "hello", ",", "world", "!", SENTENCE_END],
        [SENTENCE_START, '"', "don't", "go", ",", '"', "she", "said", ".", SENTENCE_END],
        [SENTENCE_START, "bye", SENTENCE_END],
    ]


def test_the_sentence_vocabulary_comes_from_training_sentences_only():
    train = sentences("The cat sat. The cat ran. A dog sat.")
    valid = sentences("The zebra sat.")
    vocab = sentence_vocabulary(train, n_words=6)  # ".", ends, starts (3 each); cat, sat, the (2 each)
    assert len(vocab) == 7 and vocab.itos[-1] == UNKNOWN_TOKEN
    assert vocab.itos[:3] == [".", SENTENCE_END, SENTENCE_START]  # 3 each, ties alphabetical
    assert vocab.itos[3:6] == ["cat", "sat", "the"] and "zebra" not in vocab and "dog" not in vocab
    (x, y), = sentence_pairs(valid, vocab)
    assert vocab.decode(x) == f"{SENTENCE_START} the {UNKNOWN_TOKEN} sat ."
    assert np.array_equal(x[1:], y[:-1]) and vocab.decode(y[-1:]) == SENTENCE_END


# -- samplers ------------------------------------------------------------------------------

EPOCH_SAMPLERS = [RandomWindows, ConsecutiveWindows]


def make(cls, n=1000, seq_len=7, batch_size=4, rng=0, **kw):
    return cls(np.arange(n), seq_len, batch_size, rng, **kw)


def take(sampler, k):
    """The next k batches, across epochs."""
    out = []
    while len(out) < k:
        for batch in sampler.epoch():
            out.append(batch)
            if len(out) == k:
                break
    return out


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_batches_are_time_major_and_y_is_x_shifted_by_one(cls):
    sampler = make(cls)
    batches = list(sampler.epoch())
    assert len(batches) == len(sampler) > 0
    for X, Y in batches:
        assert X.shape == Y.shape == (7, 4) and X.dtype == Y.dtype == np.int64
        assert np.array_equal(Y, X + 1)  # the stream is arange, so next token = id + 1
        assert np.array_equal(np.diff(X, axis=0), np.ones((6, 4)))  # each column is a contiguous window


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_every_epoch_has_the_same_number_of_batches(cls):
    sampler = make(cls, n=523, seq_len=5, batch_size=3, rng=1)
    counts = {len(list(sampler.epoch())) for _ in range(20)}
    assert counts == {len(sampler)}
    assert sampler.epoch_index == 20


def test_random_windows_cover_the_epoch_once_each_from_a_random_offset():
    sampler = make(RandomWindows, n=1000, seq_len=7, batch_size=4)
    offsets = set()
    for _ in range(30):
        starts = np.concatenate([X[0] for X, _ in sampler.epoch()])
        assert len(starts) == len(sampler) * 4 == len(set(starts.tolist()))  # no window twice
        assert len(set((starts % 7).tolist())) == 1  # all on one grid ...
        offsets.add(int(starts[0] % 7))  # ... whose offset is drawn per epoch
        assert (1000 - 7) // 7 - len(starts) < 4  # only the remainder of a batch is left out
    assert len(offsets) > 3


def test_consecutive_rows_continue_across_batches_and_cover_a_contiguous_span():
    sampler = make(ConsecutiveWindows, n=1000, seq_len=7, batch_size=4)
    for _ in range(5):
        batches = list(sampler.epoch())
        for (X0, _), (X1, _) in zip(batches, batches[1:]):
            assert np.array_equal(X1[0], X0[-1] + 1)  # row b of batch i+1 picks up where it left off
        seen = np.sort(np.concatenate([X.ravel() for X, _ in batches]))
        assert np.array_equal(seen, np.arange(seen[0], seen[0] + len(seen)))  # contiguous, no repeats
        assert seen[0] < 7 and len(seen) == len(sampler) * 7 * 4 and len(seen) > 1000 - 2 * 7 * 4


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
@pytest.mark.parametrize("k", [0, 1, 5, 34, 35, 36, 80])  # 35 batches per epoch
def test_resuming_from_state_gives_the_same_subsequent_batches(cls, k):
    sampler = make(cls, n=1000, seq_len=7, batch_size=4, rng=123)
    assert len(sampler) == 35
    take(sampler, k)
    saved = json_round_trip(sampler.state())
    expected = take(sampler, 50)

    resumed = make(cls, n=1000, seq_len=7, batch_size=4, rng=999)  # the seed is overwritten
    resumed.set_state(saved)
    assert resumed.epoch_index == k // 35
    got = take(resumed, 50)
    for (X, Y), (EX, EY) in zip(got, expected):
        assert np.array_equal(X, EX) and np.array_equal(Y, EY)


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_state_taken_after_the_last_batch_points_at_the_next_epoch(cls):
    sampler = make(cls)
    it = sampler.epoch()
    for _ in range(len(sampler)):
        next(it)
    saved = sampler.state()
    assert (saved["epoch"], saved["batch"]) == (1, 0)
    assert list(it) == []  # the running generator still ends the epoch normally
    assert sampler.state() == saved


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_resuming_with_other_settings_is_a_usage_error(cls):
    saved = make(cls, seq_len=7).state()
    with pytest.raises(UsageError, match="seq_len"):
        make(cls, seq_len=8).set_state(saved)
    with pytest.raises(UsageError, match="sampler"):
        BpttWindows(batchify(np.arange(100), 4), 5).set_state(saved)


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_text_too_short_for_one_batch_says_how_many_tokens_are_needed(cls):
    with pytest.raises(UsageError) as info:
        make(cls, n=100, seq_len=10, batch_size=16)
    message = str(info.value)
    assert "170" in message and "got 100" in message and "--batch-size" in message
    make(cls, n=170, seq_len=10, batch_size=16)  # exactly enough


@pytest.mark.parametrize("cls", EPOCH_SAMPLERS)
def test_bad_sizes_are_usage_errors(cls):
    with pytest.raises(UsageError, match="--seq-len"):
        make(cls, seq_len=0)
    with pytest.raises(UsageError, match="--batch-size"):
        make(cls, batch_size=-1)


def reference_batchify_and_get_batch(ids, bsz, bptt):
    """pytorch/examples word_language_model, transcribed to NumPy."""
    nbatch = len(ids) // bsz
    data = np.asarray(ids)[: nbatch * bsz].reshape(bsz, -1).T  # narrow, view(bsz, -1).t()
    windows = []
    for i in range(0, data.shape[0] - 1, bptt):
        seq_len = min(bptt, len(data) - 1 - i)
        windows.append((data[i:i + seq_len], data[i + 1:i + 1 + seq_len]))
    return data, windows


@pytest.mark.parametrize("n, bsz, bptt", [(26, 4, 2), (1000, 20, 35), (101, 1, 7), (50, 5, 100)])
def test_batchify_and_bptt_windows_match_the_pytorch_example(n, bsz, bptt):
    ids = np.random.default_rng(n).integers(0, 50, size=n)
    data, windows = reference_batchify_and_get_batch(ids, bsz, bptt)
    ours = batchify(ids, bsz)
    assert ours.shape == (n // bsz, bsz) and ours.dtype == np.int64
    assert np.array_equal(ours, data)
    sampler = BpttWindows(ours, bptt)
    got = list(sampler.epoch())
    assert len(got) == len(sampler) == len(windows)
    for (X, Y), (RX, RY) in zip(got, windows):
        assert np.array_equal(X, RX) and np.array_equal(Y, RY)


def test_batchify_matches_torch_itself():
    torch = pytest.importorskip("torch")
    ids = np.arange(1003)
    t = torch.from_numpy(ids)
    nbatch = t.size(0) // 10
    expected = t.narrow(0, 0, nbatch * 10).view(10, -1).t().contiguous().numpy()
    assert np.array_equal(batchify(ids, 10), expected)


def test_batchify_of_the_alphabet_gives_the_documented_columns():
    data = batchify(np.arange(26), 4)
    assert data.shape == (6, 4)
    assert data[:, 0].tolist() == [0, 1, 2, 3, 4, 5] and data[0].tolist() == [0, 6, 12, 18]


def test_bptt_windows_resume_mid_epoch_and_across_epochs():
    data = batchify(np.arange(1000), 10)  # (100, 10): 15 windows of up to 7
    sampler = BpttWindows(data, 7)
    assert len(sampler) == 15
    for k in [0, 3, 15, 20]:
        fresh = BpttWindows(data, 7)
        take(fresh, k)
        saved = json_round_trip(fresh.state())
        expected = take(fresh, 20)
        resumed = BpttWindows(data, 7)
        resumed.set_state(saved)
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(take(resumed, 20), expected))
    with pytest.raises(UsageError, match="bptt"):
        BpttWindows(data, 8).set_state(saved)


def test_too_short_for_batchify_or_bptt_is_a_usage_error():
    with pytest.raises(UsageError, match="at least 20 tokens.*got 19"):
        batchify(np.arange(19), 10)
    with pytest.raises(UsageError, match="--bptt"):
        BpttWindows(batchify(np.arange(20), 10), 0)


def shards_concatenated(make_sampler, world_size):
    """Batches of each rank, concatenated along the batch axis."""
    per_rank = [list(make_sampler(rank=r, world_size=world_size).epoch()) for r in range(world_size)]
    return [(np.concatenate([b[0] for b in step], axis=1), np.concatenate([b[1] for b in step], axis=1))
            for step in zip(*per_rank)]


@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("name", ["random", "consecutive", "bptt"])
def test_column_shards_of_all_ranks_concatenated_equal_the_full_batch(name, world_size):
    def make_sampler(**kw):
        if name == "bptt":
            return BpttWindows(batchify(np.arange(1000), 8), 9, **kw)
        return make(RandomWindows if name == "random" else ConsecutiveWindows, batch_size=8, rng=5, **kw)

    full = list(make_sampler().epoch())
    sharded = shards_concatenated(make_sampler, world_size)
    assert len(full) == len(sharded)
    for (X, Y), (SX, SY) in zip(full, sharded):
        assert np.array_equal(X, SX) and np.array_equal(Y, SY)
    X0, _ = next(make_sampler(columns=slice(2, 5)).epoch())
    assert np.array_equal(X0, full[0][0][:, 2:5])


def test_a_batch_that_does_not_split_over_the_ranks_is_a_usage_error():
    with pytest.raises(UsageError, match="multiple of 3"):
        make(RandomWindows, batch_size=4, rank=0, world_size=3)
    with pytest.raises(UsageError, match="rank 2"):
        BpttWindows(batchify(np.arange(100), 4), 5, rank=2, world_size=2)


def test_samplers_say_whether_the_caller_carries_the_hidden_state():
    assert not RandomWindows.carries_state
    assert ConsecutiveWindows.carries_state and BpttWindows.carries_state
