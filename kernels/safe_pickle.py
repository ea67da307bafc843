"""A pickle module for torch.load that rebuilds tensors and never runs a checkpoint's code.

Foreign DRRN checkpoints (the upstream PyTorch port) pickle whole model objects. Loading
them with plain pickle would import and call whatever the file names. Here every class the
file names becomes an inert record of its state, only torch's own tensor-rebuilding
functions are real, and a file that asks for anything from the standard library (os.system,
builtins.eval, subprocess, ...) or an unexpected torch function is refused before it runs.
"""

from __future__ import annotations

import collections
import pickle
import sys
from typing import Any

import torch

_REAL_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}
# Pure data types that pickled nn.Modules contain (e.g. _non_persistent_buffers_set).
_REAL_GLOBALS |= {(m, t.__name__): t for m in ("builtins", "__builtin__") for t in (set, frozenset, slice)}
# Module objects a checkpoint may contain; they become inert records.
_INERT_TORCH_PREFIXES = ("torch.nn.modules.", "torch.nn.parallel.", "torch.nn.parameter")


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks to run code that a weights file never needs."""


class Inert:
    """Stands in for a class named by a checkpoint: keeps its state, runs none of its code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


def _inert_class(module: str, name: str) -> type:
    return type(name, (Inert,), {"__module__": f"inert:{module}"})


class Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _REAL_GLOBALS:
            return _REAL_GLOBALS[(module, name)]
        if module == "torch":
            attr = getattr(torch, name, None)
            if name.endswith("Storage") or isinstance(attr, torch.dtype):
                return attr
        if module.startswith(_INERT_TORCH_PREFIXES):
            return _inert_class(module, name)
        root = module.split(".")[0]
        if root == "torch" or root in sys.stdlib_module_names or root == "__builtin__":
            raise UnsafePickleError(f"the file calls {module}.{name}, which a weights file never needs")
        return _inert_class(module, name)  # the checkpoint's own model classes, e.g. drrn.DRRN


def load(file: Any, **kwargs: Any) -> Any:
    return Unpickler(file, **kwargs).load()
