"""Data files shipped with :mod:`kb` (``location_map.tsv``: see :mod:`kb.locations`)."""
