"""Imports torchvision's pure-Python models where its compiled ops cannot load.

The torchvision wheels available for this PyTorch build link CUDA libraries, so `torchvision._C` fails to load and
the import stops when `_meta_registrations` registers fake kernels for ops that do not exist. Declaring those ops
(never called: the models used here need no custom ops) lets `import torchvision` finish. Use:
    from torchvision_shim import torchvision
"""
import pathlib
import re

import torch


def _declare_missing_ops():
    import importlib.util
    spec = importlib.util.find_spec("torchvision")
    source = (pathlib.Path(spec.origin).parent / "_meta_registrations.py").read_text()
    names = set(re.findall(r'register_fake\("torchvision::(\w+)"\)', source))
    names |= set(re.findall(r'register_meta\("(\w+)"\)', source))
    library = torch.library.Library("torchvision", "FRAGMENT")
    for name in sorted(names):
        if not hasattr(torch.ops.torchvision, name):
            library.define(f"{name}(Tensor input) -> Tensor")
    return library


try:
    import torchvision  # noqa: F401
except RuntimeError:
    _library = _declare_missing_ops()
    import importlib
    import sys
    for module in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[module]
    torchvision = importlib.import_module("torchvision")
