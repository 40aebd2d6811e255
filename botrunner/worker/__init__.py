"""The worker process: lifecycle after fork, heartbeat, wiring of the pipeline stages."""
