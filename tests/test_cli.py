"""The `gift` command itself: --version, help for every command and group, --debug anywhere, a closed pipe, and
every option of every subcommand described with its default."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gift import __version__
from gift.cli import COMMANDS, HelpFormatter, main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


class _Parsed(Exception):
    pass


def _parser_of(target: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a subcommand builds, caught when it parses (nothing runs)."""
    seen: list[argparse.ArgumentParser] = []

    def catch(self, args=None, namespace=None):
        seen.append(self)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    module, func = target.split(":")
    with pytest.raises(_Parsed):
        getattr(importlib.import_module(module), func)([])
    return seen[0]


@pytest.mark.parametrize("words,target", [(w, t) for w, t, _ in COMMANDS], ids=[" ".join(w) for w, _, _ in COMMANDS])
def test_every_option_is_described_and_shows_its_default(words, target, monkeypatch):
    parser = _parser_of(target, monkeypatch)
    assert issubclass(parser.formatter_class, HelpFormatter), "defaults are shown by the suite's formatter"
    assert parser.prog == "gift " + " ".join(words)
    for action in parser._actions:
        assert action.help and action.help.strip(), f"gift {' '.join(words)}: {action.dest} has no description"


def test_help_shows_defaults_but_not_none():
    parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps")
    parser.add_argument("--out", help="where to write")
    parser.add_argument("--json", action="store_true", help="JSON output")
    text = parser.format_help()
    assert "optimizer steps (default: 20)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_version_and_help_commands(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"gift {__version__}"
    assert main(["help"]) == 0 and "commands:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["help", "estimate"])
    assert done.value.code == 0 and "usage: gift estimate" in capsys.readouterr().out


@pytest.mark.parametrize("group", sorted({w[0] for w, _, _ in COMMANDS if len(w) > 1}))
def test_every_command_group_lists_its_commands(group, capsys):
    for argv in ([group], [group, "--help"], ["help", group]):
        assert main(argv) == 0, argv
        out = capsys.readouterr().out
        for words, _, _ in COMMANDS:
            assert (" ".join(words) in out) == (words[0] == group), (argv, words)


def test_debug_works_in_any_position_and_not_after_a_double_dash(tmp_path, capsys):
    bad = tmp_path / "absent.yaml"
    for argv in (["--debug", "config", "check", "--config", str(bad)], ["config", "check", "--debug", "--config",
                                                                         str(bad)],
                 ["config", "check", "--config", str(bad), "--debug"]):
        assert main(argv) == 2
        assert "Traceback" in capsys.readouterr().err, argv
    from gift.cli import _strip_debug

    assert _strip_debug(["gpus", "run", "--debug", "--", "prog", "--debug"]) == (
        ["gpus", "run", "--", "prog", "--debug"], True)


def test_config_check_takes_config_as_option_or_positional(capsys):
    assert main(["config", "check", "--config", "config/smoke.yaml"]) == 0
    assert main(["config", "check", "config/smoke.yaml"]) == 0
    assert capsys.readouterr().out.count("config/smoke.yaml: valid") == 2
    with pytest.raises(SystemExit):
        main(["config", "check"])


def test_estimate_names_its_config(capsys):
    with pytest.raises(SystemExit):
        main(["estimate"])
    assert "--config" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m gift.cli grid --config config/tiny.yaml --json | head -1",
                          shell=True, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
                          executable="/bin/bash")
    assert proc.stdout.strip() == "{" or proc.stdout.startswith("[")
    assert proc.stderr == "", proc.stderr
