"""Every exception the runner raises on purpose, in one place (the emulator keeps its own).

Each says who raised it and what the catcher does with it: the supervisor halts on `HaltServer`,
a worker exits with its boot-error code on `BootError`, the poller stops on `FatalApiError`, and
so on. Operator-facing ones carry the one line to show (`str(error)`).
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; str(error) is the one line shown to the operator."""


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be started."""


class HaltServer(Exception):
    """Stop the supervisor with this exit code and reason."""

    def __init__(self, reason: str, exit_status: int = 1) -> None:
        super().__init__(reason)
        self.reason, self.exit_status = reason, exit_status


class BootError(Exception):
    """The worker cannot start at all (bad handlers module, failing startup hook)."""


class ApiError(Exception):
    """The Bot API answered ok=false to one of the poller's raw calls."""

    def __init__(self, method: str, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


class FatalApiError(Exception):
    """The Bot API rejected the token (401): no worker can do anything useful; stop everything."""


class LeaseLost(Exception):
    """Intake refused the batch: the poll lease value is no longer ours."""


class NotReplicated(Exception):
    """WAIT found fewer replicas holding the batch than INTAKE_WAIT_REPLICAS: the poller does not confirm it."""


class LaneLost(Exception):
    """This worker no longer owns the lane: it must not send or acknowledge for it (the processor leaves
    the entry to the lane's next owner)."""


class HandlerTimeout(Exception):
    """A handler ran past HANDLER_TIMEOUT_S; its thread was abandoned (the processor dead-letters the update)."""


class Unparseable(Exception):
    """The stored update is not a Telegram Update we can build a context from."""


class OperatorError(Exception):
    """A failure with a known cause and fix; str(error) is the whole line shown to the operator."""


class UnsafePipeline(OperatorError):
    """The pipeline Redis or the database layout can lose or split updates."""

    exit_status = 2        # like a configuration error: a restart cannot fix it


class JourneyFailed(Exception):
    """A demo journey step got no (suitable) answer in time."""


class LoadTestError(RuntimeError):
    """The target cannot be load-tested (not a local Bot API server, no bot polling)."""
