"""Execute the notebooks in order, in place, and check what they show (``make notebooks`` runs this).

    python notebooks/execute.py                 # all six, in place, on the mode notebook_setup picks
    python notebooks/execute.py --out DIR       # write the executed copies to DIR instead (the tests do)

A notebook's outputs are what a reader sees without running anything, so after executing each one this
refuses outputs that would mislead or leak: an error, text on stderr (logs, progress bars, warnings),
a machine path, or a notebook without a figure. Exit 1 names the notebook and the problem.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ORDER = ("01_train", "02_gradcam", "03_corner_vs_center", "04_report_figures", "05_trust", "06_audit")
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|tmp|home|check|Users|var/folders)/")


def problems(nb) -> list[str]:
    """What is wrong with an executed notebook's outputs (empty: fine to commit)."""
    found, figures = [], 0
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            kind = output.get("output_type")
            if kind == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
            if kind == "stream" and output.get("name") == "stderr":
                found.append(f"cell {index}: stderr output: {output.get('text', '')[:120]!r}")
            data = output.get("data", {})
            figures += any(key in data for key in ("image/png", "image/svg+xml"))
            text = output.get("text", "") + "".join(str(v) for k, v in data.items() if k.startswith("text/"))
            if MACHINE_PATH.search(text):
                found.append(f"cell {index}: a machine path in the output: {MACHINE_PATH.search(text).group(0)}…")
    if not figures:
        found.append("no figure (no PNG or SVG output)")
    return found


def execute(path: Path, out: Path, *, timeout: int = 1200) -> list[str]:
    """Run one notebook with its kernel in ``notebooks/`` and write it to ``out``; return its problems."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    try:
        client.execute()
    except Exception as exc:  # the error output is in the notebook; write it so it can be read
        nbformat.write(nb, out)
        return [f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"]
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, out)
    return problems(nb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(ORDER), help="notebooks to run (default: all, in order)")
    parser.add_argument("--out", type=Path, help="write executed copies here instead of in place")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for name in args.names:
        name = Path(name).stem
        start = time.perf_counter()
        found = execute(HERE / f"{name}.ipynb", (args.out or HERE) / f"{name}.ipynb")
        print(f"{name}: {'ok' if not found else 'FAILED'} ({time.perf_counter() - start:.0f} s)", flush=True)
        for problem in found:
            print(f"  {problem}")
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
