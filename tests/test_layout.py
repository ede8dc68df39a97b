"""The package layout: imports run one way, down the pipeline, and old paths still work.

The layers, bottom to top, are those of docs/architecture.md. A module may import its own
layer and the layers below, type-only imports included; never a layer above, and never
another module's underscore names. Old import paths of 0.1 keep working with a warning.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

import synthmark

ROOT = Path(__file__).resolve().parents[1] / "synthmark"

#: Bottom to top. Each entry is a top-level module or package of synthmark/.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("record",),
    ("carriers",),
    ("binding",),
    ("watermark",),
    ("provenance",),
    ("inspect",),
    ("api",),
    ("rules",),
    ("validation",),
    ("serve", "publish", "integrations", "specgen"),
    ("demo",),
    ("cli",),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
#: Data folders and the package's own __init__ (the public re-exports), not layers.
NOT_LAYERS = {"policies", "templates", "__init__", "py.typed"}
#: At most six top-level modules (issue: the top level holds packages).
MAX_TOP_LEVEL_MODULES = 6


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py"))


def _layer(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module imported, names imported, line) for every synthmark import in a file."""
    out: list[tuple[str, tuple[str, ...], int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "synthmark":
                out.append((node.module, tuple(a.name for a in node.names), node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, (), node.lineno) for a in node.names if a.name.startswith("synthmark")]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import")
    return out


def test_every_top_level_entry_has_a_layer() -> None:
    entries = {p.name.removesuffix(".py") for p in ROOT.iterdir() if p.name != "__pycache__"}
    assert entries - NOT_LAYERS <= set(LEVEL), entries - NOT_LAYERS - set(LEVEL)
    modules = [p for p in ROOT.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) + 1 <= MAX_TOP_LEVEL_MODULES, sorted(p.name for p in modules)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_the_layers(path: Path) -> None:
    if path == ROOT / "__init__.py":
        return
    own = LEVEL[_layer(path)]
    for module, names, line in _imports(path):
        parts = module.split(".")
        if len(parts) == 1:
            # "from synthmark import __version__" is the only use of the root package.
            assert names == ("__version__",), f"{path}:{line}: from synthmark import {names}"
            continue
        target = parts[1]
        assert LEVEL[target] <= own, (
            f"{path}:{line}: {_layer(path)} imports {module} (a layer above)"
        )
        if LEVEL[target] == own and target != _layer(path):
            raise AssertionError(f"{path}:{line}: {_layer(path)} imports its peer {module}")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for module, names, line in _imports(path):
        if module.startswith(package + ".") and package != "synthmark":
            continue  # a subpackage's own files may share private helpers
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        submodules = [n for n in private if importlib.util.find_spec(f"{module}.{n}") is not None]
        assert set(private) <= set(submodules), f"{path}:{line}: imports {private} from {module}"


def test_no_import_circle_between_modules() -> None:
    names = {
        ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in _modules()
    }
    edges: dict[str, set[str]] = {m: set() for m in names}
    for m, p in names.items():
        for module, imported, _ in _imports(p):
            for candidate in [f"{module}.{n}" for n in imported] + [module]:
                if candidate in names and candidate != m:
                    # a package's __init__ re-exporting its own modules is not a circle
                    if not (p.name != "__init__.py" and m.startswith(candidate + ".")):
                        edges[m].add(candidate)
                    break
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if names[nxt].name == "__init__.py" and node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for m in names:
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize(("old", "new"), sorted(synthmark.MOVED_MODULES.items()))
def test_old_import_paths_still_work_with_a_warning(old: str, new: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    target = importlib.import_module(new)
    public = [n for n in dir(target) if not n.startswith("_")]
    assert public and all(getattr(module, n) is getattr(target, n) for n in public[:20])


def test_old_submodule_path_and_from_import() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from synthmark.attest.trust import TrustPolicy  # type: ignore[import-not-found]

        from synthmark.validation import validate
    from synthmark.provenance.trust import TrustPolicy as Moved

    assert TrustPolicy is Moved and callable(validate)
