"""The four notebooks run end to end (tiny configuration), in order, so a notebook that breaks fails CI."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORDER = ("01_train", "02_gradcam", "03_corner_vs_center", "04_report_figures")


@pytest.mark.slow
def test_notebooks_execute_in_order(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AIGC_EXPLAIN_TINY", "1")
    monkeypatch.setenv("AIGC_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("AIGC_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name in ORDER:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} is committed with outputs"
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "reports" / "notebook_report" / "index.md").is_file()
    assert len(list((tmp_path / "runs").glob("exp*/best_model.pth"))) == 5
