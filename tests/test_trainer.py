"""The Trainer pieces: collated batches, batches read from Arrow, and the EmbeddingBag class probabilities."""

import torch
from datasets import Dataset

from sentiment_batch.train import SentimentBagConfig, SentimentBagForSequenceClassification
from sentiment_batch.train.trainer import BagCollator, bag_batches, class_probabilities


def test_bag_batches_read_the_selected_rows_in_order():
    dataset = Dataset.from_dict({"input_ids": [[1, 2], [], [3], [4, 5, 6]], "labels": [0, 1, 1, 0]})
    batches = list(bag_batches(dataset.select([3, 0, 2, 1]), batch_size=3))
    assert [(ids.tolist(), offsets.tolist(), labels.tolist()) for ids, offsets, labels in batches] == [
        ([4, 5, 6, 1, 2, 3], [0, 3, 5], [0, 0, 1]),
        ([], [0], [1]),
    ]


def test_soft_labels_are_read_as_class_probabilities():
    dataset = Dataset.from_dict({"input_ids": [[1, 2], [3]], "labels": [[0.25, 0.75], [1.0, 0.0]]})
    [(ids, offsets, labels)] = list(bag_batches(dataset))
    assert labels.dtype == torch.float32 and labels.tolist() == [[0.25, 0.75], [1.0, 0.0]]
    collated = BagCollator()([dataset[0], dataset[1]])
    assert collated["labels"].tolist() == [[0.25, 0.75], [1.0, 0.0]] and collated["offsets"].tolist() == [0, 2]
    assert "labels" not in BagCollator()([{"input_ids": [4]}])  # unlabelled reviews to predict


def test_class_probabilities_agree_with_the_models_own_forward():
    torch.manual_seed(0)
    model = SentimentBagForSequenceClassification(SentimentBagConfig(vocab_size=40, num_buckets=64)).eval()
    model.bag.init_from_naive_bayes(torch.randn(model.config.num_embeddings))
    reviews = [[3, 4, 5, 3, 4], [], [7], list(range(2, 40)) * 3]
    dataset = Dataset.from_dict({"input_ids": reviews})
    probabilities = class_probabilities(model, dataset)
    ids, offsets, _ = next(bag_batches(dataset))
    with torch.no_grad():
        expected = torch.softmax(model(ids, offsets).logits, dim=-1)
    torch.testing.assert_close(torch.from_numpy(probabilities), expected, rtol=1e-5, atol=1e-6)
