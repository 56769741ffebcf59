"""The README's promises that are code: its own-data commands and its Python API block run as written, and
every link of the README and of docs/ resolves."""

import importlib
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDERS = ("path/to/data", "path/to/images")  # the data roots the README's own-data commands name


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
    summary = json.loads((tmp_path / "reports" / "cam" / "mine" / "summary.json").read_text())
    share = summary["groups"]["fake"]["corner_share"]
    mean, (lo, hi) = share["mean"], share["ci95"]
    assert printed.split()[:3] == [repr(mean), f"({lo!r},", f"{hi!r})"]  # the typed values are the file's
    assert printed.split(maxsplit=3)[3].strip() == f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"
    assert summary["layer"] == "layer3" and summary["groups"]["fake"]["n"] == 4
    from aigc_explain.runs.reader import load_cam_run

    assert load_cam_run(tmp_path / "reports" / "cam" / "mine").predictions.has_both_classes


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)  # no code blocks
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_resolve(page: Path):
    """Every in-page anchor names a heading, every relative link names a file of the repository, and an
    anchor into another page names one of its headings."""
    links = re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        target, _, fragment = link.partition("#")
        path = (page.parent / target) if target else page
        assert path.exists(), f"{page.name} links to {link}, which does not exist"
        if fragment:
            assert path.suffix == ".md", f"{page.name} links to an anchor in {target}, which is not markdown"
            assert fragment in _anchors(path), f"{page.name} links to {link}, which no heading of {path.name} has"


def _own_data_blocks() -> list[list[str]]:
    section = re.search(r"^## Your own data\n(.*?)^## ", README.read_text(encoding="utf-8"), re.M | re.S)
    assert section, "the README has no '## Your own data' section"
    return [block.strip().splitlines() for block in re.findall(r"^```\n(.*?)^```", section.group(1), re.M | re.S)]


def _run_line(line: str, roots: dict[str, Path], cwd: Path) -> str:
    """Run one README line as the shell would, in-process: ``python -m aigc_explain.X ...`` -> X.main(argv)."""
    for placeholder, root in roots.items():
        line = line.replace(placeholder, str(root))
    argv = shlex.split(line)
    assert argv[:2] == ["python", "-m"], f"README own-data line is not 'python -m ...': {line}"
    if argv[2] == "webbrowser":  # opening the page: check that the file it names is there
        assert len(argv) == 4 and argv[3].startswith("file://$PWD/"), line
        page = cwd / argv[3].removeprefix("file://$PWD/")
        assert page.is_file(), f"the README opens {page}, which the commands did not write"
        return "webbrowser"
    assert argv[2].startswith("aigc_explain."), line
    code = importlib.import_module(argv[2]).main(argv[3:])
    assert code in (0, None), f"{line!r} exited with {code}"
    return argv[2].removeprefix("aigc_explain.")


def _offline_weights(lines: list[str]) -> list[str]:
    """``--weights imagenet`` as written where ``make weights`` has seeded torch's hub cache; ``none`` where
    it has not (no test downloads anything)."""
    import torch

    if (Path(torch.hub.get_dir()) / "checkpoints" / "mobilenet_v2-b0353104.pth").is_file():
        return lines
    return [line.replace("--weights imagenet", "--weights none") for line in lines]


@pytest.mark.slow
def test_own_data_commands_run_as_written(tmp_path: Path, monkeypatch, make_data, one_thread):
    """The README's "Your own data" commands, exactly as written but for the data root, end with a report."""
    blocks = _own_data_blocks()
    assert len(blocks) == 2, "the README's own-data section should hold the split-root and --val-split blocks"
    split_root = make_data(tmp_path / "data", n_train=8, n_val=4, size=32)
    class_folder = make_data(tmp_path / "images", n_train=10, n_val=0, size=32, seed=1) / "train"
    roots = dict(zip(PLACEHOLDERS, (split_root, class_folder)))

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    ran = [_run_line(line, roots, work) for line in _offline_weights(blocks[0])]
    assert ran == ["train", "cam", "audit", "diagnose", "report", "webbrowser"]
    assert (work / "runs/mine/best_model.pth").is_file() and (work / "reports/diagnose/mine/diagnose.md").is_file()
    index = (work / "reports/mine/index.md").read_text(encoding="utf-8")
    assert "mine" in index and ".png" in index
    assert json.loads((work / "reports/cam/mine/summary.json").read_text())["groups"]["fake"]["n"] == 4

    split = tmp_path / "split"
    split.mkdir()
    monkeypatch.chdir(split)
    assert [_run_line(line, roots, split) for line in _offline_weights(blocks[1])] == ["train", "cam"]
    def paths(csv: str) -> list[str]:
        return sorted(row.split(",")[0] for row in (split / csv).read_text(encoding="utf-8").splitlines()[1:])

    held_out = paths("runs/mine/val_files.csv")
    assert len(held_out) == 4 and paths("reports/cam/mine/per_image.csv") == held_out
