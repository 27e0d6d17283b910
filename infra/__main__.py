"""Entry point that `pulumi up` runs (Pulumi.yaml: main: infra/)."""

from infra.program import main

main()
