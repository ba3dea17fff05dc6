"""The Dask side of a sharded knowledge base: connect, keep shards open on workers, fan out.

* :func:`connect` / :func:`cluster_client`: ``local`` or ``local:W`` starts a
  ``LocalCluster`` of W worker processes (default 2) on this machine; anything else is a
  scheduler address (``tcp://host:8786``), reached within a short timeout or a one-line
  :class:`SchedulerError`.
* :class:`kb.shardcache.ShardCache`, a ``distributed.WorkerPlugin``: each worker opens
  (memory-maps) a shard the first time a task needs it and keeps it open for all later
  tasks; a worker started later (or restarted after a crash) gets the plugin too.
* :func:`search_on_cluster`: the distinct peptides (validated and de-duplicated once, on the
  client) are cut into chunks (each sent once; a task per chunk chooses their k-mer anchors),
  every (shard, chunk) pair is one task returning an Arrow table; tasks are pure functions
  of their inputs, so Dask can rerun the tasks of a worker that died on another worker, and
  the client merges only the final results: no row is lost or duplicated.
* :func:`run_tasks`: the shard builds of ``kb build --shards N --scheduler ...``.

Dask rather than Ray: see ``docs/scale.md``. Importing this module does not import Dask; the
functions that need it do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from kb.errors import KBError
from kb.peptides import PeptideBatch

__all__ = [
    "SchedulerError",
    "connect",
    "cluster_client",
    "register_shard_cache",
    "search_on_cluster",
    "run_tasks",
]

#: Seconds to wait for a remote scheduler before giving up.
CONNECT_TIMEOUT = 5.0
#: Worker processes of ``--scheduler local``.
DEFAULT_LOCAL_WORKERS = 2


class SchedulerError(KBError):
    """A Dask scheduler that cannot be reached, or a bad ``--scheduler`` value."""


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise SchedulerError(
            "--scheduler needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    return distributed


def _local_workers(scheduler: str) -> int | None:
    """W of ``local`` / ``local:W`` (None when ``scheduler`` is an address)."""
    if scheduler == "local":
        return DEFAULT_LOCAL_WORKERS
    if scheduler.startswith("local:"):
        value = scheduler.split(":", 1)[1]
        if not value.isdigit() or int(value) < 1:
            raise SchedulerError(f"--scheduler local:W needs a worker count >= 1, got {value!r}")
        return int(value)
    return None


def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` for ``scheduler`` (see the module docstring).

    A local cluster is closed with the client (:func:`cluster_client` does both).

    Raises:
        SchedulerError: a bad value, or no scheduler answering within ``timeout`` seconds.
    """
    distributed = _import_distributed()
    scheduler = scheduler.strip()
    workers = _local_workers(scheduler)
    if workers is not None:
        # No Dask memory limit: a worker's RSS counts the pages of the shards it has
        # memory-mapped (file pages the kernel reclaims on its own), so the nanny's limit
        # would pause or kill healthy workers that search large shards.
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=":0",
                                           memory_limit=0)
        client = distributed.Client(cluster)
        client._psl_local_cluster = cluster  # closed by close_client
        return client
    if not scheduler:
        raise SchedulerError("--scheduler is empty (expected ADDRESS, local or local:W)")
    try:
        return distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({reason})"
        ) from None


