"""hc-login's older command lines, read as the subcommand they mean.

Before the subcommands, one command did all three jobs and flags chose the job:
`hc-login [--region R]` logged in, `hc-login --import PATH…` imported,
`hc-login --scan` scanned, and hcpy2-0's users run `hc-login config/devices.json`.
Those lines stay in scripts and READMEs, so each one still runs, as the
subcommand it meant. Options the one command accepted and ignored for a job
(`--scan --region EU`) are left out, as it left them unused; the combinations it
refused are refused with the same words.

Pure: the option table comes from the subcommands themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import click

MODE_FLAGS = {"--import": "import", "--scan": "scan"}
HELP = ("-h", "--help")
# What each job refused from another job, with the old command's words.
SCAN_ALONE = "--scan goes alone (with --devices, --scan-time, --scan-interface)"
IMPORT_ONLY = "--key, --iv and --host are for --import"
PATHS_NEED_IMPORT = "PATH arguments are for --import; add --import to import them"
IMPORT_NEEDS_PATHS = "--import needs at least one zip file or folder"
SCAN_REFUSES = {"--code", "--state"}  # besides every option of the import


class LegacyUsageError(ValueError):
    """An old-style command line the old command refused too."""


@dataclass(frozen=True)
class _Token:
    option: str | None  # the option's name, or None for a positional argument
    words: tuple[str, ...]


def subcommand_args(args: list[str], commands: Mapping[str, click.Command]) -> list[str]:
    """`args` as a subcommand's command line: itself when it names one, else the old form translated."""
    if args and args[0] in commands:
        return list(args)
    takes_value, owners = _option_table(commands)
    tokens: list[_Token] = []
    modes: list[str] = []
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "--":
            tokens.extend(_Token(None, (w,)) for w in rest)
            break
        if word in MODE_FLAGS:
            modes.append(MODE_FLAGS[word])
            continue
        name, eq, _ = word.partition("=")
        if word.startswith("-") and word != "-":
            if name not in takes_value:
                # Help, or an option no subcommand has: click says what it is.
                return _unknown(args, modes)
            words = (word,) if eq or not takes_value[name] else (word, *rest[:1])
            del rest[: len(words) - 1]
            tokens.append(_Token(name, words))
        else:
            tokens.append(_Token(None, (word,)))

    positionals = [t.words[0] for t in tokens if t.option is None]
    if not modes and positionals and positionals[0] in commands:
        # `hc-login --devices d.json scan`: the subcommand after an option.
        first = next(i for i, t in enumerate(tokens) if t.option is None)
        return [positionals[0], *_joined(tokens[:first] + tokens[first + 1 :])]
    if len(set(modes)) > 1:
        raise LegacyUsageError(SCAN_ALONE)
    mode = modes[0] if modes else "login"
    shared = _shared(owners)
    import_only = owners["import"] - shared
    options = [t for t in tokens if t.option is not None]

    if mode == "scan" and (positionals or any(t.option in SCAN_REFUSES | import_only for t in options)):
        raise LegacyUsageError(SCAN_ALONE)
    if mode == "login" and positionals:
        if _is_devices_file(positionals, options):
            # hcpy2-0's `hc-login.py config/devices.json`.
            options.append(_Token("--devices", ("--devices", positionals[0])))
            positionals = []
        else:
            raise LegacyUsageError(PATHS_NEED_IMPORT)
    if mode == "import" and not positionals:
        raise LegacyUsageError(IMPORT_NEEDS_PATHS)
    if mode != "import" and any(t.option in import_only for t in options):
        raise LegacyUsageError(IMPORT_ONLY)

    mine = [t for t in options if t.option in owners[mode]]
    out = [mode, *_joined(mine)]
    if positionals:
        out += ["--", *positionals] if any(p.startswith("-") for p in positionals) else positionals
    return out


def _option_table(commands: Mapping[str, click.Command]) -> tuple[dict[str, bool], dict[str, set[str]]]:
    """Whether each option name takes a value, and each subcommand's option names."""
    takes_value: dict[str, bool] = {}
    owners: dict[str, set[str]] = {}
    for command_name, command in commands.items():
        names = owners.setdefault(command_name, set())
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in (*param.opts, *param.secondary_opts):
                    takes_value[opt] = not (param.is_flag or param.count)
                    names.add(opt)
    return takes_value, owners


def _shared(owners: Mapping[str, set[str]]) -> set[str]:
    """The options every subcommand has (--devices, -v)."""
    return set.intersection(*owners.values()) if owners else set()


def _is_devices_file(positionals: list[str], options: list[_Token]) -> bool:
    return (
        len(positionals) == 1
        and positionals[0].lower().endswith(".json")
        and not any(t.option == "--devices" for t in options)
    )


def _unknown(args: list[str], modes: list[str]) -> list[str]:
    if not modes and any(a in HELP for a in args):
        return ["--help"]  # the overview of all three jobs
    rest = [a for a in args if a not in MODE_FLAGS]
    return [modes[0] if modes else "login", *rest]


def _joined(tokens: list[_Token]) -> list[str]:
    return [word for t in tokens for word in t.words]
