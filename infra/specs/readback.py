"""The read-back contract: what the Docker engine and the provider store for each input.

pulumi-docker 5.x bundles terraform-provider-docker 4.5.0, which ends every
create with a read of the live container: what it stores is the engine's form
of each value, not ours. Where the two differ, the next `pulumi up` (and every
`pulumi refresh`) shows a change that never goes away, or replaces the
container. So every input the program sets has a row here, with the form it is
read back in and the source that says so; tests/test_readback.py renders every
stack and checks each value is already in that form (``stable(value) == value``).

Sources are files of terraform-provider-docker at tag v4.5.0 under
``internal/provider/`` (F = resource_docker_container_funcs.go, S =
resource_docker_container_structures.go, C = resource_docker_container.go,
V = resource_docker_volume.go, N = resource_docker_network_funcs.go), and the
Docker engine (moby) where it changes a value on the way in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def go_duration(seconds: int) -> str:
    """Go's time.Duration.String() of whole seconds: 5 -> "5s", 60 -> "1m0s", 3600 -> "1h0m0s"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _duration_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match or not text:
        raise ValueError(f"not a whole-second duration: {text!r}")
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def _as_go_duration(value: Any) -> Any:
    return go_duration(_duration_seconds(str(value)))


def _same(value: Any) -> Any:
    return value


def _positive(value: Any) -> Any:
    # 0 means "inherit": the engine fills it from the image and reads that back.
    # (Numbers cross Pulumi's wire as floats: 10 arrives as 10.0.)
    whole = isinstance(value, (int, float)) and value == int(value)
    return value if whole and value > 0 else "the image's value"


def _full_image_id(value: Any) -> Any:
    return value if re.fullmatch(r"sha256:[0-9a-f]{64}", str(value)) else "the full image id"


def _ports(value: Any) -> Any:
    # Read from the runtime port map, one entry per binding, HostIP verbatim; a wildcard
    # address gives one binding per address family on a dual-stack host (issue #909).
    entries = [dict(p) for p in value or []]
    for entry in entries:
        entry.setdefault("protocol", "tcp")
        if entry.get("ip") in (None, "", "0.0.0.0", "::"):
            entry["ip"] = "a binding per address family"
    return sorted(entries, key=lambda e: int(e["internal"]))


def _permissions(value: Any) -> Any:
    files = [dict(f) for f in value or []]
    for f in files:
        if not re.fullmatch(r"0[0-7]{3}", str(f.get("permissions"))):
            f["permissions"] = "rejected: must match ^0[0-7]{3}$"
    return files


def _string_values(value: Any) -> Any:
    return {str(k): str(v) for k, v in dict(value).items()}


def _no_empty_arguments(value: Any) -> Any:
    return [arg for arg in value if arg != ""]


def _only_our_labels(value: Any) -> Any:
    # Read back in full and not Computed: a label the engine adds would be a change.
    return [entry for entry in value if not str(entry["label"]).startswith("com.docker.")]


def _restart_policy(value: Any) -> Any:
    return value if value in ("no", "on-failure", "always", "unless-stopped") else "rejected"


@dataclass(frozen=True)
class Row:
    resource: str  # container, volume, network
    path: str  # the input's name as Pulumi registers it; "a.b" for a nested field
    stable: Callable[[Any], Any]  # the value as it is read back
    read_back: str  # in words
    source: str
    required: bool = False  # left out, the engine's default is read back: a change


CONTAINER, VOLUME, NETWORK = "container", "volume", "network"
_READ = "F resourceDockerContainerRead"

