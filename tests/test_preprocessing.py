"""The pyarrow fast path gives exactly `tokenizer.encode_batch`'s ids, on any text."""

import random
import tarfile

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer, pre_tokenizers

from helpers import REAL_TARBALL, REVIEWS, VARIED_TEXTS
from sentiment_batch import preprocessing
from sentiment_batch.preprocessing import (
    FastEncoder,
    encode,
    encode_ids,
    encode_with_spans,
    flatten,
    load_tokenizer,
)
from sentiment_batch.train.tokenization import train_tokenizer

GOLDEN = [
    *VARIED_TEXTS,
    "Line<br />break<br/>and<br>again<br  />and <BR> <Br/> <br\t/> <br\u00a0/> <b>bold</b> <i>it</i> <brx>",
    "What?!... No way!!! (really) -- \"quoted\" 'single' ... ,,, ;-) :-( <3 $100 50% #1 @you a&b",
    "don't can't it's rock'n'roll o'clock l'amour",
    "1999 3.14 1,000,000 2nd 10/10 007 x2 ²³ ½ ① ⅷ Ⅻ",
    "snake_case __init__ _ __ a_b_c",
    "Café café cafe\u0301 CAFE\u0301 naïve nai\u0308ve Ångström A\u030angstro\u0308m",
    "中文电影很好看。日本語の映画！한국어 영화",
    "فيلم رائع جدا، أنصح به. עברית טובה",
    "बहुत अच्छी फिल्म है। हिन्दी",
    "😀😂👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 #️⃣ a\u200db a\u200cb",
    "ＦＵＬＬ－ＷＩＤＴＨ　ｔｅｘｔ！ １２３ ﾊﾝｶｸ",
    "ﬁlm ﬂow ﬀ ﬃ Ĳ ǅ ㎏ ™ ℃ ℌ 𝐁𝐨𝐥𝐝 𝓈𝒸𝓇𝒾𝓅𝓉",
    "a\u00a0b\u3000c\td\ne\r\nf\u2028g\u2029h\x0bi\x0cj\x85k\u200bl\ufeffm\u180en\x1co",
    "İstanbul I\u0307 ẞ ß Σίσυφος ΣΊΣΥΦΟΣ ΌΣΟΣ ǈ ﬅ",
    "[PAD] [UNK] [pad] x[UNK]y",
    "\u0130",
    "\x00\x01 control \x7f",
    "",
    " ",
    "\t\n\u3000\u00a0",
    "word " * 5000,
    "a" * 20000 + "!" * 3000,
]

PROBES = ["{c}", "a{c}\u0334", "a\u0345{c}", "A{c}b", "<br{c}>", "{c}{c}", "I{c}"]


