"""``kb.open(DIR)``: open a single or a sharded knowledge base alike.

A directory with a ``shards.json`` manifest (``kb build --shards N``) opens as a
:class:`kb.shards.ShardedKnowledgeBase`, any other as a :class:`kb.api.KnowledgeBase`; both
have the same methods and give the same rows for the same inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb.api import KnowledgeBase
from kb.api import open as open_single
from kb.shards import is_sharded, open_sharded, open_single_on_cluster

__all__ = ["open"]


def open(  # noqa: A001 - the public name is kb.open
    path: str | Path, *, client: Any = None, verify: bool = True
) -> KnowledgeBase:
    """Open a knowledge base built by ``kb build`` (read-only, arrays memory-mapped).

    Arguments:
        path: the knowledge-base directory (single or sharded).
        client: a ``distributed.Client``: searches run on its workers, which must read the
            shards at the same path (an unsharded knowledge base is searched as one shard).
        verify: for a sharded knowledge base, check the sha256 of every shard file (sizes and
            presence are always checked).

    Raises:
        KBNotFoundError: the directory does not exist or is not a finished build;
            ``kb.shards.ShardError``: a shard missing, unfinished or corrupt (named).
    """
    if is_sharded(path):
        return open_sharded(path, client=client, verify=verify)
    if client is not None:
        return open_single_on_cluster(path, client)
    return open_single(path)
