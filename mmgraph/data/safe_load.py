"""Reading `.npy` and `.pt` files without letting them run code.

The MMGCN / MetaMMF formats store dicts and ragged lists as pickled numpy object arrays, and
unpickling runs whatever the file asks for.  :func:`load_npy` reads plain arrays with
``allow_pickle=False`` and object arrays through :class:`RestrictedUnpickler`, which builds only
plain containers, numbers, strings and numpy arrays.  :func:`load_pt` uses
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import builtins
import codecs
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from mmgraph.errors import DataError, UnsafeFileError, short_message


def _numpy_global(name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; resolve directly so old pickles neither fail nor
    # trigger numpy's deprecation shim.
    module, attr = name.rsplit(".", 1)
    for candidate in (module.replace("numpy.core", "numpy._core"), module):
        try:
            mod = __import__(candidate, fromlist=[attr])
            return getattr(mod, attr)
        except (ImportError, AttributeError):
            continue
    return None


_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "set",
        "frozenset",
        "list",
        "dict",
        "tuple",
        "int",
        "float",
        "complex",
        "bool",
        "str",
        "bytes",
        "bytearray",
        "range",
        "slice",
    )
}

# (module, name) -> object: everything a numpy-saved dict / ragged list of ids may reference.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _name, _obj in _BUILTINS.items():
    _ALLOWED[("builtins", _name)] = _obj
    _ALLOWED[("__builtin__", _name)] = _obj  # pickles written by Python 2
for _module, _attr in (
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
):
    _obj = _numpy_global(f"numpy.core.{_module}.{_attr}")
    if _obj is not None:  # pickles name numpy.core (numpy 1) or numpy._core (numpy 2)
        _ALLOWED[(f"numpy.core.{_module}", _attr)] = _ALLOWED[(f"numpy._core.{_module}", _attr)] = (
            _obj
        )
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
# Python-3 pickles of bytes at protocol 2 go through _codecs.encode(str, 'latin1').
_ALLOWED[("_codecs", "encode")] = codecs.encode


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only plain containers, numbers and numpy arrays.

    Any other global (``os.system``, ``builtins.eval``, a class of some package ...) raises
    :class:`~mmgraph.errors.UnsafeFileError` before it can be called.
    """

    def __init__(self, file, *, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafeFileError(
                f"{self.source}: refused to load, the pickle references '{module}.{name}', which "
                "is not a plain container or numpy array; only load this file if you trust it "
                "and convert it to a plain .npy array first"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError(
            f"{self.source}: refused to load, pickle uses persistent ids; convert it to a "
            "plain .npy array where you trust it"
        )


class _Bounded:
    """A file whose reads never ask for more than it holds: a pickle that declares a frame or
    string larger than its file fails as truncated instead of allocating the declared size."""

    def __init__(self, f):
        self.f, self.left = f, os.fstat(f.fileno()).st_size - f.tell()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(self.left if n is None or n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readinto(self, buffer) -> int:
        with memoryview(buffer) as view, view.cast("B") as flat, flat[: self.left] as part:
            n = self.f.readinto(part)  # views released at once: the unpickler may free the buffer
        self.left -= n
        return n

    def readline(self) -> bytes:
        line = self.f.readline()
        self.left -= len(line)
        return line


def _unpickle(f, path: Path) -> Any:
    """The rest of the open file ``f`` through :class:`RestrictedUnpickler`, reads bounded."""
    try:
        return RestrictedUnpickler(_Bounded(f), source=str(path)).load()
    except MemoryError:  # e.g. BYTEARRAY8 allocates its declared size before reading it
        raise DataError(
            f"{path}: the pickle in it declares more data than memory holds; the file is "
            "damaged (or too large for this machine), so re-create or re-download it"
        ) from None


def load_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` (a raw pickle file) with :class:`RestrictedUnpickler`."""
    path = Path(path)
    with _reading(path):
        with open(path, "rb") as f:
            return _unpickle(f, path)


class _reading:
    """Turn any failure while parsing ``path`` into a one-line :class:`DataError`."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, DataError):
            return False
        if isinstance(exc, FileNotFoundError):
            raise DataError(f"{self.path}: file not found") from exc
        if isinstance(exc, MemoryError) or not isinstance(exc, Exception):
            return False
        raise DataError(
            f"{self.path}: cannot read this file ({type(exc).__name__}: {short_message(exc)}); it may be "
            "truncated or in another format, so re-create or re-download it"
        ) from exc


def load_npy(path: str | Path, *, mmap: bool = False) -> Any:
    """Load a ``.npy`` file; object arrays (pickled dicts / ragged lists) are unpickled safely.

    Returns an ``np.ndarray``.  A pickled dict saved with ``np.save`` comes back as a 0-d object
    array (use ``.item()``), a ragged list as a 1-d object array.  ``mmap`` memory-maps plain
    numeric arrays instead of reading them into memory.
    """
    path = Path(path)
    with _reading(path):
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npy_format.read_array_header_2_0(f)
            if dtype.hasobject:
                obj = _unpickle(f, path)
                if not isinstance(obj, np.ndarray):
                    obj = np.asarray(obj, dtype=object)
                return obj
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def load_pt(path: str | Path) -> Any:
    """``torch.load`` with ``weights_only=True`` on CPU; refusals become :class:`UnsafeFileError`."""
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # a damaged file's odd protocol number: our error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise UnsafeFileError(
                f"{path}: refused to load, it holds objects other than tensors and plain "
                "containers (torch.load weights_only=True); only trust files you made"
            ) from exc
        raise DataError(
            f"{path}: cannot read this file ({short_message(exc)}); it may be truncated, so "
            "re-create or re-download it"
        ) from exc
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... on a damaged file
        raise DataError(
            f"{path}: cannot read this file ({type(exc).__name__}: {short_message(exc)}); it may be "
            "truncated or not a torch.save file; re-create or re-download it"
        ) from exc
