"""The certificates an ha stack's nodes prove themselves with (etcd's mutual TLS between
members and with Patroni, pgBackRest's between hosts): the stack's own CA and one
certificate per node, made by pulumi-tls and kept (private keys as secrets) in the
stack's state, renewed by `pulumi up` once they come within a month of expiry.

Each certificate's CN is its node name (what the servers' ``tls-server-auth`` names) and
its subjectAltName holds the name and the address, as an IP (what etcd's peers and
Patroni verify) and also as a DNS name: pgBackRest matches the host it dials against the
CN and DNS names only (bootstrap/ha/backup.py).
"""

from __future__ import annotations

import pulumi
import pulumi_tls as tls

from infra.settings import HaNodeSetting
from infra.specs.ha import TLS_CA, tls_cert, tls_key

YEAR_HOURS = 365 * 24
CA_VALIDITY_HOURS = 10 * YEAR_HOURS
NODE_VALIDITY_HOURS = 2 * YEAR_HOURS
RENEW_BEFORE_HOURS = 30 * 24


class HaTls(pulumi.ComponentResource):
    values: dict[str, pulumi.Output[str]]  # by the names infra/specs/ha.py gives them

    def __init__(
        self,
        name: str,
        nodes: list[HaNodeSetting],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bo1:infra:HaTls", name, None, opts)
        mine = pulumi.ResourceOptions(parent=self)
        authority = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256",
                                   opts=mine)  # fmt: skip
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=authority.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{name} CA"),
            is_ca_certificate=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=RENEW_BEFORE_HOURS,
            allowed_uses=["cert_signing", "crl_signing"],
            opts=mine,
        )
        self.values = {TLS_CA: ca.cert_pem}
        for node in nodes:
            key = tls.PrivateKey(f"{name}-{node.name}-key", algorithm="ECDSA",
                                 ecdsa_curve="P256", opts=mine)  # fmt: skip
            request = tls.CertRequest(
                f"{name}-{node.name}-csr",
                private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=node.name),
                dns_names=[node.name, node.address],
                ip_addresses=[node.address],
                opts=mine,
            )
            cert = tls.LocallySignedCert(
                f"{name}-{node.name}-cert",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=authority.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=NODE_VALIDITY_HOURS,
                early_renewal_hours=RENEW_BEFORE_HOURS,
                # every host is a server (its TLS server) and a client (of the others')
                allowed_uses=["digital_signature", "key_encipherment", "server_auth",
                              "client_auth"],
                opts=mine,
            )  # fmt: skip
            self.values[tls_cert(node.name)] = cert.cert_pem
            self.values[tls_key(node.name)] = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"ca": ca.cert_pem})
