"""The Redis ACL users: the container's ACL file defines them, every client logs in as one."""

from __future__ import annotations

import hashlib

# The application: Board of One sends a password and no username, so its user is
# `default`, with a password (never `nopass`, which with protected mode on would turn
# away every client arriving through a published port).
APP_USER = "default"
OPS_USER = "bo1_ops"  # bootstrap, verify, status and the cleanup job
HEALTH_USER = "healthcheck"  # the container healthcheck; PING only


def hashed(password: str) -> str:
    """An ACL password as its SHA-256 ('#<hex>'), which ACL files and ACL lines accept in
    place of '>password': no plaintext at rest."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()
