"""Training the word-level tokenizer and saving it in both `tokenizers` and transformers form."""

from __future__ import annotations

import re
from collections.abc import Iterator
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


def train_tokenizer(batches: Iterator[list[str]], vocab_size: int, min_frequency: int, length: int) -> Tokenizer:
    """Train the word vocabulary on the training texts only; ids 0 and 1 are padding and unknown.

    Args:
        batches (`Iterator[list[str]]`): the training texts, in batches.
        vocab_size (`int`): most words kept, special tokens included.
        min_frequency (`int`): fewest occurrences for a word to be kept.
        length (`int`): number of texts, for the progress bar.
    """
    tokenizer = new_tokenizer()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=True
    )
    tokenizer.train_from_iterator(batches, trainer=trainer, length=length)
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
