"""The NumPy adapter's thread pool: fork, interpreter shutdown, calls that share it.

Every scenario that could hang runs with a timeout and, where it needs a process
of its own, in a subprocess of its own session, killed (with whatever it forked)
if it runs past the timeout.  Nothing here measures time: a call either
completes while the pool is deliberately stalled, or the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax import _core
from xpsoftmax.backends.numpy import thread_pool as nb

#: every script starts the same way: a blocked-size input, and its result
#: computed once so that the thread pool exists (with 4 threads whatever the
#: machine, so there are helpers to inherit even on one core), all started
PRELUDE = """
import os, sys, threading
import numpy as np
import xpsoftmax as xs
from xpsoftmax import _core
from xpsoftmax.backends.numpy import thread_pool as nb
nb.n_threads = lambda: 4
x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)  # 4 MiB
want = xs.softmax(x)
assert nb._pool is not None, "the pool should exist before the fork"
# all of its threads started and idle: what a forked child then inherits is a
# pool that believes it has idle threads and so starts none of its own
barrier = threading.Barrier(4)
for f in [nb._pool.submit(barrier.wait, 30) for _ in range(4)]:
    f.result()
import time; time.sleep(0.2)
def check():
    return np.array_equal(xs.softmax(x), want)
"""


def run_script(
    body: str, timeout: float = 120, helpers: str = ""
) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + helpers + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: a timeout kills it and its children
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the script hung (killed after {timeout} s)\n{out}\n{err}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# -- fork and the other start methods ----------------------------------------------------
WAIT_CHILD = """
import signal, time
def wait_child(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_os_fork_child_computes():
    out = run_script(
        """
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = check()
            finally:
                os._exit(0 if ok else 3)
        print("child", wait_child(pid))
        """,
        helpers=WAIT_CHILD,
    )
    assert "child 0" in out.stdout, out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_fork_while_another_thread_is_mid_call():
    # a helper of the parent's call is held inside a block while the parent
    # forks: the child inherits a pool whose threads are busy (and absent)
    out = run_script(
        """
        parent = os.getpid()
        started, release = threading.Event(), threading.Event()
        real = _core.softmax
        def stalled(*args, **kwargs):
            if os.getpid() == parent and threading.current_thread().name.startswith("xpsoftmax"):
                started.set()
                release.wait()
            elif os.getpid() == parent and threading.current_thread() is not threading.main_thread():
                # the call's own thread waits for its helper: else, on a loaded
                # machine, it could finish every block before the helper starts
                started.wait(60)
            return real(*args, **kwargs)
        _core.softmax = stalled
        results = []
        t = threading.Thread(target=lambda: results.append(xs.softmax(x)))
        t.start()
        assert started.wait(60), "the parent's helper never started"
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = check()
            finally:
                os._exit(0 if ok else 3)
        print("child", wait_child(pid))
        release.set()
        t.join(60)
        print("parent", np.array_equal(results[0], want))
        """,
        helpers=WAIT_CHILD,
    )
    assert "child 0" in out.stdout and "parent True" in out.stdout, out


def test_multiprocessing_fork_process():
    # the snippet: a Process target computing in the child
    out = run_script(
        """
        import multiprocessing as mp
        def target():
            sys.exit(0 if check() else 3)
        p = mp.get_context("fork").Process(target=target)
        p.start()
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join()
            print("child hung")
        print("child", p.exitcode)
        """
    )
    assert "child 0" in out.stdout, out


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_pool(method):
    import multiprocessing as mp

    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    out = run_script(
        f"""
        import multiprocessing as mp
        if __name__ == "__main__":
            pool = mp.get_context({method!r}).Pool(2)
            try:
                got = [r.get(timeout=60) for r in
                       [pool.apply_async(xs.softmax, (x,)) for _ in range(2)]]
                print("same", all(np.array_equal(g, want) for g in got))
            finally:
                pool.terminate()
                pool.join()
        """
    )
    assert "same True" in out.stdout, out


def test_torch_dataloader_workers():
    pytest.importorskip("torch")
    out = run_script(
        """
        import torch
        from torch.utils.data import DataLoader, Dataset
        class Softmaxed(Dataset):
            def __len__(self):
                return 4
            def __getitem__(self, i):
                return torch.from_numpy(xs.softmax(x + np.float32(i)))
        loader = DataLoader(Softmaxed(), batch_size=None, num_workers=2, timeout=60,
                            multiprocessing_context="fork")
        got = list(loader)
        print("same", all(np.array_equal(g.numpy(), xs.softmax(x + np.float32(i)))
                          for i, g in enumerate(got)), len(got))
        """,
        timeout=180,
    )
    assert "same True 4" in out.stdout, out


# -- interpreter shutdown ------------------------------------------------------------------
@pytest.mark.parametrize("pool_made", [True, False])
def test_call_from_atexit(pool_made):
    out = run_script(
        f"""
        import atexit
        if not {pool_made}:
            nb._pool = None  # the first blocked call comes at exit
        atexit.register(lambda: print("atexit", check()))
        """
    )
    assert "atexit True" in out.stdout, out


@pytest.mark.parametrize("pool_made", [True, False])
def test_call_from_thread_after_main_returned(pool_made):
    out = run_script(
        f"""
        import time
        if not {pool_made}:
            nb._pool = None
        def late():
            while threading.main_thread().is_alive():
                time.sleep(0.01)
            time.sleep(0.2)  # the pool's own exit hook has run by now
            print("late", check(), flush=True)
        threading.Thread(target=late).start()
        """
    )
    assert "late True" in out.stdout, out


# -- calls sharing the pool ----------------------------------------------------------------
def _finishes(fn, timeout=60):
    """Run ``fn`` in a thread; its result, or fail if it is still running after ``timeout``."""
    results, errors = [], []

    def target():
        try:
            results.append(fn())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"the call did not complete in {timeout} s"
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def two_thread_pool(monkeypatch):
    pool = ThreadPoolExecutor(2, thread_name_prefix="xpsoftmax")
    monkeypatch.setattr(nb, "_pool", pool)
    monkeypatch.setattr(nb, "n_threads", lambda: 2)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


X = np.random.default_rng(1).standard_normal((640, 1024)).astype(np.float32)  # 2.5 MiB


def test_call_completes_while_pool_is_busy_elsewhere(two_thread_pool):
    # every pool thread is held by work that is not ours: the call's helper
    # never starts, and the call must not wait for it
    want = xs.softmax(X, impl="portable")
    release = threading.Event()
    barrier = threading.Barrier(3)
    try:
        for _ in range(2):
            two_thread_pool.submit(lambda: (barrier.wait(), release.wait()))
        barrier.wait(timeout=30)
        got = _finishes(lambda: xs.softmax(X))
    finally:
        release.set()
    np.testing.assert_array_equal(got, want)


def test_call_does_not_wait_behind_other_calls(two_thread_pool, monkeypatch):
    # the scenario: two calls in other threads occupy the pool with
    # their helpers (held here inside a float64 block); a third call must
    # complete with its own thread alone
    big = np.random.default_rng(2).standard_normal((512, 1024))  # float64, 4 MiB
    want_big = xs.softmax(big, impl="portable")
    want = xs.softmax(X, impl="portable")
    real = _core.softmax
    release = threading.Event()
    held = threading.Semaphore(0)

    def stalled(xb, *args, **kwargs):
        if xb.dtype == np.float64:
            if threading.current_thread().name.startswith("xpsoftmax"):
                held.release()
            # the other calls' own threads are held too: else, on a loaded
            # machine, one could finish every block before its helper starts
            release.wait()
        return real(xb, *args, **kwargs)

    monkeypatch.setattr(_core, "softmax", stalled)
    others = [ThreadPoolExecutor(1) for _ in range(2)]
    try:
        futures = [o.submit(xs.softmax, big) for o in others]
        for _ in range(2):
            assert held.acquire(timeout=60), "the other calls' helpers never started"
        got = _finishes(lambda: xs.softmax(X))
    finally:
        release.set()
        for o in others:
            o.shutdown(wait=True)
    np.testing.assert_array_equal(got, want)
    for f in futures:
        np.testing.assert_array_equal(f.result(timeout=60), want_big)


def test_helper_error_reaches_the_caller(two_thread_pool, monkeypatch):
    real = _core.logsumexp
    helper_started = threading.Event()

    def failing(*args, **kwargs):
        if threading.current_thread().name.startswith("xpsoftmax"):
            helper_started.set()
            raise MemoryError("helper failed")
        helper_started.wait(30)  # the caller leaves blocks for the helper
        return real(*args, **kwargs)

    monkeypatch.setattr(_core, "logsumexp", failing)
    big = np.zeros((8192, 1024), np.float32)
    with pytest.raises(MemoryError, match="helper failed"):
        _finishes(lambda: xs.logsumexp(big))
