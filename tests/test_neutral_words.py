"""The identity and name words a model can be trained to give no weight."""


def test_neutral_words_are_single_lower_case_tokens():
    from sentiment_batch.train.neutral_words import neutral_words
    from sentiment_batch.train.tokenization import new_tokenizer

    words = neutral_words()
    tokenizer = new_tokenizer()
    assert len(words) > 1000 and words == sorted(set(words))
    assert all(
        tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(word)) == [(word, (0, len(word)))]
        for word in words
    )
    assert {"christian", "christians", "ethiopian", "gay", "she", "mohammed", "priya"} <= set(words)
    assert not {"will", "grace", "turkey", "polish", "south", "the", "good", "not"} & set(words)
