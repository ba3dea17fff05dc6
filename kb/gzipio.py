"""Gzip input of the build: detection from the magic bytes and fast decompression.

Flat files are read as gzip by three readers (:mod:`kb.build`, :mod:`kb.flatfile`,
:mod:`kb.shardplan`); decompression is one of the largest costs of a Swiss-Prot build (3.25 GB of
text from a 0.71 GB file). :func:`gzip_reader` decompresses with ISA-L's ``igzip``
(``python-isal``, https://github.com/pycompression/python-isal), about 3x faster than the
standard library's ``zlib`` here and, like it, releasing the GIL while it inflates. Corrupt or
truncated data raises one of :data:`GZIP_ERRORS`.
"""

from __future__ import annotations

import gzip
import zlib
from typing import IO

from isal import igzip, isal_zlib

__all__ = ["GZIP_ERRORS", "GZIP_MAGIC", "gzip_reader"]

#: The first two bytes of a gzip stream.
GZIP_MAGIC = b"\x1f\x8b"

#: What reading a truncated or corrupt gzip stream raises (``igzip`` and ``gzip``).
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile,
                                            isal_zlib.error)


def gzip_reader(fileobj: IO[bytes]) -> IO[bytes]:
    """A binary reader of the decompressed content of the gzip stream ``fileobj``
    (concatenated members too, like :class:`gzip.GzipFile`)."""
    return igzip.IGzipFile(fileobj=fileobj, mode="rb")
