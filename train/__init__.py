"""Training side of sentiment-batch: the custom Hugging Face model, its tokenizer, data and Trainer.

`train(dataset=..., output_dir=..., **settings)` is the Python entry point of `sentiment-batch train`.
"""

import contextlib
import io

# transformers prints a notice on stdout when its W&B integration is imported under WANDB_MODE=offline; stdout
# carries the commands' promised output (verify's JSON), so the notice, which no command needs, is dropped.
with contextlib.redirect_stdout(io.StringIO()):
    import transformers.integrations.integration_utils  # noqa: F401

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration import SentimentBagConfig
from .modeling import SentimentBagForSequenceClassification, SentimentBagModel
from .training import train

AutoConfig.register(SentimentBagConfig.model_type, SentimentBagConfig)
AutoModel.register(SentimentBagConfig, SentimentBagModel)
AutoModelForSequenceClassification.register(SentimentBagConfig, SentimentBagForSequenceClassification)
# Saved folders then carry the modeling code and load with trust_remote_code where this package is not installed.
SentimentBagConfig.register_for_auto_class()
SentimentBagModel.register_for_auto_class("AutoModel")
SentimentBagForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = ["SentimentBagConfig", "SentimentBagForSequenceClassification", "SentimentBagModel", "train"]
