"""The 10 DeepLoc location classes: the one canonical list of the project.

Every module that names a location class imports it from here. User input is matched
case- and separator-insensitively: ``"cell membrane"``, ``"Cell_Membrane"`` and
``"Cell.membrane"`` are all ``Cell.membrane``.
"""

from __future__ import annotations

import re

__all__ = ["LOCATION_CLASSES", "UnknownLocationError", "normalize_class", "class_index"]

LOCATION_CLASSES: tuple[str, ...] = (
    "Nucleus",
    "Cytoplasm",
    "Extracellular",
    "Mitochondrion",
    "Cell.membrane",
    "Endoplasmic.reticulum",
    "Plastid",
    "Golgi.apparatus",
    "Lysosome/Vacuole",
    "Peroxisome",
)

_SEP = re.compile(r"[\s._/\-]+")


def _key(name: str) -> str:
    return _SEP.sub("", name.strip().lower())


_BY_KEY = {_key(c): c for c in LOCATION_CLASSES}
# Common spellings that are not a separator variant of the canonical name.
_BY_KEY.update(
    {
        "plasmamembrane": "Cell.membrane",
        "er": "Endoplasmic.reticulum",
        "golgi": "Golgi.apparatus",
        "lysosome": "Lysosome/Vacuole",
        "vacuole": "Lysosome/Vacuole",
        "lysosomevacuole": "Lysosome/Vacuole",
        "mitochondria": "Mitochondrion",
        "chloroplast": "Plastid",
        "secreted": "Extracellular",
    }
)


class UnknownLocationError(ValueError):
    """A location name that is none of the 10 classes."""

    def __init__(self, value: str, where: str | None = None):
        self.value = value
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(
            f"{prefix}unknown location {value!r} (expected one of: {', '.join(LOCATION_CLASSES)})"
        )


def normalize_class(name: str, where: str | None = None) -> str:
    """Return the canonical class name for ``name``.

    Raises:
        UnknownLocationError: if ``name`` is none of the 10 classes (``where`` is put in
            front of the message, e.g. ``"input.csv, row 12"``).
    """
    if not isinstance(name, str):
        raise UnknownLocationError(repr(name), where)
    found = _BY_KEY.get(_key(name))
    if found is None:
        raise UnknownLocationError(name, where)
    return found


def class_index(name: str) -> int:
    """Index of a class (after normalisation) in :data:`LOCATION_CLASSES`."""
    return LOCATION_CLASSES.index(normalize_class(name))
