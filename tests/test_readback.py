"""The read-back contract: every value the program gives Docker is already in the form the
engine and the provider read back, so a second `pulumi up` and a `pulumi refresh` show no
change (infra/specs/readback.py cites the provider and engine source of each row)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.specs.readback import CONTRACT, RESOURCE_TYPES, go_duration, problems
from tests.support.pulumi_harness import ProgramRun, run_program, stack_config, unwrap

STACKS = ("dev", "staging", "prod", "prod-ha")


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(request.param, stack_config(request.param))


def test_every_input_of_every_container_volume_and_network_is_stable(
    stack_run: ProgramRun,
) -> None:
    checked = 0
    for registration in stack_run.registrations:
        resource = RESOURCE_TYPES.get(registration.type)
        if resource is None:
            continue
        assert problems(resource, unwrap(registration.inputs)) == [], registration.name
        checked += 1
    # Three containers (Postgres, the pooler, Redis), three volumes (the data volumes
    # and Postgres's socket), one network; with backups also the sidecar and the repository.
    # prod-ha: 17 containers and 14 volumes on three nodes (each container's data volume
    # but those of the poolers, HAProxies and pgBackRest servers, the backup repository's,
    # and a socket volume on each node), no network.
    backups = any(r.name.endswith("-backup") for r in stack_run.registrations)
    ha = any(r.type == "pulumi:providers:docker" and "-db-a-" in r.name
             for r in stack_run.registrations)  # fmt: skip
    assert checked == (31 if ha else 9 if backups else 7)


def test_every_row_cites_its_source() -> None:
    for row in CONTRACT:
        assert row.source and row.read_back, row.path
    assert len({(row.resource, row.path) for row in CONTRACT}) == len(CONTRACT)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (5, "5s"), (59, "59s"), (60, "1m0s"), (90, "1m30s"),
                          (120, "2m0s"), (3600, "1h0m0s"), (3725, "1h2m5s")],
)  # fmt: skip
def test_durations_are_written_as_go_prints_them(seconds: int, text: str) -> None:
    assert go_duration(seconds) == text


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        target = inputs
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_set("healthcheck.interval", "60s"), "reads back as '1m0s'"),
        (_set("healthcheck.retries", 0), "the image's value"),
        (_set("memorySwap", None), "memorySwap is not set"),
        (_set("destroyGraceSeconds", None), "0 s stop"),
        (
            _set("ports", [{"internal": 5432, "external": 5432, "ip": "0.0.0.0"}]),
            "per address family",
        ),
        (_set("image", "pgvector/pgvector:pg15"), "the full image id"),
        (_set("logOpts", {"max-file": 3}), "strings"),
        (_set("cpuShares", 512), "no row in the read-back contract"),
    ],
)
def test_the_contract_catches_what_a_real_engine_would_change(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    run = run_program("dev", stack_config("dev"))
    (postgres,) = [
        r for r in run.of_type("docker:index/container:Container") if r.name == "bo1-dev-postgres"
    ]
    inputs = copy.deepcopy(unwrap(postgres.inputs))
    assert problems("container", inputs) == []
    change(inputs)
    found = problems("container", inputs)
    assert len(found) == 1 and problem in found[0], found
