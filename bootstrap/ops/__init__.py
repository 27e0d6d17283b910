"""Verbs that combine concerns: bootstrap, verify, status and the generated docs."""