def close_client(client: Any) -> None:
    """Close a client from :func:`connect` (and its local cluster)."""
    cluster = getattr(client, "_psl_local_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


@contextmanager
def cluster_client(scheduler: str | None) -> Iterator[Any]:
    """``with cluster_client(ADDRESS or None) as client:`` (None yields None: no cluster)."""
    if scheduler is None:
        yield None
        return
    client = connect(scheduler)
    try:
        yield client
    finally:
        close_client(client)


def register_shard_cache(client: Any) -> None:
    """Install :class:`ShardCache` on every worker of ``client`` (and on later ones)."""
    _import_distributed()
    from kb.shardcache import ShardCache

    have = client.run(lambda dask_worker: ShardCache.name in dask_worker.plugins)
    if have and all(have.values()):
        return  # registered earlier: keep the shards the workers already opened
    client.register_plugin(ShardCache(), name=ShardCache.name)


def _shard_cache() -> Any:
    from distributed import get_worker

    from kb.shardcache import ShardCache

    return get_worker().plugins[ShardCache.name]


def _worker_numba_threads() -> None:
    """Numba kernels of a task use as many threads as the worker has task threads (numba's
    setting is per calling thread): two 1-thread workers on 2 cores run 2 kernel threads, not
    4 competing ones."""
    import numba
    from distributed import get_worker

    numba.set_num_threads(max(1, min(get_worker().state.nthreads,
                                     numba.config.NUMBA_NUM_THREADS)))


def _chunk_task(peptides: Any, shard_dirs: tuple[str, ...], k: int,
                anchored: bool) -> tuple[Any, Any]:
    """A chunk of distinct peptides with their k-mer anchors, chosen on a worker from the
    whole knowledge base's bucket sizes (once per chunk, for all shards)."""
    _worker_numba_threads()
    if not anchored:
        return peptides, None
    from kb.index import choose_anchors

    sizes = _shard_cache().bucket_sizes(shard_dirs)
    return peptides, choose_anchors(k, sizes, peptides.buf, peptides.offsets)


def _search_task(shard_dir: str, chunk: tuple[Any, Any], options: dict[str, Any]) -> pa.Table:
    """One (shard, chunk) search on a worker (pure: a rerun gives the same rows)."""
    from kb.shardsearch import search_shard

    _worker_numba_threads()
    peptides, anchors = chunk
    return search_shard(_shard_cache().get(shard_dir), peptides, anchors, **options)


def submit_search(client: Any, shard_dirs: Sequence[str], batch: PeptideBatch, k: int,
                  options: dict[str, Any], chunk_size: int) -> list[list[Any]]:
    """Submit every (shard, chunk) search task; per shard, the futures in chunk order.

    A chunk is ``chunk_size`` of the batch's distinct peptides (validated once, on the
    client); one task per chunk chooses their k-mer anchors (``k``: the knowledge base's
    k-mer length), which every shard's task of that chunk then uses.
    """
    if chunk_size < 1:
        raise KBError(f"chunk size must be >= 1, got {chunk_size}")
    starts = list(range(0, batch.n_unique, chunk_size))
    run = uuid.uuid4().hex[:12]
    dirs = tuple(str(d) for d in shard_dirs)
    anchored = options.get("mismatches") is None
    # A chunk is the result of a task (not scattered data): a worker that dies with it loses
    # nothing, the scheduler recomputes it from the task's arguments.
    chunks = [client.submit(_chunk_task, batch.distinct(s, s + chunk_size), dirs, k, anchored,
                            key=f"kb-peptides-{run}-{c}")
              for c, s in enumerate(starts)]
    return [
        [client.submit(_search_task, d, chunk, options, key=f"kb-search-{run}-{i}-{c}")
         for c, chunk in enumerate(chunks)]
        for i, d in enumerate(dirs)
    ]


def gather_search(client: Any, futures: list[list[Any]]) -> list[pa.Table]:
    """Per shard, its chunks' rows concatenated in chunk order."""
    flat = client.gather([f for per_shard in futures for f in per_shard])
    out, i = [], 0
    for per_shard in futures:
        parts = flat[i : i + len(per_shard)]
        i += len(per_shard)
        out.append(pa.concat_tables(parts))
    return out


def search_on_cluster(client: Any, shard_dirs: Sequence[str], batch: PeptideBatch, k: int,
                      options: dict[str, Any], chunk_size: int = 20_000) -> list[pa.Table]:
    """Search the distinct peptides of ``batch`` in every shard on the cluster (see the module
    docstring).

    Returns:
        Per shard, the :data:`kb.shardsearch.SHARD_COLUMNS` rows (``query`` = index among the
        batch's distinct peptides), as :func:`kb.shardsearch.merge_shard_rows` takes them.
    """
    return gather_search(client, submit_search(client, shard_dirs, batch, k, options,
                                               chunk_size))


def run_tasks(client: Any, func: Callable[..., Any], arguments: Sequence[tuple],
              on_done: Callable[[], None] | None = None, prefix: str = "kb-task") -> list[Any]:
    """``func(*args)`` for every tuple of ``arguments`` on the cluster; results in order.

    The first task that fails raises its exception here (the others are cancelled).
    """
    from distributed import as_completed

    run = uuid.uuid4().hex[:12]
    futures = [client.submit(func, *args, key=f"{prefix}-{run}-{i}")
               for i, args in enumerate(arguments)]
    try:
        for future in as_completed(futures):
            future.result()  # raises the task's exception
            if on_done is not None:
                on_done()
    except BaseException:
        client.cancel(futures)
        raise
    return client.gather(futures)
