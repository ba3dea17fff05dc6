"""How input text is decoded: UTF-8, with bytes that are not UTF-8 read as Latin-1.

UniProt files are UTF-8, but files edited by hand or exported by older tools may hold Latin-1
(``é`` as the single byte ``0xE9``). Such bytes are never valid UTF-8 next to ASCII, so the
rule is consistent: every valid UTF-8 sequence is UTF-8, every other byte is its Latin-1
character. Nothing is replaced by U+FFFD and no file fails half-way because of one accent.

>>> b"Caf\\xe9 cr\\xc3\\xa8me".decode("utf-8", TEXT_ERRORS)
'Café crème'
"""

from __future__ import annotations

import codecs

__all__ = ["TEXT_ERRORS", "decode"]

#: The ``errors=`` name to pass to ``bytes.decode`` / ``open`` for input text.
TEXT_ERRORS = "kb-latin1-fallback"


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error(TEXT_ERRORS, _latin1_fallback)


def decode(data: bytes) -> str:
    """``data`` as text: UTF-8, other bytes as Latin-1 (see the module docstring)."""
    return data.decode("utf-8", TEXT_ERRORS)
