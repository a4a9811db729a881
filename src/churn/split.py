"""Repeatable splitting: which side a customer falls on, from its id alone.

Both the data layer (the simulated shifts pick their customers this way) and the
pipeline (the train/test split, and the drift stage's reference rows) use it, so it
lives on the ground floor.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

# NumPy is imported where the hash is computed: the commands that import this
# module answer `--help` without loading it.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def unit_hash(ids: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per id, the same on every machine and run."""
    import numpy as np

    digests = (
        hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8] for i in ids.astype(str)
    )
    return np.fromiter(
        (int.from_bytes(d, "big") / 2**64 for d in digests), "float64", len(ids)
    )


def is_test(ids: pd.Series, *, test_size: float, seed: int) -> np.ndarray:
    """Whether each customer belongs to the test split.

    The side is a function of the customer's id and the seed alone (a hash, the
    "repeatable splitting" pattern), so it never changes as new months arrive: a
    test customer of one month is a test customer of every later month, and a model
    trained on earlier months has never seen any of today's test rows.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    return unit_hash(ids.astype("int64"), f"split:{seed}") < test_size
