"""The help of every `gift` subcommand: one formatter that shows each option's default."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help with `(default: X)` after each option that has a default worth showing.

    Unlike argparse.ArgumentDefaultsHelpFormatter, no `(default: None)` or `(default: False)` noise for options
    that are off unless given, and no second default where the help already names it.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


def parser(prog: str, description: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser of a `gift` subcommand with the suite's help formatter."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter, **kwargs)


# `--model` of the evaluations: what the workflow passes (gift.grid.evals.eval_model_arg).
MODEL_HELP = ("the model to evaluate: a from_pretrained directory (a run's final/), or a hub id pinned as "
              "owner/name@revision (what the workflow passes for an untrained hub backbone; read from the hub cache "
              "that gift fetch filled)")