CONTRACT = (
    Row(CONTAINER, "name", _same, "as given", f"{_READ} L763-779"),
    Row(CONTAINER, "image", _full_image_id,
        "the full image id when given one (sha256:...), else Config.Image",
        f"{_READ} L837-845; a tag or short id reads back as the full id: ForceNew"),
    Row(CONTAINER, "command", _no_empty_arguments, "Config.Cmd verbatim; empty elements refused",
        "F resourceDockerContainerCreate L83-90, Read L849"),
    Row(CONTAINER, "envs", _same, "not read back (the engine merges the image's env)",
        f"{_READ} comment L893-898"),
    Row(CONTAINER, "labels", _same, "not read back (the engine merges the image's labels)",
        f"{_READ} comment L893-898"),
    Row(CONTAINER, "uploads", _permissions, "not read back; permissions must match ^0[0-7]{3}$",
        "C schema L987-1043; F L505-582, L959"),
    Row(CONTAINER, "ports", _ports,
        "runtime port map: one entry per binding, sorted by port, HostIP verbatim",
        "F Read L797-806; S flattenContainerPorts L17-59; engine: a wildcard address binds per"
        " address family (terraform-provider-docker issue 909, unfixed in 4.5.0)"),
    Row(CONTAINER, "healthcheck.tests", _same, "Config.Healthcheck.Test verbatim",
        f"{_READ} L960-971"),
    Row(CONTAINER, "healthcheck.interval", _as_go_duration, "Go Duration.String(): 60s -> 1m0s",
        f"{_READ} L964-967", required=True),
    Row(CONTAINER, "healthcheck.timeout", _as_go_duration, "Go Duration.String()",
        f"{_READ} L964-967", required=True),
    Row(CONTAINER, "healthcheck.startPeriod", _as_go_duration, "Go Duration.String()",
        f"{_READ} L964-967", required=True),
    Row(CONTAINER, "healthcheck.retries", _positive, "as given; 0 inherits the image's",
        f"{_READ} L968; engine: moby daemon/commit.go merge()", required=True),
    Row(CONTAINER, "wait", _same, "not read back (create only)", "F L590-628"),
    Row(CONTAINER, "waitTimeout", _same, "not read back (create only)", "F L590-628"),
    Row(CONTAINER, "mustRun", _same, "false when the container is found stopped",
        f"{_READ} L812-824"),
    Row(CONTAINER, "restart", _restart_policy, "HostConfig.RestartPolicy.Name",
        f"{_READ} L857; C L230-236"),
    Row(CONTAINER, "stopTimeout", _same, "Config.StopTimeout", f"{_READ} L978", required=True),
    Row(CONTAINER, "destroyGraceSeconds", _positive,
        "not read back; unset means a 0 s stop on destroy and on replace",
        "F resourceDockerContainerDelete L1085-1098", required=True),
    Row(CONTAINER, "memory", _same, "HostConfig.Memory / 1 MiB", f"{_READ} L932"),
    Row(CONTAINER, "memorySwap", _positive,
        "HostConfig.MemorySwap / 1 MiB; unset, the engine stores twice the memory (a change on"
        " every up); equal to memory needs swap-limit support on the host (cgroup v2 has it)",
        f"{_READ} L940-944; engine: moby daemon_unix.go adaptContainerSettings", required=True),
    Row(CONTAINER, "shmSize", _same, "HostConfig.ShmSize / 1 MiB", f"{_READ} L945"),
    Row(CONTAINER, "logDriver", _same, "HostConfig.LogConfig.Type", f"{_READ} L951"),
    Row(CONTAINER, "logOpts", _string_values,
        "HostConfig.LogConfig.Config, strings; the daemon's own log-opts are merged in",
        f"{_READ} L952, L983-989; engine: moby mergeAndVerifyLogConfig", required=True),
    Row(CONTAINER, "volumes", _same, "not read back", f"{_READ} L882"),
    Row(CONTAINER, "init", _same, "HostConfig.Init; unset is sent and read back as false",
        f"F resourceDockerContainerCreate L447-448, {_READ} L860-867"),
    Row(CONTAINER, "user", _same, "Config.User verbatim; unset (\"\") is a no-op",
        f"C schema L181-195; F resourceDockerContainerCreate L96-97, {_READ} L851"),
    Row(CONTAINER, "stopSignal", _same, "Config.StopSignal verbatim; unset: the image's (Computed)",
        f"C schema L314-320; F resourceDockerContainerCreate L75, {_READ} L977"),
    Row(CONTAINER, "ulimits", _same, "HostConfig.Ulimits verbatim (read only when set)",
        f"C schema L561-590; F resourceDockerContainerCreate L117-119, L282-283, {_READ} L887-889"),
    Row(CONTAINER, "networkMode", _same, "HostConfig.NetworkMode verbatim; unset: bridge",
        "C schema L901-907; F resourceDockerContainerCreate L392-398, Read L954"),
    Row(CONTAINER, "networksAdvanced", _same, "not read back (engine aliases never reach state)",
        f"{_READ} L788-796"),
    Row(VOLUME, "name", _same, "as given", "V resourceDockerVolumeRead L288-312"),
    Row(VOLUME, "labels", _only_our_labels, "every label the engine reports",
        "V resourceDockerVolumeRead L309; H mapToLabelSet L46-55"),
    Row(NETWORK, "name", _same, "as given", "N resourceDockerNetworkReadRefreshFunc L160-203"),
    Row(NETWORK, "labels", _only_our_labels, "every label the engine reports",
        "N resourceDockerNetworkReadRefreshFunc L176"),
)  # fmt: skip

# What the contract covers, by the resource types the program registers.
RESOURCE_TYPES = {
    "docker:index/container:Container": CONTAINER,
    "docker:index/volume:Volume": VOLUME,
    "docker:index/network:Network": NETWORK,
}


def problems(resource: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every input of one resource that is not in its read-back form, or has no row."""
    rows = {row.path: row for row in CONTRACT if row.resource == resource}
    given = dict(_flatten(inputs))
    found = [
        f"{resource}.{path} is not set, and then {row.read_back}"
        for path, row in rows.items()
        if row.required and given.get(path) is None
    ]
    for path, value in _flatten(inputs):
        row = rows.get(path)
        if row is None:
            found.append(f"{resource}.{path}: no row in the read-back contract")
        elif row.stable(value) != value:
            found.append(
                f"{resource}.{path} = {value!r} reads back as {row.stable(value)!r}"
                f" ({row.read_back}; {row.source})"
            )
    return found


def _flatten(inputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in inputs.items():
        if key == "healthcheck" and isinstance(value, Mapping):
            out += [(f"healthcheck.{k}", v) for k, v in value.items()]
        else:
            out.append((key, value))
    return out
