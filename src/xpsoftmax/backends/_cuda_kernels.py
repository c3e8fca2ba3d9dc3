"""The fused CUDA kernels behind ``impl="auto"`` on CuPy arrays.

The same algorithm as :mod:`xpsoftmax._core` (max shift, log1p form, IEEE
rules for NaN/+inf/-inf slices), in one kernel launch per call over a C-ordered
``(rows, n)`` view: each row is read from device memory once (held in
registers when ``n <= 1024``, one warp per row, else in shared memory, one
block per row) and each output written once, where the array-API code makes
seven or eight passes.  The CUDA source is plain text compiled by CuPy's NVRTC
on first use (per dtype, function and row size class) and cached by CuPy.

Nothing here imports CuPy at module level: this file is read only when a CuPy
array is passed.
"""

from __future__ import annotations

import functools
import math
from typing import Any

#: the widest row held in registers (one warp, up to 32 values per lane)
WARP_MAX_N = 1024
#: rows cached in shared memory up to this many bytes without asking (the
#: default 48 KiB a block may use, less the reduction scratch); longer rows
#: opt in to more where the device has it, and past that are read from
#: global memory three times
SMEM_BYTES = 46 * 1024

_FUNC_CODE = {"softmax": 0, "log_softmax": 1, "logsumexp": 2}


@functools.cache
def cupy_sees_a_device() -> bool:
    """True where CuPy is installed and sees a CUDA device (asked once)."""
    import importlib.util

    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy built for another CUDA, or no driver
        return False


_COMMON = r"""
#define FUNC {func}
typedef {T} T;
__device__ __forceinline__ T xp_exp(T v) {{ return {exp}(v); }}
__device__ __forceinline__ T xp_log1p(T v) {{ return {log1p}(v); }}
/* NVRTC has no <math.h> macros: the bit patterns of +inf and a quiet NaN */
__device__ __forceinline__ T xp_inf() {{ return {inf}; }}
__device__ __forceinline__ T xp_nan() {{ return {nan}; }}

__device__ __forceinline__ T warp_max(T v) {{
    for (int o = 16; o > 0; o >>= 1) {{
        T w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }}
    return v;
}}
__device__ __forceinline__ T warp_sum(T v) {{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}}

/* The per-row constants shared by the three functions, from the row's max m
   (NaN if the row holds one), the sum s of exp(x - shift) for softmax, or of
   exp(x - shift) - [x == m] for the log forms, and the count c of [x == m]. */
struct RowStats {{ T shift; T total; T log_norm; }};

__device__ __forceinline__ RowStats row_stats(T m, T s, T c) {{
    RowStats r;
    r.shift = isfinite(m) ? m : (T)0;
#if FUNC == 0
    /* a row holding +inf: IEEE propagation makes the row NaN */
    r.total = (m == xp_inf()) ? xp_nan() : s;
    r.log_norm = 0;
#else
    r.total = 0;
    if (m == -xp_inf()) {{
        r.log_norm = -xp_inf();  /* a row of only -inf has no mass */
    }} else {{
        r.log_norm = xp_log1p(s + (c - (T)1));
    }}
#if FUNC == 1
    if (m == xp_inf()) r.log_norm = xp_nan();
#endif
#endif
    return r;
}}
"""

_WARP = r"""
/* One warp per row, the row in registers: ITEMS values per lane. */
extern "C" __global__ void xps_warp(const T* __restrict__ x, T* __restrict__ out,
                                    long long rows, int n) {{
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;  /* the whole warp leaves together */
    const T* xr = x + row * (long long)n;
    T v[{items}];
    T m = -xp_inf();
    int nan = 0;
#pragma unroll
    for (int k = 0; k < {items}; ++k) {{
        const int i = lane + 32 * k;
        v[k] = i < n ? xr[i] : -xp_inf();
        nan |= (v[k] != v[k]);
        m = v[k] > m ? v[k] : m;
    }}
    m = warp_max(m);
    if (__any_sync(0xffffffffu, nan)) m = xp_nan();
    const T shift = isfinite(m) ? m : (T)0;
    T s = 0, c = 0;
#pragma unroll
    for (int k = 0; k < {items}; ++k) {{
        if (lane + 32 * k < n) {{
            const T e = xp_exp(v[k] - shift);
#if FUNC == 0
            s += e;
            v[k] = e;
#else
            const T is_max = (v[k] == m) ? (T)1 : (T)0;
            s += e - is_max;
            c += is_max;
#endif
        }}
    }}
    s = warp_sum(s);
#if FUNC != 0
    c = warp_sum(c);
#endif
    const RowStats r = row_stats(m, s, c);
#if FUNC == 2
    if (lane == 0) out[row] = r.shift + r.log_norm;
#else
    T* orow = out + row * (long long)n;
#pragma unroll
    for (int k = 0; k < {items}; ++k) {{
        const int i = lane + 32 * k;
        if (i < n) {{
#if FUNC == 0
            orow[i] = v[k] / r.total;
#else
            orow[i] = (v[k] - r.shift) - r.log_norm;
#endif
        }}
    }}
#endif
}}
"""

