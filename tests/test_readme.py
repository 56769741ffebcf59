"""The README's promises that are code: its Python API block runs as written."""

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_block_runs(tmp_path: Path, monkeypatch, make_data, capsys):
    import torch

    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.core.models import build_detector

    block = re.search(r"## Python API\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best_model.pth", build_detector("resnet18", image_size=64))
    make_data(tmp_path / "root")
    (tmp_path / "root" / "val").rename(tmp_path / "val")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "'mean'" in printed and "'ci95'" in printed
    summary = json.loads((tmp_path / "reports" / "cam" / "mine" / "summary.json").read_text())
    assert summary["layer"] == "layer3" and summary["groups"]["fake"]["n"] == 4
    from aigc_explain.runs.reader import load_cam_run

    assert load_cam_run(tmp_path / "reports" / "cam" / "mine").predictions.has_both_classes


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_links_resolve():
    """Every in-page anchor names a heading and every relative link names a file of the repository."""
    text = README.read_text(encoding="utf-8")
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if link.startswith("#"):
            assert link[1:] in anchors, f"README links to #{link[1:]}, which no heading has"
        elif not link.startswith(("http://", "https://")):
            assert (README.parent / link).exists(), f"README links to {link}, which does not exist"
