"""kiln from Python: the C API (libkiln.so) through ctypes, with numpy arrays.

    import numpy as np, kiln
    engine = kiln.Engine()
    engine.load("cable", "unet.onnx", weights="cable.safetensors")   # returns at once
    engine.wait_ready("cable", timeout=30)
    scores = engine.run("cable", image[None, None].astype(np.float32))  # [1,1,H,W] in, scores out
    mask, regions = engine.segment("cable", image)                      # a 2-D image in [0, 1]
    engine.load_weights("cable", "cable_v2.safetensors")               # atomic swap

No compiled extension: the package is this folder. It finds libkiln.so through $KILN_LIBRARY,
then in the build tree of the repository this folder is in (build/libkiln.so), then in the
prefix it is installed in (<prefix>/lib, from <prefix>/share/kiln/python), then the system's
library path. Every failure raises kiln.Error with kiln's own message.
"""
import ctypes
import ctypes.util
import os
from pathlib import Path

import numpy as np

__all__ = ["Engine", "Error", "find_regions", "version", "onednn_version"]

_STATUS = ["ok", "invalid argument", "invalid model", "unsupported", "not found", "io", "internal",
           "unavailable", "deadline exceeded"]
_STATES = ["loading", "preparing", "ready", "failed"]
_PRECISIONS = {"fp32": 0, "bf16": 1, "int8": 2, "auto": 3, "auto-bf16": 4}