_BLOCK = r"""
/* One block per row (grid-stride over rows); the row cached in dynamic shared
   memory when ``cache`` is set, else re-read from global memory. */
__device__ __forceinline__ T block_max(T v, T* red) {{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();  /* red may still be read from the last reduction */
    if (lane == 0) red[w] = v;
    __syncthreads();
    v = threadIdx.x < nw ? red[threadIdx.x] : -xp_inf();
    if (w == 0) v = warp_max(v);
    if (threadIdx.x == 0) red[0] = v;
    __syncthreads();
    return red[0];
}}
__device__ __forceinline__ T block_sum(T v, T* red) {{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    v = threadIdx.x < nw ? red[threadIdx.x] : (T)0;
    if (w == 0) v = warp_sum(v);
    if (threadIdx.x == 0) red[0] = v;
    __syncthreads();
    return red[0];
}}

extern "C" __global__ void xps_block(const T* __restrict__ x, T* __restrict__ out,
                                     long long rows, int n, int cache) {{
    extern __shared__ double smem_raw[];  /* double: aligned for either T */
    T* buf = reinterpret_cast<T*>(smem_raw);
    __shared__ T red[32];
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {{
        const T* xr = x + row * (long long)n;
        T m = -xp_inf();
        int nan = 0;
        /* four independent loads in flight per thread: one at a time leaves
           the memory system half idle (latency-bound, measured on an H100) */
        const int stride = blockDim.x;
        int i = threadIdx.x;
        for (; i + 3 * stride < n; i += 4 * stride) {{
            const T v0 = xr[i], v1 = xr[i + stride], v2 = xr[i + 2 * stride],
                    v3 = xr[i + 3 * stride];
            if (cache) {{
                buf[i] = v0; buf[i + stride] = v1; buf[i + 2 * stride] = v2;
                buf[i + 3 * stride] = v3;
            }}
            nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
            m = v0 > m ? v0 : m; m = v1 > m ? v1 : m;
            m = v2 > m ? v2 : m; m = v3 > m ? v3 : m;
        }}
        for (; i < n; i += stride) {{
            const T v = xr[i];
            if (cache) buf[i] = v;
            nan |= (v != v);
            m = v > m ? v : m;
        }}
        nan = __syncthreads_or(nan);
        m = block_max(m, red);
        if (nan) m = xp_nan();
        const T shift = isfinite(m) ? m : (T)0;
        const T* src = cache ? buf : xr;
        T s = 0, c = 0;
#pragma unroll 4
        for (int i = threadIdx.x; i < n; i += blockDim.x) {{
            const T v = src[i];
            const T e = xp_exp(v - shift);
#if FUNC == 0
            s += e;
#else
            const T is_max = (v == m) ? (T)1 : (T)0;
            s += e - is_max;
            c += is_max;
#endif
        }}
        s = block_sum(s, red);
#if FUNC != 0
        c = block_sum(c, red);
#endif
        const RowStats r = row_stats(m, s, c);
#if FUNC == 2
        if (threadIdx.x == 0) out[row] = r.shift + r.log_norm;
#else
        T* orow = out + row * (long long)n;
#pragma unroll 4
        for (int i = threadIdx.x; i < n; i += blockDim.x) {{
            const T v = src[i];
#if FUNC == 0
            orow[i] = xp_exp(v - shift) / r.total;
#else
            orow[i] = (v - r.shift) - r.log_norm;
#endif
        }}
#endif
        __syncthreads();  /* buf is rewritten by the next row */
    }}
}}
"""

_TYPES = {
    "float32": (
        "float",
        "expf",
        "log1pf",
        "__int_as_float(0x7f800000)",
        "__int_as_float(0x7fc00000)",
    ),
    "float64": (
        "double",
        "exp",
        "log1p",
        "__longlong_as_double(0x7ff0000000000000LL)",
        "__longlong_as_double(0x7ff8000000000000LL)",
    ),
}


def covers(func: str, dtype_name: str) -> bool:
    return func in _FUNC_CODE and dtype_name in _TYPES


@functools.cache
def _sm_count(device_id: int) -> int:
    import cupy

    return int(cupy.cuda.Device(device_id).attributes["MultiProcessorCount"])


