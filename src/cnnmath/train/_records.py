"""What training hands back: the History of per-epoch records, and TrainingDiverged,
raised when the loss stops being finite."""

from __future__ import annotations

import json
from typing import Any


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and the batch."""


class History(list):
    """One dict per epoch, in order, with the keys

    - ``epoch`` (1-based), ``lr`` (the learning rate used in that epoch; the first
      parameter group's, where the optimiser has several), ``seconds``;
    - ``loss``: the mean training loss over the epoch's examples (as the loss function
      computes it, on the augmented batches), ``train_accuracy``: the fraction of those
      batches' examples (or, for per-pixel class indices, of their labelled pixels) the model
      classified right *before* each update — None when the targets are not class indices;
      with ``fit(..., mix=...)`` both are on the mixed batches, and an example counts as right
      when the model's class is the argmax of its mixed label (the class with the larger
      share, the lower index on a tie), as torchvision's reference scripts count it;
    - ``val_loss``, ``val_accuracy``: on ``val_data`` after the epoch, None without it (the
      accuracy also None when the targets are not class indices).
    """

    @property
    def epochs(self) -> list[dict[str, Any]]:
        """The records themselves (a list of dicts)."""
        return list(self)

    def to_json(self) -> str:
        """The records as a JSON array."""
        return json.dumps(list(self))

    @classmethod
    def from_json(cls, text: str) -> History:
        """Inverse of ``to_json``."""
        return cls(json.loads(text))