class Error(Exception):
    """A kiln call failed: `status` names the kind ("not found", "invalid model", ...)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("rank", ctypes.c_int), ("capacity", ctypes.c_size_t)]


class _Options(ctypes.Structure):
    _fields_ = [("runners", ctypes.c_int), ("cache_dir", ctypes.c_char_p), ("precision", ctypes.c_int),
                ("winograd", ctypes.c_int), ("threads", ctypes.c_int)]


class _LoadSpec(ctypes.Structure):
    _fields_ = [("model", ctypes.c_char_p), ("weights", ctypes.c_char_p), ("height", ctypes.c_int64),
                ("width", ctypes.c_int64)]


class _Memory(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("plans", "models", "plan_bytes", "weight_bytes_resident",
                                                "weight_bytes_mapped", "arena_bytes")]


def _library():
    # OpenMP workers that sleep at once when idle hold up on a shared machine (a busy
    # neighbour slowed U-Net-16 2.1-2.4x with libgomp's spinning, 1.8-1.9x without;
    # BENCHMARKS.md). libgomp reads this once, when it is first loaded: here, unless the
    # process loaded it already or the environment chooses.
    if "GOMP_SPINCOUNT" not in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    candidates = []
    if os.environ.get("KILN_LIBRARY"):
        candidates.append(os.environ["KILN_LIBRARY"])
    here = Path(__file__).resolve().parent
    # A source tree's build/, then an installed prefix (<prefix>/share/kiln/python/kiln -> <prefix>/lib).
    candidates += [str(here.parent.parent / "build" / "libkiln.so"), str(here.parents[3] / "lib" / "libkiln.so")]
    found = ctypes.util.find_library("kiln")
    if found:
        candidates.append(found)
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.sep in c):
            try:
                return ctypes.CDLL(c)
            except OSError:
                continue
    raise ImportError("kiln: cannot find libkiln.so (set KILN_LIBRARY, or build kiln: cmake --build build)")


_lib = _library()
_P = ctypes.c_void_p
for name, args in {
    "kiln_engine_create": [ctypes.POINTER(_Options), ctypes.POINTER(_P)],
    "kiln_load": [_P, ctypes.c_char_p, ctypes.POINTER(_LoadSpec)],
    "kiln_wait_ready": [_P, ctypes.c_char_p, ctypes.c_int64],
    "kiln_model_status": [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)],
    "kiln_model_io": [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)],
    "kiln_run_alloc": [_P, ctypes.c_char_p, ctypes.POINTER(_Tensor), ctypes.c_size_t,
                       ctypes.POINTER(ctypes.POINTER(_Tensor)), ctypes.POINTER(ctypes.c_size_t)],
    "kiln_load_weights": [_P, ctypes.c_char_p, ctypes.c_char_p],
    "kiln_unload": [_P, ctypes.c_char_p],
    "kiln_export_pack": [_P, ctypes.c_char_p, ctypes.c_char_p],
    "kiln_memory": [_P, ctypes.POINTER(_Memory)],
}.items():
    f = getattr(_lib, name)
    f.argtypes = args
    f.restype = ctypes.c_int
_lib.kiln_engine_destroy.argtypes = [_P]
_lib.kiln_engine_destroy.restype = None
_lib.kiln_free_tensors.argtypes = [ctypes.POINTER(_Tensor), ctypes.c_size_t]
_lib.kiln_free_tensors.restype = None
for name in ("kiln_last_error", "kiln_version", "kiln_onednn_version"):
    getattr(_lib, name).restype = ctypes.c_char_p
    getattr(_lib, name).argtypes = []


def _check(status):
    if status != 0:
        kind = _STATUS[status] if 0 <= status < len(_STATUS) else f"status {status}"
        raise Error(kind, _lib.kiln_last_error().decode(errors="replace"))


def _bytes(s):
    return None if s is None else os.fsencode(s)


def version():
    return _lib.kiln_version().decode()


def onednn_version():
    return _lib.kiln_onednn_version().decode()


class Engine:
    """Models prepared in the background, one plan per architecture, weights swapped hot."""

    def __init__(self, runners=1, cache_dir=None, precision="fp32", winograd=False, threads=0):
        if precision not in _PRECISIONS:
            raise Error("invalid argument", f"precision is one of {sorted(_PRECISIONS)}, not {precision!r}")
        opt = _Options(runners, _bytes(cache_dir), _PRECISIONS[precision], int(bool(winograd)), int(threads))
        self._e = _P()
        _check(_lib.kiln_engine_create(ctypes.byref(opt), ctypes.byref(self._e)))

    def close(self):
        """Finishes background preparation and frees the engine (also on garbage collection)."""
        if getattr(self, "_e", None):
            _lib.kiln_engine_destroy(self._e)
            self._e = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _engine(self):
        if not self._e:
            raise Error("invalid argument", "the engine is closed")
        return self._e

    def load(self, name, model, weights=None, height=0, width=0):
        """Starts preparing `name` from a model file (and weights); returns at once."""
        spec = _LoadSpec(_bytes(str(model)), _bytes(None if weights is None else str(weights)), height, width)
        _check(_lib.kiln_load(self._engine(), name.encode(), ctypes.byref(spec)))

    def wait_ready(self, name, timeout=60.0):
        """Waits until `name` is ready; raises kiln.Error with the reason if it failed."""
        _check(_lib.kiln_wait_ready(self._engine(), name.encode(), int(timeout * 1000)))

    def status(self, name):
        """(state, progress): state is loading, preparing, ready or failed; progress 0..1."""
        state, progress = ctypes.c_int(), ctypes.c_double()
        _check(_lib.kiln_model_status(self._engine(), name.encode(), ctypes.byref(state), ctypes.byref(progress)))
        return _STATES[state.value], progress.value

    def run(self, name, *inputs):
        """Runs `name` on float32 arrays in the model's layout; one array per output (a single
        output comes back as the array itself)."""
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        shapes = [(ctypes.c_int64 * a.ndim)(*a.shape) for a in arrays]
        tensors = (_Tensor * len(arrays))(*[
            _Tensor(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), s, a.ndim, a.size) for a, s in zip(arrays, shapes)])
        out, count = ctypes.POINTER(_Tensor)(), ctypes.c_size_t()
        _check(_lib.kiln_run_alloc(self._engine(), name.encode(), tensors, len(arrays), ctypes.byref(out),
                                   ctypes.byref(count)))
        try:
            results = []
            for i in range(count.value):
                t = out[i]
                shape = tuple(t.shape[k] for k in range(t.rank))
                results.append(np.ctypeslib.as_array(t.data, shape=(t.capacity,)).copy().reshape(shape))
        finally:
            _lib.kiln_free_tensors(out, count)
        return results[0] if len(results) == 1 else results

    def segment(self, name, image, threshold=0.5, min_area=12):
        """A single-channel image (2-D array: uint8 0..255, or float in [0, 1]) through a
        segmentation model: (mask as a bool array, regions as dicts with box, area, mean_score)."""
        x = np.asarray(image)
        if x.ndim != 2:
            raise Error("invalid argument", f"segment takes a 2-D grey image, not shape {x.shape}")
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        scores = np.asarray(self.run(name, x[None, None])).reshape(x.shape)
        return scores >= threshold, find_regions(scores, threshold, min_area)

    def load_weights(self, name, path):
        """Replaces the weights atomically; on any mismatch the old weights keep serving."""
        _check(_lib.kiln_load_weights(self._engine(), name.encode(), _bytes(str(path))))

    def unload(self, name):
        _check(_lib.kiln_unload(self._engine(), name.encode()))

    def export_pack(self, name, path):
        """Writes the model's packed weights as a weight pack (.kwp)."""
        _check(_lib.kiln_export_pack(self._engine(), name.encode(), _bytes(str(path))))

    def memory(self):
        m = _Memory()
        _check(_lib.kiln_memory(self._engine(), ctypes.byref(m)))
        return {n: getattr(m, n) for n, _ in _Memory._fields_}


def find_regions(scores, threshold=0.5, min_area=12):
    """Connected regions (8-connectivity) of scores >= threshold with at least min_area pixels,
    in scan order, as kiln's own region finder: [{box: (x0, y0, x1, y1), area, mean_score}]."""
    s = np.asarray(scores, dtype=np.float32)
    over = s >= threshold
    seen = np.zeros(s.shape, dtype=bool)
    h, w = s.shape
    regions = []
    for start in np.flatnonzero(over):
        y, x = divmod(int(start), w)
        if seen[y, x]:
            continue
        seen[y, x] = True
        stack, pixels = [(y, x)], []
        while stack:
            cy, cx = stack.pop()
            pixels.append((cy, cx))
            for ny in range(max(cy - 1, 0), min(cy + 2, h)):
                for nx in range(max(cx - 1, 0), min(cx + 2, w)):
                    if over[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        if len(pixels) >= min_area:
            ys, xs = zip(*pixels)
            regions.append({"box": (min(xs), min(ys), max(xs), max(ys)), "area": len(pixels),
                            "mean_score": float(np.mean([s[p] for p in pixels]))})
    return regions
