"""bo1-infra's live side: everything that runs against PostgreSQL and Redis, and the CLI.

One folder per concern; a newcomer finds a concern by its folder name:

  postgres/       connect (the DSN edge, the superuser login), roles, scram, tenancy
  redisdb/        connect, keys (the key-family registry), users (ACL), sizes, cleanup/
  stack_secrets/  the secret catalogue (secrets/catalogue.toml), its schema, its inputs
  appenv/         the app's environment: model, env_file (written and read here), urls
  migrate/        the SQL migration runner: files, plan, lock, runner, commands
  personas/       the persona catalogue: data file, schema, seeding, commands
  remote/         reaching a stack on another Docker host (ssh tunnel, tcp)
  backup/         pgBackRest and Redis snapshots: policy (the rendered files and
                  scripts/), pgbackrest (the backup host edge), restore, redis_restore,
                  last_drill, commands
  pooler/         PgBouncer: config (pgbouncer.ini, hba, the auth file of shared SCRAM
                  verifiers), console (its admin console, read by verify and status)
  ha/             high availability (issue #14, in progress): config renders etcd's
                  arguments and patroni.yml, sentinel the Redis replication settings,
                  its ACL users and sentinel.conf
  ops/            verbs that combine concerns: bootstrap, verify, status, docs

and a few shared modules: cli (the verb table), errors, masking, validated,
paths (the project root and its well-known files) and stack (a stack's declared
settings, read through infra.settings, which is pure pydantic).

Import rule: ops/ -> concern folders -> {errors, masking, paths, validated, stack}.
A concern folder never imports ops/ or cli. infra/ may use the vocabulary
(catalogue, app env model, roles, scram, key registry, users, sizes, backup policy,
pooler config, paths, errors)
but never ops/ or a ``connect`` module. Nothing here imports pulumi.
"""
