"""Where an ha node's certificate lives in its containers, and how its private key reaches
the process that uses it (pure).

Every node holds one certificate of the stack's own CA (infra/components/ha_tls.py): CN its
node name, subjectAltName its name and address. etcd (peers and clients), Patroni (as
etcd's client) and pgBackRest (its TLS server and client) prove themselves with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tls:
    """This host's certificate files: the stack CA's, and its own."""

    ca: str = "/etc/bo1/tls/ca.crt"
    cert: str = "/etc/bo1/tls/node.crt"
    key: str = "/run/bo1/tls/node.key"  # where key_handover puts it


# root's, as a container upload leaves every file; key_handover gives it to the process
KEY_UPLOAD = "/etc/bo1/tls/node.key.upload"


def key_handover(
    uploaded: str, key: str, argv: list[str], user: str = "postgres", group: str = ""
) -> list[str]:
    """A command that starts as root only to give the node's private key (``uploaded``) to
    ``user`` at ``key``, readable by that user alone (pgBackRest refuses a key that group
    or others may read), then becomes ``user`` and runs ``argv`` in its place (setpriv
    execs: signals reach ``argv``)."""
    group = group or user
    script = (
        'user=$1 group=$2 && install -D -o "$1" -g "$2" -m 0600 "$3" "$4" && shift 4'
        ' && exec setpriv --reuid="$user" --regid="$group" --init-groups "$@"'
    )
    return ["sh", "-c", script, "key-handover", user, group, uploaded, key, *argv]
