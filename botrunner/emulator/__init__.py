"""botrunner's local Bot API server: a fast, faithful stand-in for api.telegram.org.

    serve(host, port, **options)            blocking; what `botrunner emulator` runs
    running_emulator(port=0, **options)     context manager, server in a background thread (.url)
    client.ControlClient(base_url)          the control plane (inject updates, read replies, faults)

Options are the fields of `EmulatorOptions` (callback_ttl, webhook_retry_base, ...) plus `flood=`
(a FloodLimits or dict) or `flood_<name>=` for one flood value. See docs/emulator.md.
"""
from botrunner.emulator.options import EmulatorOptions, FloodLimits
from botrunner.emulator.server import RunningEmulator, running_emulator, serve

__all__ = ["EmulatorOptions", "FloodLimits", "RunningEmulator", "running_emulator", "serve"]
