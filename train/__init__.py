"""Training side of sentiment-batch: the custom Hugging Face model, its tokenizer, data and Trainer."""

from transformers import AutoConfig, AutoModelForSequenceClassification

from .configuration import SentimentBagConfig
from .modeling import SentimentBagForSequenceClassification

AutoConfig.register(SentimentBagConfig.model_type, SentimentBagConfig)
AutoModelForSequenceClassification.register(SentimentBagConfig, SentimentBagForSequenceClassification)
# Saved folders then carry the modeling code and load with trust_remote_code where train is not installed.
SentimentBagConfig.register_for_auto_class()
SentimentBagForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = ["SentimentBagConfig", "SentimentBagForSequenceClassification"]
