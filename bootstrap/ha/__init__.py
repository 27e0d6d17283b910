"""High availability: Patroni + etcd for Postgres, Sentinel for Redis (pure renderings).

config    etcd's command line and patroni.yml; the Patroni release the image and the
          tests run
sentinel  a Redis data node's replication settings and extra ACL users, sentinel.conf

Proven on the real binaries by tests/test_ha_patroni.py and tests/test_ha_sentinel.py
(tests/support/ha.py starts the clusters); infra/specs/ha.py puts them in containers.
"""
