"""The worker plugin of cluster searches: shards opened once per Dask worker, kept open.

Registered by :func:`kb.cluster.register_shard_cache`; tasks reach it through
``get_worker().plugins[ShardCache.name]``.
"""

from __future__ import annotations

import threading
from typing import Any

from distributed import WorkerPlugin

__all__ = ["ShardCache"]


class ShardCache(WorkerPlugin):
    """Worker plugin: shards opened once per worker and kept open across tasks.

    ``opened`` counts the opens per shard directory (a test checks it stays at one).
    """

    name = "psl-kb-shard-cache"

    def __init__(self) -> None:  # sent pickled to the workers: nothing open here
        self._kbs: dict[str, Any] = {}
        self._sizes: dict[tuple[str, ...], Any] = {}
        self._lock: threading.Lock | None = None
        self.opened: dict[str, int] = {}

    def setup(self, worker: Any = None) -> None:
        self._kbs = {}
        self._sizes = {}
        self._lock = threading.Lock()
        self.opened = {}

    def teardown(self, worker: Any = None) -> None:
        for kb in self._kbs.values():
            kb.close()
        self._kbs = {}

    def bucket_sizes(self, shard_dirs: tuple[str, ...]) -> Any:
        """The summed k-mer bucket sizes of these shards (computed once per worker)."""
        if self._lock is None:  # pragma: no cover - setup() always runs first on a worker
            self._lock = threading.Lock()
        with self._lock:
            sizes = self._sizes.get(shard_dirs)
            if sizes is None:
                from kb.shardsearch import summed_bucket_sizes

                sizes = self._sizes[shard_dirs] = summed_bucket_sizes(shard_dirs)
            return sizes

    def get(self, shard_dir: str) -> Any:
        """The open shard at ``shard_dir`` (opened on first use)."""
        if self._lock is None:  # pragma: no cover - setup() always runs first on a worker
            self._lock = threading.Lock()
        with self._lock:
            kb = self._kbs.get(shard_dir)
            if kb is None:
                from kb.api import open as open_kb

                kb = open_kb(shard_dir)
                _ = kb.accessions  # read once here, not concurrently by several tasks
                self._kbs[shard_dir] = kb
                self.opened[shard_dir] = self.opened.get(shard_dir, 0) + 1
            return kb
