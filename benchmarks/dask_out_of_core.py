"""Out-of-core softmax with Dask: an array several times larger than the memory given.

The input is generated lazily (``dask.array.random``), never materialized;
softmax runs along a chunked axis (each slice spans several chunks, so Dask's
tree reductions carry the slice max and sum across chunks); the result is then
reduced again (its sum along the same axis, which must be 1 everywhere) or
written to a Zarr store and read back for that sum.

By default the work runs on a ``distributed.LocalCluster`` whose workers have
a hard memory limit with spilling to disk switched off: a worker that went
over would be killed and the run would fail, so finishing is itself the proof
that memory stayed bounded by the chunks.  A sampling thread records the
peak resident memory (RSS) of every worker process and of this process.

    python benchmarks/dask_out_of_core.py                     # 16 GiB, 2 workers x 1.5 GiB
    python benchmarks/dask_out_of_core.py --gib 2 --zarr /tmp/sm.zarr
    python benchmarks/dask_out_of_core.py --scheduler threads # one process, 2 threads
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import os
import platform
import shutil
import threading
import time
from typing import Any

import numpy as np


class PeakRSS:
    """Sample the summed RSS of a set of processes every ``interval`` seconds."""

    def __init__(self, pids: list[int], interval: float = 0.05) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.peak_total = 0
        self.peak_each = [0] * len(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for i, p in enumerate(self.procs):
                try:
                    rss = p.memory_info().rss
                except psutil.Error:  # a worker restarting: count it as 0
                    rss = 0
                self.peak_each[i] = max(self.peak_each[i], rss)
                total += rss
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The lazy input and its lazy softmax along ``args.axis``."""
    import dask.array as da

    import xpsoftmax as xs

    n_cols = args.cols
    n_rows = int(args.gib * 2**30 / 4 / n_cols)
    n_rows -= n_rows % args.chunk_rows
    x = da.random.default_rng(args.seed).standard_normal(
        (n_rows, n_cols), dtype=np.float32, chunks=(args.chunk_rows, args.chunk_cols)
    )
    return x, xs.softmax(x * np.float32(args.scale), axis=args.axis)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import dask
    import dask.array as da

    x, y = build(args)
    info: dict[str, Any] = {
        "array": f"{x.shape} float32 = {gib(x.nbytes)}",
        "chunks": f"{x.chunksize} = {gib(x.dtype.itemsize * math.prod(x.chunksize))} each, "
        f"{x.npartitions} chunks, {x.numblocks[args.axis]} along axis {args.axis}",
        "graph": f"{len(y.__dask_graph__())} tasks before optimization",
    }
    client = cluster = None
    try:
        if args.scheduler == "distributed":
            import distributed

            cfg = {
                # no spilling, no way out: going over the limit kills the worker
                "distributed.worker.memory.target": False,
                "distributed.worker.memory.spill": False,
                "distributed.worker.memory.pause": 0.85,
                "distributed.worker.memory.terminate": 0.98,
            }
            dask.config.set(cfg)
            cluster = distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=args.memory_limit,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster)
            pids = [os.getpid(), *client.run(os.getpid).values()]
            given = args.workers * dask.utils.parse_bytes(args.memory_limit)
            info["workers"] = (
                f"{args.workers} processes x 1 thread, memory_limit {args.memory_limit} each "
                f"(spilling off): {gib(given)} given"
            )
        else:
            dask.config.set(scheduler="threads", num_workers=args.workers)
            pids = [os.getpid()]
            given = None
            info["workers"] = f"1 process, {args.workers} threads (threaded scheduler)"

        with PeakRSS(pids) as mem:
            t0 = time.perf_counter()
            if args.zarr:
                shutil.rmtree(args.zarr, ignore_errors=True)
                da.to_zarr(y, args.zarr)
                t_write = time.perf_counter() - t0
                y = da.from_zarr(args.zarr)
            sums = y.sum(axis=args.axis, dtype=np.float64)
            sums = sums.compute() if client is None else client.compute(sums).result()
            wall = time.perf_counter() - t0
        info["wall time"] = f"{wall:.1f} s" + (
            f" ({t_write:.1f} s writing Zarr, then reading it back for the sum)"
            if args.zarr
            else ""
        )
        info["throughput"] = f"{x.nbytes / 2**30 / wall:.2f} GiB/s of input"
        info["peak RSS"] = f"{gib(mem.peak_total)} summed over processes" + (
            f" (this process {gib(mem.peak_each[0])}, workers "
            + ", ".join(gib(v) for v in mem.peak_each[1:])
            + ")"
            if len(pids) > 1
            else ""
        )
        if given is not None:
            info["array / memory given"] = f"{x.nbytes / given:.1f}x"
        info["array / peak RSS"] = f"{x.nbytes / mem.peak_total:.1f}x"
        info["check"] = f"max |sum of each softmax slice - 1| = {np.max(np.abs(sums - 1)):.2e}"
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        if args.zarr and not args.keep:
            shutil.rmtree(args.zarr, ignore_errors=True)
    info["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{gib(__import__('psutil').virtual_memory().total)} RAM, {datetime.date.today()}"
    )
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gib", type=float, default=16.0, help="logical array size (default 16)")
    p.add_argument("--cols", type=int, default=2**16)
    p.add_argument("--chunk-rows", type=int, default=8192)
    p.add_argument("--chunk-cols", type=int, default=1024)
    p.add_argument("--axis", type=int, default=0, help="0 spans chunks (default); 1 within")
    p.add_argument("--scale", type=float, default=4.0, help="x = scale * N(0, 1)")
    p.add_argument("--scheduler", choices=["distributed", "threads"], default="distributed")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="1.5GiB", help="per worker (distributed)")
    p.add_argument("--zarr", default=None, help="write the softmax to this Zarr store first")
    p.add_argument("--keep", action="store_true", help="keep the Zarr store")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for k, v in run(args).items():
        print(f"{k:>22}: {v}")


if __name__ == "__main__":
    main()
