"""The HTTP front: one aiohttp application per worker process, with routes mounted by features.

    server.FEATURES       the feature modules; each has enabled(settings) and mount(app, env)
    env.WebEnv            what a feature gets when it mounts (settings, the worker's Redis, keys)
    server.start_web(env) started by the worker on its own event loop, only when a feature is on

See docs/webhook.md for the webhook feature and the nginx in front of it.
"""
from botrunner.web.env import WebEnv

__all__ = ["WebEnv"]
