"""Room for the last word on a full disk: a small file a writer keeps inside its store and deletes when a write
meets a full disk, so that the status "interrupted: the disk is full" still fits."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["RESERVE_BYTES", "SpaceReserve"]

#: Ten times the root metadata a status write rewrites (6-7 KB in a demo store).
RESERVE_BYTES = 64 * 1024
#: Inside an array's directory, where zarr lists nothing (a stray file in a group's directory is warned about).
PLACES = ("counts", "warmup/step")
NAME = ".space-reserve"


class SpaceReserve:
    """The reserve of the store at ``root``: made by a writer's first write, released on a full disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _places(self) -> list[Path]:
        return [self.root / place for place in PLACES if (self.root / place / "zarr.json").is_file()]

    def make(self) -> bool:
        """Write the reserve unless it is there; whether the store has it now (not before a warm-up store's first
        frames). An OSError of a full disk propagates: nothing else would fit either."""
        places = self._places()
        if not places:
            return False
        if any((place / NAME).is_file() and (place / NAME).stat().st_size == RESERVE_BYTES for place in places):
            return True
        with open(places[0] / NAME, "wb") as f:
            f.write(bytes(RESERVE_BYTES))
            f.flush()
            os.fsync(f.fileno())
        return True

    def release(self) -> bool:
        """Delete the reserve; whether there was one to free."""
        freed = False
        for place in self._places():
            if (place / NAME).exists():
                (place / NAME).unlink()
                freed = True
        return freed
