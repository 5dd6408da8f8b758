"""mmgraph: multimodal graph recommendation on PyTorch Geometric, centred on MetaMMF."""

from mmgraph.errors import DataError, DataWarning, MMGraphError, UnsafeFileError

__version__ = "0.1.0"

__all__ = ["DataError", "DataWarning", "MMGraphError", "UnsafeFileError", "__version__"]
