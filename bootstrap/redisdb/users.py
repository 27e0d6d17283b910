"""The Redis ACL users: the container's ACL file defines them, every client logs in as one."""

from __future__ import annotations

APP_USER = "bo1_app"  # the application; only the registry's key patterns
OPS_USER = "bo1_ops"  # bootstrap, verify, status and the cleanup job
HEALTH_USER = "healthcheck"  # the container healthcheck; PING only
