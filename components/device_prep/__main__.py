"""com.floorline.DevicePrep: what a device needs before the floorline components run, done by
the deployment itself (as root, the only floorline step that is), so a device onboarded by
fleet provisioning comes up with no one logging in.

    python -m components.device_prep --user ggc_user --groups i2c,gpio,dialout \
        --log-folder /var/lib/floorline

- the component user joins each listed group that exists here (I2C sensors, GPIO, serial RFID
  readers); a group the device lacks (no gpio on an x86 gateway) is reported and skipped;
- the log folder exists, belongs to the user and its primary group, mode 0750.
Nothing else: no packages (Install needs no python3-venv nor pip, the artifacts carry them),
no other files, no service restarts. Idempotent: a second run changes nothing and says so.
Standard library and components.core only. One line per action (key=value); exit 0 when
everything is in place, 1 when something could not be done (the deployment then fails and says
why), 2 on bad input (each bad key named) before anything changes.
"""

from __future__ import annotations

import argparse
import grp
import logging
import os
import pwd
import subprocess
import sys

from components.core.config import ConfigError
from components.device_prep.config import SPEC

log = logging.getLogger("floorline.device_prep")
LOG_FOLDER_MODE = 0o750


class PrepFailed(RuntimeError):
    """A step that had to change something could not."""


def join_groups(user: str, groups: list[str]) -> list[str]:
    """Adds `user` to every group of `groups` that exists; returns the groups it joined."""
    joined = []
    for name in groups:
        try:
            group = grp.getgrnam(name)
        except KeyError:
            log.warning("event=group_missing group=%s user=%s action=skipped", name, user)
            continue
        primary = pwd.getpwnam(user).pw_gid == group.gr_gid
        if primary or user in group.gr_mem:
            log.info("event=group_ok group=%s user=%s", name, user)
            continue
        done = subprocess.run(
            ["usermod", "--append", "--groups", name, user], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise PrepFailed(f"usermod -aG {name} {user}: {done.stderr.strip()}")
        log.info("event=group_joined group=%s user=%s", name, user)
        joined.append(name)
    return joined


def own_folder(path: str, user: str) -> bool:
    """Makes `path` a folder of `user` (and its primary group), mode 0750; True if it changed."""
    entry = pwd.getpwnam(user)
    changed = False
    if not os.path.isdir(path):
        os.makedirs(path, mode=LOG_FOLDER_MODE)
        changed = True
    st = os.stat(path)
    if (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
        os.chown(path, entry.pw_uid, entry.pw_gid)
        changed = True
    if st.st_mode & 0o7777 != LOG_FOLDER_MODE:
        os.chmod(path, LOG_FOLDER_MODE)
        changed = True
    log.info("event=%s folder=%s owner=%s", "folder_made" if changed else "folder_ok", path, user)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.device_prep")
    parser.add_argument("--user", required=True, help="the user the components run as")
    parser.add_argument("--groups", default="", help="comma-separated groups to join")
    parser.add_argument("--log-folder", required=True, help="folder of the durable log")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
    try:
        cfg = SPEC.parse(
            {
                "componentUser": args.user,
                "supplementaryGroups": args.groups,
                "logFolder": args.log_folder,
            }
        )
    except ConfigError as exc:
        for key, reason in exc.errors.items():
            log.error("event=bad_config key=%s reason=%r", key, reason)
        return 2
    try:
        pwd.getpwnam(cfg.componentUser)
    except KeyError:
        log.error("event=user_missing user=%s", cfg.componentUser)
        return 2
    try:
        joined = join_groups(cfg.componentUser, list(cfg.supplementaryGroups))
        made = own_folder(cfg.logFolder, cfg.componentUser)
    except (PrepFailed, OSError) as exc:
        log.error("event=prep_failed reason=%r", str(exc))
        return 1
    log.info("event=prepared user=%s changed=%s", cfg.componentUser, bool(joined) or made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
