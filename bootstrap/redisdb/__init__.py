"""Redis (named so, never ``redis``, which would shadow the client library).

connect   the REDIS_URL edge: connect (with --wait), describe without the password
keys      the key-family registry: ACL patterns, TTLs, cleanup rules, docs
users     the ACL user names
sizes     Redis memory sizes ('256mb') as Redis reads them
cleanup/  `bo1-infra redis-cleanup`
"""
