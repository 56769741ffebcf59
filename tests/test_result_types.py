"""Results carry their own shape (issue #20): no public function of the layers that produce or read run
folders hands back an untyped ``dict[str, Any]``, and the readers' run objects hold typed summaries. Read from
the source, like ``test_layers``."""

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aigc_explain"
CHECKED = ("explain", "evidence", "checks", "analysis", "core/evaluation.py", "runs/reader.py",
           "reporting/report.py", "reporting/sections.py")


def _files() -> list[Path]:
    out = []
    for name in CHECKED:
        path = PACKAGE / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


MAPPINGS = ("dict", "Dict", "Mapping", "MutableMapping")


def _untyped(annotation: str) -> bool:
    """A mapping whose values are ``Any`` or ``object`` or mixed (a union holding a mapping) anywhere in the
    annotation, or a bare ``dict``/``Mapping`` alone or in a union: a result whose keys nobody typed."""
    tree = ast.parse(annotation, mode="eval").body
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name in MAPPINGS and not _subscripted(tree, node):
            return True  # bare dict / Mapping
        if isinstance(node, ast.Subscript) and _name(node.value) in MAPPINGS:
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            value = ast.unparse(args[-1]).replace(" ", "")
            loose = {"Any", "object", "typing.Any"}
            parts = value.split("|")
            if value in loose or (len(parts) > 1 and any(p in loose or p.split("[")[0] in MAPPINGS for p in parts)):
                return True
    return False


def _name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _subscripted(tree: ast.AST, target: ast.AST) -> bool:
    return any(isinstance(n, ast.Subscript) and n.value is target for n in ast.walk(tree))


def _public_functions(tree: ast.Module):
    """(qualified name, node) of every public function and public method of a public class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


# Untyped on purpose, one line each why: what a user typed on the command line, recorded as given.
FREE_FORM = {"TrainingRun.arguments -> Mapping[str, Any]"}


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_functions_return_typed_results(path):
    offenders = []
    for name, node in _public_functions(ast.parse(path.read_text())):
        if node.returns is not None and _untyped(ast.unparse(node.returns)):
            offenders.append(f"{name} -> {ast.unparse(node.returns)}")
    offenders = [o for o in offenders if o not in FREE_FORM]
    assert not offenders, f"{path.relative_to(PACKAGE)} returns untyped dicts: {offenders}; return a runs Record"


def test_the_check_itself_sees_an_untyped_dict(tmp_path):
    """The check above can fail: a function returning dict[str, Any] or a bare dict is seen."""
    tree = ast.parse("def a() -> dict[str, Any]: ...\ndef b() -> dict: ...\ndef c() -> tuple[int, dict[str, Any]]: ...\n"
                     "def d() -> dict[str, float]: ...\nclass K:\n    def e(self) -> dict | None: ...\n"
                     "def f() -> Mapping[str, Any]: ...\ndef g() -> dict[str, object]: ...\n"
                     "def h() -> dict[str, str | dict]: ...\ndef i() -> dict[str, list[Interval]]: ...\n"
                     "def j() -> list[str] | None: ...\n")
    seen = [n for n, node in _public_functions(tree) if _untyped(ast.unparse(node.returns))]
    assert seen == ["a", "b", "c", "K.e", "f", "g", "h"]


def test_readers_hold_typed_summaries():
    from aigc_explain.runs import reader
    from aigc_explain.runs.records import Record

    for cls, name in ((reader.CamRun, "summary"), (reader.EvaluationRun, "metrics"), (reader.AuditRun, "summary"),
                      (reader.DiagnoseRun, "summary")):
        hint = typing.get_type_hints(cls)[name]
        assert isinstance(hint, type) and issubclass(hint, Record), f"{cls.__name__}.{name} is {hint}, not a Record"
        assert dataclasses.is_dataclass(hint) and hint.__dataclass_params__.frozen