@pytest.fixture(autouse=True)
def compiled_loops(request):
    """The fast path needs the compiled loops; without them every text goes to `encode_batch` (see the last test)."""
    if preprocessing._token_ids is None and "without_the_compiled_loops" not in request.node.name:
        pytest.skip("the C extension sentiment_batch._token_ids was not built (no C compiler at install)")


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Strings drawn from ASCII, accents, combining marks, scripts, emoji, whitespace and all of Unicode."""
    rng = random.Random(seed)
    pools = [
        "abcXYZ019 _'.,!?<>/-",
        "àéîõüÀÉÎÕÜçÇñÑßẞİıŉǅ",
        "\u0300\u0301\u0307\u0308\u0327\u0334\u0345\u0316\u200d\u200c\ufe0f",
        "中文日本語한국어عربيहिन्दीΣσςΑβγ",
        "😀👍🏽👨🇫🇷❤🏳🌈",
        " \t\n\u00a0\u3000\u2028\u0085\x0b\x1c",
        "ﬁﬂＡＢＣ１２３①Ⅻ㎏™",
    ]

    def char() -> str:
        pool = rng.randrange(len(pools) + 1)
        if pool == len(pools):
            point = rng.randrange(0x110000)
            return chr(point) if not 0xD800 <= point <= 0xDFFF else "x"
        return rng.choice(pools[pool])

    return ["".join(char() for _ in range(rng.randrange(60))) for _ in range(count)]


def real_reviews(count: int) -> list[str]:
    texts = []
    with tarfile.open(REAL_TARBALL) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".txt") and "/train/" in member.name:
                texts.append(tar.extractfile(member).read().decode("utf-8"))
                if len(texts) == count:
                    break
    return texts


def assert_same_as_tokenizers(tokenizer, texts):
    assert FastEncoder.of(tokenizer) is not None
    expected = [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]
    input_ids, offsets = encode(tokenizer, texts)
    assert input_ids.dtype == offsets.dtype == np.int64
    want_ids, want_offsets = flatten(expected)
    np.testing.assert_array_equal(offsets, want_offsets)
    np.testing.assert_array_equal(input_ids, want_ids)
    assert encode_ids(tokenizer, texts) == expected
    # An Arrow column (as the scorer passes Parquet and CSV batches) gives the same ids.
    arrow_ids, arrow_offsets = encode(tokenizer, pa.array(texts, pa.string()))
    np.testing.assert_array_equal(arrow_offsets, want_offsets)
    np.testing.assert_array_equal(arrow_ids, want_ids)
    assert_spans_as_tokenizers(tokenizer, texts)


def assert_spans_as_tokenizers(tokenizer, texts):
    """`encode_with_spans` puts each token where the tokenizers library does (its character offsets, in bytes)."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    expected = []
    for text, encoding in zip(texts, encodings, strict=True):
        byte_at = np.cumsum([0, *(len(char.encode("utf-8")) for char in text)])
        expected += [(byte_at[start], byte_at[end]) for start, end in encoding.offsets]
    encoded = encode_with_spans(tokenizer, texts)
    np.testing.assert_array_equal(encoded.spans, np.array(expected, dtype=np.int64).reshape(-1, 2))
    np.testing.assert_array_equal(encoded.ids, flatten([encoding.ids for encoding in encodings])[0])


@pytest.fixture(scope="module")
def varied_tokenizer():
    """A tokenizer that knows most words of the golden and random texts, so few ids are [UNK]."""
    texts = [text for text, _ in REVIEWS] + GOLDEN + random_texts(3000)
    return train_tokenizer(iter([texts]), vocab_size=100_000, min_frequency=1, length=len(texts))


@pytest.mark.parametrize("which", ["tiny_tokenizer", "varied_tokenizer"])
def test_golden_texts(which, request):
    tokenizer = request.getfixturevalue(which)
    assert_same_as_tokenizers(tokenizer, GOLDEN)
    for text in GOLDEN:  # alone too: batch boundaries must not leak into tokens
        assert_same_as_tokenizers(tokenizer, [text])


def test_random_unicode(varied_tokenizer):
    assert_same_as_tokenizers(varied_tokenizer, random_texts(3000))
    assert_same_as_tokenizers(varied_tokenizer, random_texts(3000, seed=1))


def test_every_character_in_context():
    """Each code point of planes 0, 1 and 14 alone, beside combining marks, in words, in `<br…>`, doubled, after I."""
    texts = [
        " ".join(probe.format(c=chr(point)) for probe in PROBES)
        for point in range(0x110000)
        if not 0xD800 <= point <= 0xDFFF and (point < 0x20000 or 0xE0000 <= point < 0xE1000)
    ]
    tokenizer = train_tokenizer(iter([texts]), vocab_size=2_000_000, min_frequency=1, length=len(texts))
    assert tokenizer.get_vocab_size() > 100_000
    assert_same_as_tokenizers(tokenizer, texts)


def test_empty_batch(tiny_tokenizer):
    assert [array.tolist() for array in encode(tiny_tokenizer, [])] == [[], []]
    assert encode_ids(tiny_tokenizer, []) == []


@pytest.mark.skipif(not REAL_TARBALL.exists(), reason="the IMDb tarball is not in shared/")
def test_real_reviews(varied_tokenizer):
    texts = real_reviews(2000)
    tokenizer = train_tokenizer(iter([texts]), vocab_size=30_000, min_frequency=1, length=len(texts))
    assert_same_as_tokenizers(tokenizer, texts)
    assert_same_as_tokenizers(varied_tokenizer, texts)


