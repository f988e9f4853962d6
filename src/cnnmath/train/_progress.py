"""What the loop shows: a tqdm bar per epoch on stderr (a note once per process when tqdm is
missing) and one line per epoch on stdout."""

from __future__ import annotations

import sys
from typing import Any

#: Said once per process on stderr when progress bars were asked for but tqdm is missing.
_NO_TQDM_NOTE = (
    "note: progress bars need tqdm, which is not installed: "
    'pip install "cnnmath[progress]" (training goes on; epoch lines still print)'
)


_told_no_tqdm = False


def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "batch"):
    """A tqdm bar on stderr counting ``unit``s when ``enabled``; None when not, or when tqdm
    is missing (then ``_NO_TQDM_NOTE`` is printed on stderr, once per process: a bar is
    cosmetic)."""
    global _told_no_tqdm
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if not _told_no_tqdm:
            _told_no_tqdm = True
            print(_NO_TQDM_NOTE, file=sys.stderr, flush=True)
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    width = len(str(epochs))
    line = f"epoch {record['epoch']:{width}d}/{epochs}  loss {record['loss']:.4f}"
    if record["train_accuracy"] is not None:
        line += f"  train acc {record['train_accuracy']:.4f}"
    if record["val_loss"] is not None:
        line += f"  held-out loss {record['val_loss']:.4f}"
        if record["val_accuracy"] is not None:
            line += f"  acc {record['val_accuracy']:.4f}"
    return line + f"  lr {record['lr']:.2e}  {record['seconds']:.1f} s"
