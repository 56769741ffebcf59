"""--help for people: every command (and cam merge, benchmark planted) shows every option's default and no
markup; the field's spellings (timm's -b and --img-size) are accepted wherever the long option is."""

import argparse
import importlib
import re
from dataclasses import MISSING, fields

import pytest

from aigc_explain.__main__ import COMMANDS
from aigc_explain.core.experiments import TrainConfig

# train's options default to None so an --experiment preset can fill them; their defaults are TrainConfig's.
TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for command in COMMANDS:
        module = importlib.import_module(f"aigc_explain.{command}")
        parser = module._build_parser()
        found.append((command, parser))
        for action in parser._actions:  # sub-commands: benchmark planted
            if isinstance(action, argparse._SubParsersAction):
                found += [(f"{command} {name}", sub) for name, sub in action.choices.items()]
    found.append(("cam merge", importlib.import_module("aigc_explain.cam")._build_merge_parser()))
    return found


PARSERS = _parsers()


def _default(command: str, action: argparse.Action):
    if isinstance(action, (argparse._StoreConstAction, argparse._HelpAction)) or not action.option_strings:
        return None  # a flag, --help, a positional
    if action.default is None and command == "train":
        return TRAIN_DEFAULTS.get(action.dest)
    if action.default is False or action.default is argparse.SUPPRESS:
        return None
    return action.default


def _spellings(value) -> list[str]:
    """How a default may be written in help text: 32, 0.25, 1e-4, 20,50,80."""
    if isinstance(value, (tuple, list)):
        return [",".join(map(str, value)), str(value)]
    if isinstance(value, float):
        return [str(value), f"{value:g}", re.sub(r"e([+-])0*", r"e\1", f"{value:.0e}")]
    return [str(value)]


@pytest.mark.parametrize("command, parser", PARSERS, ids=[c for c, _ in PARSERS])
def test_help_shows_every_default_and_no_markup(command, parser):
    text = parser.format_help()
    assert text.startswith(f"usage: aigc-explain {command}"), command
    assert "`" not in text and "**" not in text and ":func:" not in text, "markup in --help"
    formatter = parser._get_formatter()
    missing = []
    for action in parser._actions:
        default = _default(command, action)
        if default is None:
            continue
        shown = " ".join(formatter._expand_help(action).split())
        if not any(re.search(rf"default:? {re.escape(v)}(?!\w)|(?<!\w){re.escape(v)} \(default", shown)
                   for v in _spellings(default)):
            missing.append(f"{action.option_strings[-1]} (default {default!r}): {shown!r}")
    assert not missing, missing


REQUIRED = {"cam": ["--ckpt", "c"], "sanity": ["--ckpt", "c", "--images", "i"],
            "faithfulness": ["--ckpt", "c", "--images", "i"], "diagnose": ["--ckpt", "c", "--images", "i"],
            "evaluate": ["--ckpt", "c", "--data", "d", "--out", "o"], "train": ["--data", "d", "--out", "o"],
            "demo": [], "benchmark": ["planted", "--region", "corner"]}


@pytest.mark.parametrize("command, spelling, dest, value", [
    *[(c, "-b", "batch_size", 8) for c in ("cam", "sanity", "faithfulness", "diagnose", "evaluate", "train",
                                           "benchmark")],
    *[(c, "--img-size", "image_size", 48) for c in ("train", "demo", "benchmark")],
    *[(c, "--image-size", "image_size", 48) for c in ("train", "demo", "benchmark")],
    *[(c, "--layer", "layer", "layer4[-1]") for c in ("cam", "sanity", "faithfulness")],
])
def test_the_fields_spellings(command, spelling, dest, value):
    parser = importlib.import_module(f"aigc_explain.{command.split()[0]}")._build_parser()
    args = parser.parse_args([*REQUIRED[command], spelling, str(value)])
    assert getattr(args, dest) == value


def test_every_batch_and_image_size_option_has_the_short_spelling():
    """Wherever --batch-size or --image-size is, -b or --img-size is too (the tests above name the commands)."""
    for command, parser in PARSERS:
        strings = {s for a in parser._actions for s in a.option_strings}
        assert "--batch-size" not in strings or "-b" in strings, command
        assert "--image-size" not in strings or "--img-size" in strings, command


def test_layer_help_names_grad_cams_indexing():
    for command, parser in PARSERS:
        for action in parser._actions:
            if "--layer" in action.option_strings:
                assert "layer4[-1]" in action.help, command


@pytest.mark.parametrize("command", ["cam", "sanity", "faithfulness", "diagnose"])
def test_out_help_says_the_default_folder(command, tmp_path):
    from aigc_explain._cli import default_out

    parser = importlib.import_module(f"aigc_explain.{command}")._build_parser()
    text = " ".join(next(a for a in parser._actions if "--out" in a.option_strings).help.split())
    assert f"reports/{command}/<detector>-<images-name>" in text and "best_model.pth" in text
    assert "<ckpt-stem>" not in text
    picked = default_out(command, str(tmp_path / "plain" / "best_model.pth"), str(tmp_path / "val"))
    assert picked.as_posix() == f"reports/{command}/plain-best_model-val"  # what the help says: run folder, images
