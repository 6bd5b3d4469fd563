"""Training the word-level tokenizer and saving it in both `tokenizers` and transformers form."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# Words that negate what follows them, as this tokenizer splits them: "don't" is "don", "'", "t"; reviews also
# write contractions without the apostrophe.
NEGATION_CUES = [
    "not",
    "no",
    "never",
    "nothing",
    "nobody",
    "none",
    "nor",
    "neither",
    "nowhere",
    "without",
    "hardly",
    "barely",
    "cannot",
    "t",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "wasnt",
    "arent",
    "werent",
    "cant",
    "couldnt",
    "wont",
    "wouldnt",
    "shouldnt",
    "havent",
    "hasnt",
    "aint",
]
SCOPE_END = re.compile(r"[.,!?;:()]+")


def new_tokenizer() -> Tokenizer:
    """An untrained tokenizer: HTML line breaks out, NFKC, lower case, words and punctuation runs apart."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"<br\s*/?>"), " "), normalizers.NFKC(), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def train_tokenizer(
    batches: Iterator[list[str]], vocab_size: int, min_frequency: int, length: int, neutral: Sequence[str] = ()
) -> Tokenizer:
    """Train the word vocabulary on the training texts only; ids 0 and 1 are padding and unknown.

    Args:
        batches (`Iterator[list[str]]`): the training texts, in batches.
        vocab_size (`int`): most words learned, special tokens included.
        min_frequency (`int`): fewest occurrences for a word to be kept.
        length (`int`): number of texts, for the progress bar.
        neutral (`Sequence[str]`, *optional*): words that get ids of their own after the learned ones, whether
            the texts have them or not (`with_words_last`).
    """
    tokenizer = new_tokenizer()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=True
    )
    tokenizer.train_from_iterator(batches, trainer=trainer, length=length)
    return with_words_last(tokenizer, neutral) if neutral else tokenizer


def with_words_last(tokenizer: Tokenizer, words: Sequence[str]) -> Tokenizer:
    """The tokenizer with `words` at the last ids, the others keeping their order: a word list the model treats
    apart (`SentimentBagConfig.neutral_token_ids`) is in the vocabulary, however rare in the training texts.

    Args:
        tokenizer (`Tokenizer`): a word-level tokenizer.
        words (`Sequence[str]`): the words, as the tokenizer splits and lower-cases them.
    """
    vocab, listed = tokenizer.get_vocab(), list(dict.fromkeys(words))
    kept = sorted(set(vocab) - set(listed), key=vocab.__getitem__)
    tokenizer.model = models.WordLevel({word: index for index, word in enumerate(kept + listed)}, unk_token=UNK_TOKEN)
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, output_dir: str | Path) -> PreTrainedTokenizerFast:
    """Write `tokenizer.json` and the files `AutoTokenizer.from_pretrained(output_dir)` needs.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        output_dir (`str | Path`): the model folder.
    """
    # The model reads ids and, when padded, the attention mask; token type ids would be an unknown argument.
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(str(output_dir))
    return fast


def negation_ids(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """The ids of the negation cues and of the tokens that end a negation scope (runs of . , ! ? ; : and brackets).

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
    """
    vocab = tokenizer.get_vocab()
    cues = sorted(vocab[word] for word in NEGATION_CUES if word in vocab)
    ends = sorted(index for word, index in vocab.items() if SCOPE_END.fullmatch(word))
    return cues, ends


def word_ids(tokenizer: Tokenizer, words: Sequence[str]) -> list[int]:
    """The sorted ids of those of `words` the tokenizer's vocabulary holds.

    Args:
        tokenizer (`Tokenizer`): the trained tokenizer.
        words (`Sequence[str]`): the words.
    """
    vocab = tokenizer.get_vocab()
    return sorted({vocab[word] for word in words if word in vocab})