def gap(
    func: str,
    shape: tuple[int, ...],
    axes: tuple[int, ...],
    dtype_name: str,
    contiguous: bool,
    masked: bool,
    device_id: int,
) -> str | None:
    """None if the fused kernel serves this call, else why not."""
    nd = len(shape)
    if masked:
        return "a where= mask"
    if axes != tuple(range(nd - len(axes), nd)):
        return f"axes {axes} are not the trailing axes of a {nd}-d array"
    if not contiguous:
        return "the input is not C-contiguous"
    if not covers(func, dtype_name):
        return f"no fused kernel for {func} in {dtype_name}"
    n = math.prod(shape[nd - len(axes) :])
    rows = math.prod(shape[: nd - len(axes)])
    if n >= 2**31:
        return f"rows of {n} elements overflow the kernel's 32-bit index"
    if n > WARP_MAX_N and rows < 2 * _sm_count(device_id):
        # a block per row would leave most of the device idle: the portable
        # code's reductions split long rows over every multiprocessor
        return f"{rows} rows of {n} are too few to fill the device"
    return None


def rows_view(
    func: str, shape: tuple[int, ...], k: int, keepdims: bool
) -> tuple[int, int, tuple[int, ...]]:
    """(rows, n, output shape) for the reduction over the last ``k`` axes."""
    lead = shape[: len(shape) - k]
    rows, n = math.prod(lead), math.prod(shape[len(shape) - k :])
    if func != "logsumexp":
        return rows, n, shape
    return rows, n, lead + (1,) * k if keepdims else lead


def _items(n: int) -> int:
    """Values per lane for the warp kernel: the next power of two >= n / 32."""
    per_lane = -(-n // 32)
    items = 1
    while items < per_lane:
        items *= 2
    return items


@functools.cache
def _kernel(func: str, dtype_name: str, variant: str, items: int) -> Any:
    import cupy

    T, exp, log1p, inf, nan = _TYPES[dtype_name]
    head = _COMMON.format(func=_FUNC_CODE[func], T=T, exp=exp, log1p=log1p, inf=inf, nan=nan)
    body = _WARP.format(items=items) if variant == "warp" else _BLOCK.format()
    name = "xps_warp" if variant == "warp" else "xps_block"
    return cupy.RawKernel(head + body, name, options=("--std=c++14",))


def run_torch(func: str, x: Any, k: int, keepdims: bool) -> Any:
    """The fused kernel on a contiguous CUDA tensor (through CuPy, zero-copy
    DLPack views, on torch's current stream); a new tensor back."""
    import cupy
    import torch

    rows, n, out_shape = rows_view(func, tuple(x.shape), k, keepdims)
    out = torch.empty((rows, n) if func != "logsumexp" else (rows,), dtype=x.dtype, device=x.device)
    stream = torch.cuda.current_stream(x.device).cuda_stream
    with cupy.cuda.Device(x.device.index), cupy.cuda.ExternalStream(stream):
        run(func, cupy.from_dlpack(x.detach().reshape(rows, n)), cupy.from_dlpack(out))
    return out.reshape(out_shape)


_opted: dict[tuple[int, int], int] = {}


def _opt_in(kernel: Any, nbytes: int, device_id: int) -> bool:
    """Let ``kernel`` take ``nbytes`` of dynamic shared memory, beyond the
    default 48 KiB, where the device allows it (227 KiB a block on Hopper);
    False where the row does not fit."""
    import cupy

    key = (id(kernel), device_id)
    if _opted.get(key, 0) >= nbytes:
        return True
    limit = int(cupy.cuda.Device(device_id).attributes["MaxSharedMemoryPerBlockOptin"])
    if nbytes + 1024 > limit:  # the reduction scratch and some slack
        return False
    kernel.max_dynamic_shared_size_bytes = nbytes
    _opted[key] = nbytes
    return True


def run(func: str, x2: Any, out: Any) -> None:
    """Launch the kernel on ``x2`` (C-ordered ``(rows, n)``, n >= 1) into ``out``
    (``(rows, n)`` for softmax/log_softmax, ``(rows,)`` for logsumexp)."""
    import numpy as np

    rows, n = x2.shape
    dtype_name = np.dtype(x2.dtype).name
    if n <= WARP_MAX_N:
        items = _items(n)
        k = _kernel(func, dtype_name, "warp", items)
        warps_per_block = 8
        grid = -(-rows // warps_per_block)
        k((grid,), (32 * warps_per_block,), (x2, out, np.int64(rows), np.int32(n)))
        return
    threads = 256 if n <= 2048 else 512 if n <= 8192 else 1024
    nbytes = n * x2.dtype.itemsize
    k = _kernel(func, dtype_name, "block", 0)
    cache = nbytes <= SMEM_BYTES or _opt_in(k, nbytes, x2.device.id)
    grid = min(rows, 1 << 20)
    k(
        (grid,),
        (threads,),
        (x2, out, np.int64(rows), np.int32(n), np.int32(cache)),
        shared_mem=nbytes if cache else 0,
    )
