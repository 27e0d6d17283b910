"""Run the real Pulumi program under Pulumi's own mocks and record everything it registers.

``RecordingMonitor`` extends the SDK's mock monitor to keep each registration's
options (parent, dependencies, retain_on_delete, ...), which ``Mocks.new_resource``
never sees. Inputs keep Pulumi's secret markers, so tests can tell secret
values from plain ones.
"""

from __future__ import annotations

import hashlib
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from bootstrap import paths
from bootstrap.stack_secrets.catalogue import load as load_catalogue
from infra.settings import stack_file_config

ROOT = paths.ROOT
PROGRAM = ROOT / "infra" / "__main__.py"


def stack_config(stack: str) -> dict[str, str]:
    """The stack's YAML config as Pulumi hands it to a program: every value a string."""
    return stack_file_config(stack, ROOT)


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    provider: str
    retain_on_delete: bool
    delete_before_replace: bool
    protect: bool


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = "sha256:" + hashlib.sha256(args.name.encode()).hexdigest()
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = generated_password(args.name)
        if args.typ == "command:local:Command":
            outputs["stdout"] = "Bootstrap of stack: done, nothing changed."
        outputs |= _tls_outputs(args.typ, args.name)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def _tls_outputs(typ: str, name: str) -> dict[str, str]:
    """What pulumi-tls would make, as recognisable stand-ins the tests can hunt for."""
    if typ == "tls:index/privateKey:PrivateKey":
        return {"privateKeyPem": generated_private_key(name)}
    if typ in (
        "tls:index/selfSignedCert:SelfSignedCert",
        "tls:index/locallySignedCert:LocallySignedCert",
    ):
        return {"certPem": f"-----BEGIN CERTIFICATE----- {name} -----END CERTIFICATE-----"}
    if typ == "tls:index/certRequest:CertRequest":
        return {"certRequestPem": f"-----BEGIN CERTIFICATE REQUEST----- {name}"}
    return {}


def generated_private_key(resource_name: str) -> str:
    """What the mock PrivateKey 'generates': secret, so the tests hunt for it too."""
    return (
        f"-----BEGIN PRIVATE KEY----- {generated_password(resource_name)} -----END PRIVATE KEY-----"
    )


def generated_password(resource_name: str) -> str:
    """What the mock RandomPassword 'generates': known to the tests, so they can hunt for it."""
    return "GEN" + hashlib.sha256(resource_name.encode()).hexdigest()[:29]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=rpc.deserialize_properties(request.object),
                    dependencies=list(request.dependencies),
                    provider=request.provider,
                    retain_on_delete=request.retainOnDelete,
                    delete_before_replace=request.deleteBeforeReplace,
                    protect=request.protect,
                )
            )
        return response


@dataclass
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, pulumi.Output[Any]] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str, type_: str | None = None) -> Registration:
        matches = [r for r in self.registrations if r.name == name and type_ in (None, r.type)]
        assert len(matches) == 1, (name, [r.name for r in self.registrations])
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


class ProgramFailed(Exception):
    """The program raised; ``registrations`` shows what it had registered before that."""

    def __init__(self, error: BaseException, registrations: list[Registration]) -> None:
        super().__init__(str(error))
        self.error = error
        self.registrations = registrations


REQUIRED_SECRETS = {
    s.key: f"test-{s.key}-Zq81" for s in load_catalogue().secrets if s.kind == "required"
}


def run_program(
    stack: str,
    config: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
    *,
    with_required: bool = True,
    docker_secrets: Mapping[str, str] | None = None,
) -> ProgramRun:
    """Run infra/__main__.py for ``stack`` with ``config`` (and secret config) under mocks.

    Like a real user, the run sets the catalogue's required secrets (the API keys)
    unless ``with_required`` is False. A program error is re-raised as
    ``ProgramFailed`` carrying the registrations so far.
    """
    secrets = {**(REQUIRED_SECRETS if with_required else {}), **(secrets or {})}
    monitor = RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(
        Mocks(), project="bo1-infra", stack=stack, preview=False, monitor=monitor
    )
    secret_config = {
        **{f"bo1-infra:{k}": v for k, v in (secrets or {}).items()},
        **{f"docker:{k}": v for k, v in (docker_secrets or {}).items()},
    }
    pulumi.runtime.set_all_config({**config, **secret_config}, secret_keys=list(secret_config))
    run = ProgramRun(monitor.registrations)

    @pulumi.runtime.test  # type: ignore[misc]
    def execute() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        run.outputs = dict(getattr(root, "outputs", {}) or {})

    try:
        execute()
    except Exception as exc:
        raise ProgramFailed(exc, monitor.registrations) from exc
    return run


def resolve(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    """(value, is_secret) of an Output, after the program has finished."""
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(output.future()), bool(_sync_await(output.is_secret()))


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in an input that is NOT inside a secret marker."""
    if rpc.is_rpc_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from plain_strings(v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from plain_strings(item)


def unwrap(value: Any) -> Any:
    """The input with secret markers removed (values kept), for asserting on content."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
