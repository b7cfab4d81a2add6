"""What sudo takes out of a step's environment, so the twin's steps see what a device's do.

The classic nucleus runs every lifecycle step as `sudo -n -E -H -u <user> -g <group> -- sh -c`.
`-E` keeps the caller's environment (the nucleus's own, plus the recipe's Setenv), except the
variables of sudoers' built-in env_delete list, which it removes even then (sudo's
plugins/sudoers/env.c, `initial_badenv_table`, sudo 1.9; the Linux entries). So a recipe
cannot hand its step a PYTHONPATH or an LD_PRELOAD: on a device they are gone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

SUDO_DELETES = (
    "IFS",
    "CDPATH",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "HOSTALIASES",
    "NLSPATH",
    "PATH_LOCALE",
    "LD_*",
    "_RLD*",
    "TERMINFO",
    "TERMINFO_DIRS",
    "TERMPATH",
    "TERMCAP",
    "ENV",
    "BASH_ENV",
    "PS4",
    "GLOBIGNORE",
    "BASHOPTS",
    "SHELLOPTS",
    "JAVA_TOOL_OPTIONS",
    "PERLIO_DEBUG",
    "PERLLIB",
    "PERL5LIB",
    "PERL5OPT",
    "PERL5DB",
    "FPATH",
    "NULLCMD",
    "READNULLCMD",
    "ZDOTDIR",
    "TMPPREFIX",
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "RUBYLIB",
    "RUBYOPT",
)


def deleted_by_sudo(name: str, value: str) -> bool:
    """True for a variable sudo removes: one of its list, or a bash function (`*=()*`)."""
    return value.startswith("()") or any(fnmatch.fnmatchcase(name, p) for p in SUDO_DELETES)


def as_sudo_passes_it(env: Mapping[str, str]) -> dict[str, str]:
    """`env` as `sudo -E` hands it to the step."""
    return {k: v for k, v in env.items() if not deleted_by_sudo(k, v)}
