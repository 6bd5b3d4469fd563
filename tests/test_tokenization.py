"""The trained tokenizer: its normalization, its files, and the shared encode path."""

import numpy as np
from transformers import AutoTokenizer

from sentiment_batch.preprocessing import encode, encode_ids, flatten, load_tokenizer
from sentiment_batch.train.tokenization import PAD_TOKEN, UNK_TOKEN, save_tokenizer


def test_special_tokens_come_first(tiny_tokenizer):
    assert tiny_tokenizer.token_to_id(PAD_TOKEN) == 0
    assert tiny_tokenizer.token_to_id(UNK_TOKEN) == 1


def test_normalization_html_case_punctuation(tiny_tokenizer):
    [ids] = encode_ids(tiny_tokenizer, ["GREAT<br /><br />Film!"])
    tokens = [tiny_tokenizer.id_to_token(i) for i in ids]
    assert tokens == ["great", "film", "!"]
    assert encode_ids(tiny_tokenizer, ["great<br/>film"]) == encode_ids(tiny_tokenizer, ["Great film"])
    # NFKC folds compatibility forms: full-width letters read as plain ones
    assert encode_ids(tiny_tokenizer, ["ｇｒｅａｔ"]) == encode_ids(tiny_tokenizer, ["great"])


def test_unknown_words_map_to_unk(tiny_tokenizer):
    assert encode_ids(tiny_tokenizer, ["zyzzyva"]) == [[1]]


def test_encode_gives_flat_ids_and_offsets(tiny_tokenizer):
    input_ids, offsets = encode(tiny_tokenizer, ["great film", "", "awful"])
    assert input_ids.dtype == offsets.dtype == np.int64
    assert offsets.tolist() == [0, 2, 2]
    assert input_ids.tolist() == sum(encode_ids(tiny_tokenizer, ["great film", "awful"]), [])


def test_flatten_edge_cases():
    assert [a.tolist() for a in flatten([])] == [[], []]
    assert [a.tolist() for a in flatten([[], []])] == [[], [0, 0]]


def test_saved_tokenizer_loads_with_autotokenizer_and_tokenizers(tiny_tokenizer, tmp_path):
    save_tokenizer(tiny_tokenizer, tmp_path)
    auto = AutoTokenizer.from_pretrained(tmp_path)
    text = "A wonderful film, superb acting!"
    assert auto(text, add_special_tokens=False)["input_ids"] == encode_ids(tiny_tokenizer, [text])[0]
    assert auto.pad_token == PAD_TOKEN and auto.unk_token == UNK_TOKEN
    assert encode_ids(load_tokenizer(tmp_path), [text]) == encode_ids(tiny_tokenizer, [text])


def test_negation_cues_and_scope_ends_are_found_in_the_vocabulary():
    from sentiment_batch.train.tokenization import negation_ids, train_tokenizer

    texts = ["I don't like it, not at all!", "Never again... (no way)", "Nothing good; dont buy"]
    tokenizer = train_tokenizer(iter([texts]), vocab_size=100, min_frequency=1, length=len(texts))
    cues, ends = negation_ids(tokenizer)
    assert sorted(tokenizer.id_to_token(index) for index in cues) == ["dont", "never", "no", "not", "nothing", "t"]
    assert sorted(tokenizer.id_to_token(index) for index in ends) == ["!", "(", ")", ",", "...", ";"]


def test_listed_words_come_last_whether_the_texts_have_them_or_not():
    from sentiment_batch.train.tokenization import train_tokenizer, word_ids

    texts = ["Maria loved the soup", "the soup was cold, said Omar"]
    tokenizer = train_tokenizer(iter([texts]), vocab_size=100, min_frequency=1, length=2, neutral=["omar", "zanele"])
    vocab = tokenizer.get_vocab()
    assert sorted(vocab.values()) == list(range(len(vocab)))  # one id per word, none skipped
    assert [vocab["omar"], vocab["zanele"]] == [len(vocab) - 2, len(vocab) - 1]
    assert vocab[PAD_TOKEN] == 0 and vocab[UNK_TOKEN] == 1 and "maria" in vocab
    assert word_ids(tokenizer, ["zanele", "omar", "nobody"]) == [len(vocab) - 2, len(vocab) - 1]
    assert tokenizer.encode("Zanele and Omar").ids == [len(vocab) - 1, 1, len(vocab) - 2]
