"""`bo1-infra redis-cleanup`: one SCAN pass, each batch judged and cleaned server-side.

batch.lua   the per-batch script: classify each key by the registry's rules, act or report
job         the SCAN loop: batches, counters, memory report (constant memory)
report      the summary for people or as JSON, and the exit code
commands    the CLI verb
"""
