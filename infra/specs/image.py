"""The image the program builds on the stack's Docker host: pgvector's Postgres plus tools.

One Dockerfile (infra/images/postgres/Dockerfile), ``FROM`` the pinned pgvector image
(by digest), adds pgBackRest, cron and redis-cli (the backups) and PgBouncer (the
pooler), each from the base image's own apt sources. The pooler always runs it;
Postgres and the backup sidecar run it when backups are on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from bootstrap import paths
from bootstrap.ha.config import PATRONI_VERSION
from infra.settings import StackSettings

IMAGE_DIR = paths.ROOT / "infra" / "images" / "postgres"
HA_IMAGE_DIR = paths.ROOT / "infra" / "images" / "postgres-ha"


@dataclass(frozen=True)
class ImageBuild:
    tag: str  # named by its content: a changed Dockerfile or base is a new image
    context: str
    dockerfile: str
    args: Mapping[str, str]


def image_build(settings: StackSettings) -> ImageBuild:
    dockerfile = IMAGE_DIR / "Dockerfile"
    content = dockerfile.read_bytes() + settings.postgres_image.encode()
    return ImageBuild(
        tag=f"bo1-postgres:{hashlib.sha256(content).hexdigest()[:16]}",
        context=str(IMAGE_DIR),
        dockerfile=str(dockerfile),
        args={"BASE_IMAGE": settings.postgres_image},
    )


def ha_image_build(settings: StackSettings) -> ImageBuild:
    """An ha node's image: the stack's image plus Patroni and etcd (its own Dockerfile)."""
    base = image_build(settings)
    dockerfile = HA_IMAGE_DIR / "Dockerfile"
    content = dockerfile.read_bytes() + base.tag.encode() + PATRONI_VERSION.encode()
    return ImageBuild(
        tag=f"bo1-postgres-ha:{hashlib.sha256(content).hexdigest()[:16]}",
        context=str(HA_IMAGE_DIR),
        dockerfile=str(dockerfile),
        args={"BASE_IMAGE": base.tag, "PATRONI_VERSION": PATRONI_VERSION},
    )
