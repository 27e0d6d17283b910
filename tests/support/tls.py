"""A throwaway CA and node certificates, made with the openssl CLI, as the program's would be:
each certificate's CN is its node name, its subjectAltName the node's name and address."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bootstrap.ha.config import Node
from bootstrap.ha.tls import Tls

CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(folder: Path) -> tuple[Path, Path]:
    """(ca.crt, ca.key) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "ca.crt", folder / "ca.key"
    _openssl("req", "-x509", *CURVE, "-keyout", str(key), "-out", str(crt), "-days", "2",
             "-subj", "/CN=bo1-test-ca")  # fmt: skip
    return crt, key


def node_cert(folder: Path, ca: tuple[Path, Path], name: str, address: str) -> tuple[Path, Path]:
    """(node.crt, node.key) for ``name`` at ``address``, signed by ``ca``."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key, csr = folder / "node.crt", folder / "node.key", folder / "node.csr"
    ext = folder / "san.ext"
    # pgBackRest 2.45 matches the host it dials against the CN and DNS names only, never an
    # IP entry: the address is a DNS name too, as the program's certificates carry it.
    ext.write_text(f"subjectAltName=DNS:{name},DNS:{address},IP:{address}\n")
    _openssl("req", "-new", *CURVE, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return crt, key


def node_tls(folder: Path, ca: tuple[Path, Path], node: Node, owner: str = "postgres") -> Tls:
    """The node's certificate files in ``folder``, its key ``owner``'s alone (as
    key_handover leaves it in a container)."""
    crt, key = node_cert(folder, ca, node.name, node.address)
    shutil.chown(key, owner, owner)
    key.chmod(0o600)
    return Tls(ca=str(ca[0]), cert=str(crt), key=str(key))
