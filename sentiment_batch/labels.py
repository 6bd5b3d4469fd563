"""Which class a label value as written stands for: the one rule that `train` and `evaluate` both match labels by.

A value stands for a class named as it is written (surrounding spaces dropped), as binary sentiment (0/1 however
written, neg/pos, negative/positive, any case) or as the whole number it holds (5, 5.0, "5", " 5.0 ": star ratings).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Label values read as binary sentiment, any case, surrounding spaces ignored.
SENTIMENT_IDS = {0: 0, 1: 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
SENTIMENT_NAMES = ("negative", "positive")
WHOLE_NUMBER = re.compile(r"[+-]?\d+(?:\.0*)?")
# The column of labelled reviews that names each one's source: train splits and measures per value, evaluate measures.
SOURCE_COLUMN = "source"


def sentiment_id(value: object) -> int | None:
    """0 (negative) or 1 (positive) when `value` reads as binary sentiment, else None.

    Args:
        value (`object`): a label value as written.
    """
    number = whole_number(value)  # "1" as 1: a CSV cell or a JSON string reads as the number it holds
    key = value.strip().lower() if number is None and isinstance(value, str) else number
    return SENTIMENT_IDS.get(key) if isinstance(key, (int, str)) else None


def whole_number(value: object) -> int | None:
    """The whole number a label stands for (5, 5.0, "5", " 5.0 "), else None.

    Args:
        value (`object`): a label value as written.
    """
    if isinstance(value, str):
        return int(float(value)) if WHOLE_NUMBER.fullmatch(value.strip()) else None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    return None


def written(value: object) -> str:
    """A label value as a class name: a string without its surrounding spaces, anything else as `str` shows it.

    Args:
        value (`object`): a label value as written.
    """
    return value.strip() if isinstance(value, str) else str(value)


def candidate_names(value: object) -> list[str]:
    """The class names a label value may stand for: as written, as sentiment, as a whole number.

    Args:
        value (`object`): a label value as written.
    """
    names = [written(value)]
    if (sentiment := sentiment_id(value)) is not None:
        names.append(SENTIMENT_NAMES[sentiment])
    if (number := whole_number(value)) is not None:
        names.append(str(number))
    return names


def class_id(names: Sequence[str], value: object) -> int | None:
    """The class id of a label value among class names in id order, or None when it stands for none of them.

    Args:
        names (`Sequence[str]`): the class names, e.g. a bundle's labels.
        value (`object`): a label value as written.
    """
    for name in candidate_names(value):
        if name in names:
            return list(names).index(name)
    return None
