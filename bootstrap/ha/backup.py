"""pgBackRest for an ``ha`` stack (pure): a dedicated repository host, TLS between hosts.

pgBackRest's own answer for a cluster (its user guide's "Dedicated Repository Host",
over its TLS server instead of SSH): the repository lives on one node, by default one
that runs no Postgres, so losing a Postgres node loses no backup. Every Postgres node
archives its WAL there (``archive-push`` to ``repo1-host``), whichever node leads, and
runs ``pgbackrest server`` so the repository host can reach its data; the repository
host lists every Postgres node (``pg1-host``, ``pg2-host``, ...) and pgBackRest backs up
from whichever is the primary when the backup starts. Each host proves itself with a
certificate of the stack's own CA whose CN is its node name; each server accepts only
the CNs it serves (``tls-server-auth``). Every host's file holds the repository's
passphrase: the Postgres nodes compress and encrypt what they push and back up (a node
without it cannot even read the repository's archive.info), so every one is a secret file.
"""

from __future__ import annotations

from bootstrap.backup.policy import (
    STANZA,
    Paths,
    Policy,
    cipher_options,
    engine_options,
    log_options,
    postgres_options,
    repository_options,
)
from bootstrap.ha.config import Node
from bootstrap.ha.tls import Tls

TLS_PORT = 8432  # pgBackRest's documented default for its TLS server


def _common(policy: Policy, paths: Paths, me: Node, tls: Tls, clients: list[str]) -> list[str]:
    """[global] options every host shares: its TLS server, and how it runs."""
    return [
        f"tls-server-address={me.address}",
        f"tls-server-port={TLS_PORT}",
        f"tls-server-ca-file={tls.ca}",
        f"tls-server-cert-file={tls.cert}",
        f"tls-server-key-file={tls.key}",
        # only these certificates' CNs may ask, and only for this stack's stanza
        *(f"tls-server-auth={cn}={STANZA}" for cn in clients),
        *engine_options(policy),
        *log_options(paths),
    ]


def _remote(option: str, node: Node, tls: Tls) -> list[str]:
    """How to reach ``node``'s TLS server, as ``option`` (repo1-host, pg2-host, ...)."""
    return [
        f"{option}={node.address}",
        f"{option}-type=tls",
        f"{option}-port={TLS_PORT}",
        f"{option}-ca-file={tls.ca}",
        f"{option}-cert-file={tls.cert}",
        f"{option}-key-file={tls.key}",
    ]


def postgres_node_conf(
    policy: Policy, paths: Paths, me: Node, repo: Node, tls: Tls, cipher_pass: str
) -> str:
    """pgbackrest.conf of a Postgres node: archive-push and its TLS server. ``paths.repo``
    is the repository's path on the repository host: the remote uses the path its client
    names."""
    lines = [
        "# bo1-infra pgbackrest.conf, a Postgres node of an ha stack (generated; do not edit)",
        "[global]",
        *_remote("repo1-host", repo, tls),
        f"repo1-path={paths.repo}",
        *cipher_options(cipher_pass),
        *_common(policy, paths, me, tls, [repo.name]),
        "",
        f"[{STANZA}]",
        *postgres_options(paths),
        "",
    ]
    return "\n".join(lines)


def repository_conf(
    policy: Policy,
    paths: Paths,
    me: Node,
    postgres: tuple[tuple[Node, Paths], ...],
    tls: Tls,
    cipher_pass: str,
) -> str:
    """pgbackrest.conf of the repository host: the encrypted repository and every Postgres
    node (with where its data and socket are there), of which pgBackRest backs up the
    primary."""
    lines = [
        "# bo1-infra pgbackrest.conf, the repository host of an ha stack (generated; do not edit)",
        "[global]",
        *repository_options(policy, paths.repo, cipher_pass),
        "start-fast=y",
        *_common(policy, paths, me, tls, [node.name for node, _ in postgres]),
        "",
        f"[{STANZA}]",
    ]
    for index, (node, there) in enumerate(postgres, start=1):
        lines += [*_remote(f"pg{index}-host", node, tls), *postgres_options(there, index)]
    return "\n".join([*lines, ""])
