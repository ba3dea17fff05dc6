"""kb.gzipio (ISA-L igzip) against the standard library's gzip, and corrupt input as a
one-line error in every flat-file reader."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest

from kb.build import build
from kb.errors import InputFormatError
from kb.flatfile import parse
from kb.gzipio import gzip_reader
from kb.shardplan import scan_input

SAMPLE = "swissprot/sample_entries.dat.gz"


def test_gzip_reader_equals_stdlib(test_data):
    """Multi-member streams (two files concatenated) and incompressible data alike."""
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
    packed = (test_data / SAMPLE).read_bytes() + gzip.compress(noise, compresslevel=1)
    assert gzip_reader(io.BytesIO(packed)).read() == gzip.decompress(packed)


@pytest.fixture(params=[(100, b"\xff"), (-1, b"\x00")], ids=["invalid-deflate", "bad-crc"])
def corrupt(request, test_data, tmp_path):
    """The sample with 64 bytes of its deflate stream overwritten: near the start (invalid
    deflate data, igzip's own error) or in the middle with zeros (a CRC mismatch)."""
    data = bytearray((test_data / SAMPLE).read_bytes())
    at, fill = request.param
    at = len(data) // 2 if at < 0 else at
    data[at : at + 64] = fill * 64
    path = tmp_path / "corrupt.dat.gz"
    path.write_bytes(bytes(data))
    return path


def test_corrupt_gzip_is_an_input_error_in_every_reader(corrupt, tmp_path):
    with pytest.raises(InputFormatError, match="corrupt.dat.gz: truncated or corrupt gzip"):
        list(parse(corrupt))
    for workers in (1, 2):
        with pytest.raises(InputFormatError, match="corrupt.dat.gz: truncated or corrupt gzip"):
            build([corrupt], tmp_path / f"db{workers}", progress=False, workers=workers)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(InputFormatError, match="corrupt.dat.gz: truncated or corrupt gzip"):
        scan_input(corrupt, "flatfile", staging, "plain")
    assert not (tmp_path / "db1").exists() and not (tmp_path / "db2").exists()
