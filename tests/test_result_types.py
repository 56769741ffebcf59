"""Results carry their own shape (issue #20): no public function of the layers that produce or read run
folders hands back an untyped ``dict[str, Any]``, and the readers' run objects hold typed summaries. Read from
the source, like ``test_layers``."""

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aigc_explain"
CHECKED = ("explain", "evidence", "checks", "core/evaluation.py", "runs/reader.py")


def _files() -> list[Path]:
    out = []
    for name in CHECKED:
        path = PACKAGE / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _untyped(annotation: str) -> bool:
    """``dict[str, Any]`` anywhere in the annotation, or a bare ``dict``/``Dict``."""
    compact = annotation.replace(" ", "")
    return "dict[str,Any]" in compact or "Dict[str,Any]" in compact or \
        any(compact == bare or compact.startswith(bare + "|") or compact.endswith("|" + bare)
            for bare in ("dict", "Dict"))


def _public_functions(tree: ast.Module):
    """(qualified name, node) of every public function and public method of a public class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_functions_return_typed_results(path):
    offenders = []
    for name, node in _public_functions(ast.parse(path.read_text())):
        if node.returns is not None and _untyped(ast.unparse(node.returns)):
            offenders.append(f"{name} -> {ast.unparse(node.returns)}")
    assert not offenders, f"{path.relative_to(PACKAGE)} returns untyped dicts: {offenders}; return a runs Record"


def test_the_check_itself_sees_an_untyped_dict(tmp_path):
    """The check above can fail: a function returning dict[str, Any] or a bare dict is seen."""
    tree = ast.parse("def a() -> dict[str, Any]: ...\ndef b() -> dict: ...\ndef c() -> tuple[int, dict[str, Any]]: ...\n"
                     "def d() -> dict[str, float]: ...\nclass K:\n    def e(self) -> dict | None: ...\n")
    seen = [n for n, node in _public_functions(tree) if _untyped(ast.unparse(node.returns))]
    assert seen == ["a", "b", "c", "K.e"]


def test_readers_hold_typed_summaries():
    from aigc_explain.runs import reader
    from aigc_explain.runs.records import Record

    for cls, name in ((reader.CamRun, "summary"), (reader.EvaluationRun, "metrics"), (reader.AuditRun, "summary"),
                      (reader.DiagnoseRun, "summary")):
        hint = typing.get_type_hints(cls)[name]
        assert isinstance(hint, type) and issubclass(hint, Record), f"{cls.__name__}.{name} is {hint}, not a Record"
        assert dataclasses.is_dataclass(hint) and hint.__dataclass_params__.frozen