def test_other_pipelines_take_the_tokenizers_path(tiny_tokenizer):
    tokenizer = Tokenizer.from_str(tiny_tokenizer.to_str())
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    assert FastEncoder.of(tokenizer) is None
    texts = ["Great film!", "awful, boring"]
    expected = [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert encode_ids(tokenizer, texts) == expected
    np.testing.assert_array_equal(encode(tokenizer, texts)[0], flatten(expected)[0])


def test_a_tokenizer_saved_for_transformers_keeps_the_fast_path(tiny_tokenizer, tmp_path):
    from sentiment_batch.train.tokenization import save_tokenizer

    save_tokenizer(Tokenizer.from_str(tiny_tokenizer.to_str()), tmp_path)
    saved = load_tokenizer(tmp_path)
    assert FastEncoder.of(saved) is not None
    texts = ["A wonderful film!", "", "awful<br />boring"]
    assert encode_ids(saved, texts) == [e.ids for e in saved.encode_batch(texts, add_special_tokens=False)]


def test_vocabulary_lookup_is_exact_around_the_8_and_16_byte_keys():
    # Words that share their length, first 8 and last 8 bytes up to one byte, longer than 16 bytes or not.
    stems = ["abbbbbbbb", "abbbbbbbbb", "abbbbbbbbbb", "x" * 8, "x" * 16, "x" * 17, "y" * 15 + "z", "ü" * 8, "é" * 9]
    known = stems + [word + "q" for word in stems[:4]]
    tokenizer = train_tokenizer(iter([[" ".join(known)]]), vocab_size=100, min_frequency=1, length=1)
    unknown = ["abbbbbbb", "x" * 9, "x" * 18, "y" * 16, "ü" * 7, "zzzzzzzzzzzzzzzzzzzzzz"]
    texts = [" ".join(known), " ".join(unknown), " ".join(reversed(known + unknown))]
    assert_same_as_tokenizers(tokenizer, texts)
    ids = encode_ids(tokenizer, [" ".join(unknown)])[0]
    assert set(ids) == {tokenizer.token_to_id("[UNK]")}


def test_added_tokens_in_the_text_take_the_tokenizers_path(tiny_tokenizer):
    texts = ["good [UNK] film", "plain ascii", "[PAD]", "bad[PAD]movie"]
    assert_same_as_tokenizers(tiny_tokenizer, texts)


def test_line_breaks_never_join_two_texts(tiny_tokenizer):
    texts = ["good<br", " />film", "bad<br", "/>", "<br />", "x", "é<br />é", "<br/>ok<br  >", "<BR>a<br>"]
    assert_same_as_tokenizers(tiny_tokenizer, texts)


def test_nfkc_only_where_it_can_change_the_text(varied_tokenizer):
    # NFKC is skipped on texts whose characters it leaves alone; these need it through composition only.
    texts = ["café e\u0301te\u0301", "\u1100\u1161\u11a8 \ud55c\u11a8 done", "naïve … ½ ﬁn", "plain é ü ñ", "Ω\u0301 ά"]
    assert_same_as_tokenizers(varied_tokenizer, texts)
    for text in texts:
        assert_same_as_tokenizers(varied_tokenizer, [text])


def test_without_the_compiled_loops_every_text_goes_to_the_tokenizers_library(varied_tokenizer, monkeypatch):
    monkeypatch.setattr(preprocessing, "_token_ids", None)
    assert FastEncoder.of(varied_tokenizer) is None
    expected = [encoding.ids for encoding in varied_tokenizer.encode_batch(GOLDEN, add_special_tokens=False)]
    assert encode_ids(varied_tokenizer, GOLDEN) == expected
    input_ids, offsets = encode(varied_tokenizer, pa.array(GOLDEN, pa.string()))
    want_ids, want_offsets = flatten(expected)
    np.testing.assert_array_equal(input_ids, want_ids)
    np.testing.assert_array_equal(offsets, want_offsets)
