"""The package imports cheaply, and every command is reachable both ways."""

import subprocess
import sys

import pytest

from aigc_explain.__main__ import COMMANDS, main


def test_import_is_cheap():
    code = ("import sys, aigc_explain, aigc_explain.analysis.regions, aigc_explain.analysis.stats, aigc_explain.runs.files, aigc_explain.runs.folders, aigc_explain.runs.reader, aigc_explain.evidence.cues;"
            "heavy = [m for m in ('torch', 'timm', 'pytorch_grad_cam', 'matplotlib', 'torchvision') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_dispatcher_lists_commands(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert command in text
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "aigc_explain.train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--experiment" in out.stdout


def test_hub_is_a_command_both_ways():
    for argv in (["-m", "aigc_explain", "hub", "--help"], ["-m", "aigc_explain.hub", "--help"]):
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.startswith("usage: aigc-explain hub"), argv
        assert "--only" in out.stdout and "(default: both)" in " ".join(out.stdout.split())


def test_console_script_is_installed():
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "aigc-explain"
    script = script if script.exists() else shutil.which("aigc-explain")
    if script is None:
        pytest.skip("the package is not installed (pip install -e .)")
    out = subprocess.run([str(script), "cam", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--list-layers" in out.stdout
