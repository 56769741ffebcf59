"""The package's layers, enforced: imports point one way (read from the source, function-level imports too).

core/ (torch) ← explain/ (the only grad-cam importer) ← checks/; analysis/ (numpy/scipy), reporting/
(matplotlib) and runs/ (standard library + numpy) never import torch; no library module imports a command;
no module imports another in a cycle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aigc_explain"
LAYERS = ("runs", "analysis", "reporting", "core", "synth", "explain", "checks", "evidence")
COMMANDS = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__", "_cli"}
# What each layer may import from the package (besides itself).
ALLOWED = {
    "runs": set(),
    "analysis": {"runs"},
    "reporting": {"runs", "analysis"},
    "core": {"runs", "analysis"},
    "synth": {"runs", "analysis", "core"},
    "explain": {"runs", "analysis", "reporting", "core"},
    "checks": {"runs", "analysis", "reporting", "core", "explain", "synth", "evidence"},
    "evidence": {"runs", "analysis", "reporting", "core"},
}
TORCH = ("torch", "torchvision", "timm", "pytorch_grad_cam")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any depth of its code, as absolute dotted names."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out |= {f"{module}.{alias.name}" for alias in node.names}  # "from . import x" imports a module
    return out


MODULES = _modules()
GRAPH = {name: {m for m in _imports(name, path) if m in MODULES and m != name} for name, path in MODULES.items()}
EXTERNAL = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_top_level_holds_only_the_commands():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
    expected = {"train", "evaluate", "cam", "compare", "report", "spectrum", "sanity", "faithfulness", "benchmark",
                "demo", "audit", "hub", "diagnose"}
    assert COMMANDS == expected


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m)))
def test_layers_import_one_way(module):
    layer = _layer(module)
    for target in GRAPH[module]:
        other = _layer(target)
        assert other is not None or target == "aigc_explain", f"{module} imports the command {target}"
        assert other in ALLOWED[layer] | {layer, None}, f"{module} ({layer}) imports {target} ({other})"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in ("runs", "analysis", "reporting")))
def test_numpy_layers_never_import_torch(module):
    heavy = sorted(m for m in EXTERNAL[module] if m.split(".")[0] in TORCH)
    assert not heavy, f"{module} imports {heavy}"


def test_only_explain_imports_grad_cam():
    users = sorted(m for m, imports in EXTERNAL.items() if any(i.split(".")[0] == "pytorch_grad_cam" for i in imports))
    assert users and all(_layer(m) == "explain" for m in users), users


def test_commands_do_not_import_each_other():
    for command in COMMANDS:
        name = f"aigc_explain.{command}"
        assert not {t for t in GRAPH[name] if t.removeprefix("aigc_explain.") in COMMANDS}, name


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_files_stay_readable_in_one_sitting():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 320}
    assert not long, long
