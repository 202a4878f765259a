"""Built-in tally methods: majority, plurality, approval, instant runoff, Schulze,
Borda, score and satisfaction rating.

The counting lives in :mod:`plugins.tally.methods` (pure functions), ballot validation
in :mod:`plugins.tally.schemas` (marshmallow), the command line in
:mod:`plugins.tally.cli`. This module only registers them. See ``docs/tally.md``.
"""

from __future__ import annotations

from core.plugins import hookimpl
from core.registry import TallyMethod
from plugins.tally._common import PARAMS
from plugins.tally.methods import TALLY_FUNCTIONS
from plugins.tally.schemas import schema_factory

#: (key, ballot_kind, zh_CN name, English name), in the order forms list them
_METHODS = (
    ("majority", "yesno", "多数表决", "Majority"),
    ("plurality", "choice", "相对多数", "Plurality"),
    ("approval", "approval", "认可投票", "Approval"),
    ("irv", "ranking", "即时决选", "Instant runoff"),
    ("schulze", "ranking", "舒尔茨法", "Schulze"),
    ("borda", "ranking", "波达计数", "Borda count"),
    ("score", "scores", "评分投票", "Score"),
    ("satisfaction", "scores", "满意度测评", "Satisfaction rating"),
)


def builtin_methods() -> dict[str, TallyMethod]:
    """Every built-in :class:`TallyMethod` by key (a fresh dict each call)."""
    return {
        key: TallyMethod(
            key=key,
            names={"zh_CN": zh, "en": en},
            ballot_kind=kind,
            tally=TALLY_FUNCTIONS[key],
            make_ballot_schema=schema_factory(key),
            params=PARAMS[key],
        )
        for key, kind, zh, en in _METHODS
    }


#: the built-in methods, for the CLI and for tests
METHODS: dict[str, TallyMethod] = builtin_methods()


@hookimpl
def courtyard_register_tally_methods(register):
    for method in METHODS.values():
        register(method)


@hookimpl
def courtyard_register_commands(cli):
    """``courtyard tally --method KEY FILE.json``: count a file of ballots."""
    import click

    @cli.command("tally", context_settings={"ignore_unknown_options": True})
    @click.option("--method", required=True, help="majority, plurality, approval, irv, schulze, borda, score, "
                                                  "satisfaction (or a plugin's method)")
    @click.argument("file")
    def tally_command(method: str, file: str) -> None:
        """Tally FILE.json ({"options": [...], "ballots": [...], "counts": [...]?}) and print
        the result as JSON; a bad file or ballot is reported on stderr (exit 2)."""
        import sys

        from plugins.tally.cli import main

        sys.exit(main(["--method", method, file]))
