"""The notebooks are the report: they run end to end (tiny configuration, in order) so a notebook that
breaks fails CI, and the committed copies carry their results — figures, no errors, no machine paths."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute_module():
    spec = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOKS / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute = _execute_module()
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _notebook(*outputs):
    return new_notebook(cells=[new_code_cell("x", outputs=list(outputs), execution_count=1)])


def test_output_check_flags_what_a_reader_must_not_see():
    figure = new_output("display_data", data={"image/png": PNG})
    assert execute.problems(_notebook(figure)) == []
    assert execute.problems(_notebook(new_output("stream", name="stdout", text="ok"))) == \
        ["no figure (no PNG or SVG output)"]
    flagged = {
        "error": new_output("error", ename="ValueError", evalue="boom", traceback=[]),
        "stderr": new_output("stream", name="stderr", text="100%|####| 3/3"),
        "machine path": new_output("stream", name="stdout", text="saved to /work/main/runs/x"),
        "machine path in markdown": new_output("display_data", data={"text/markdown": "see /tmp/abc/def"}),
    }
    for what, output in flagged.items():
        found = execute.problems(_notebook(figure, output))
        assert len(found) == 1, what
    # a path relative to the repository is what the notebooks print, and is fine
    assert execute.problems(_notebook(figure, new_output("stream", name="stdout", text="runs/notebooks/exp1"))) == []


@pytest.mark.parametrize("name", execute.ORDER)
def test_committed_notebook_shows_its_results(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{name} is committed unexecuted"
    assert execute.problems(nb) == []
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {name[:2]}")


def test_committed_notebooks_stay_small():
    total = sum(p.stat().st_size for p in NOTEBOOKS.glob("*.ipynb"))
    assert total < 4 * 2**20, f"notebooks/ holds {total / 2**20:.1f} MiB of notebooks"
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(execute.ORDER)


@pytest.mark.slow
def test_notebooks_execute_in_order(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AIGC_EXPLAIN_TINY", "1")
    monkeypatch.setenv("AIGC_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("AIGC_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert execute.main(["--out", str(tmp_path / "executed")]) == 0
    assert (tmp_path / "reports" / "notebook_report" / "index.md").is_file()
    assert len(list((tmp_path / "runs").glob("exp*/best_model.pth"))) == 5
    assert (tmp_path / "reports" / "notebook_audit" / "aigc_run.json").is_file()
    for name in execute.ORDER:
        assert execute.problems(nbformat.read(tmp_path / "executed" / f"{name}.ipynb", as_version=4)) == []
