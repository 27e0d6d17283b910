"""High availability with Patroni + etcd for Postgres (Sentinel for Redis to follow).

config   (pure) etcd's command line and patroni.yml, proven on the real binaries by
         tests/test_ha_patroni.py
"""
