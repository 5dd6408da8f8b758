"""The import graph is one-way: a layer imports only the layers below it."""

import ast
from pathlib import Path

import mmgraph

# lowest first; a module imports from its own layer or the ones before it
LAYERS = [
    ("mmgraph", "mmgraph.errors", "mmgraph.utils"),
    ("mmgraph.data",),
    ("mmgraph.nn",),
    ("mmgraph.models",),
    ("mmgraph.distributed",),
    ("mmgraph.eval",),
    ("mmgraph.report",),
    ("mmgraph.train",),
    ("mmgraph.runs",),
    ("mmgraph.cli",),
]
ROOT = Path(mmgraph.__file__).parent


def layer(module: str) -> int:
    """The layer of ``module``: the longest listed prefix wins."""
    best, rank = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, rank = len(name), i
    assert rank is not None, module
    return rank


def imports(path: Path) -> list[str]:
    """The mmgraph modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return [m for m in out if m == "mmgraph" or m.startswith("mmgraph.")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_imports_only_lower_layers():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        for imported in imports(path):
            if layer(imported) > layer(name):
                wrong.append(f"{name} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_layers_cover_every_package():
    packages = {module_name(p) for p in ROOT.rglob("*.py")}
    for name in packages:
        layer(name)  # raises for a module no layer lists
