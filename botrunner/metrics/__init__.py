"""Prometheus metrics, /healthz and /readyz for botrunner (docs/monitoring.md).

`record` holds the one-line hooks the pipeline calls; `definitions` the metrics themselves
(imported lazily); `multiproc` the per-process files the supervisor prepares; `cluster` the state
read from Redis at scrape time; `http` the endpoints. Importing this package imports nothing else.
"""
