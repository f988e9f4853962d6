"""predict's progress bar on stderr, started only once the first outputs are printed."""

from __future__ import annotations

from typing import Any


class _LateBar:
    """predict's progress bar on stderr (``train._progress_bar``), shown from the first
    outputs printed on: the checks against them (--labels, --top, --masks) and a model that
    does not fit the images stop a run before any bar, so such a run prints its error
    alone."""

    def __init__(self, total: int, unit: str, enabled: bool) -> None:
        self.total, self.unit, self.enabled = total, unit, enabled
        self.bar: Any = None

    def update(self) -> None:
        """One more batch (or image) done: the bar started at the first."""
        if self.bar is None and self.enabled:
            from ...train import _progress_bar

            self.enabled = False  # asked once: tqdm may be missing
            self.bar = _progress_bar(self.total, "predict", enabled=True, unit=self.unit)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
