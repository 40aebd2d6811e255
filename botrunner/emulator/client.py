"""ControlClient: a small synchronous client for the control plane (tests, demo, load test, benchmarks).

Every method returns the `result` of the control endpoint (plain dicts/lists) and raises
`ControlError` when the server answers ok=false.
"""
from __future__ import annotations

from typing import Any

import httpx


class ControlError(RuntimeError):
    """The control plane refused a request; `.code` is the HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class ControlClient:
    """Talks to `<base_url>/__control/...`, e.g. ControlClient("http://127.0.0.1:8081")."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        # shared by many threads (the demo's and load test's users): with a bounded pool, httpcore's sync
        # pool can close a connection it has just handed to a waiting thread (surplus keep-alive, or room
        # made at max_connections; encode/httpcore#1110), which surfaced as "ReadError [Errno 9] Bad file
        # descriptor" in `make demo` (32 threads, 20 keep-alive). Unbounded, it never closes one for room;
        # the connections are as many as the threads using the client at once.
        self.http = httpx.Client(base_url=self.base_url + "/__control", timeout=timeout,
                                 limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, verb: str, path: str, body: dict[str, Any] | None = None,
              timeout: float | None = None) -> Any:
        response = self.http.request(verb, path, json=body if verb != "GET" else None,
                                     params=_clean(body or {}) if verb == "GET" else None,
                                     timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout)
        payload = response.json()
        if not payload.get("ok"):
            raise ControlError(payload.get("error_code", response.status_code), payload.get("description", ""))
        return payload["result"]

    # ---- injecting updates: each returns {"update_id", "filtered", "inject_time", "inject_monotonic", ...}

    def inject_message(self, token: str, user_id: int, text: str, **fields: Any) -> dict[str, Any]:
        """A text message; fields: chat_id, chat_type, title, first_name, username, language_code,
        is_premium (remembered for the user's later updates), entities, reply_to_message_id.
        Result adds message_id and chat_id."""
        return self._call("POST", "/inject/message", {"token": token, "user_id": user_id, "text": text, **fields})

    def inject_command(self, token: str, user_id: int, command: str, args: str = "", **fields: Any) -> dict[str, Any]:
        """"/command args" with a bot_command entity (mention=True adds @botusername)."""
        return self._call("POST", "/inject/command",
                          {"token": token, "user_id": user_id, "command": command, "args": args, **fields})

    def inject_callback(self, token: str, user_id: int, message_id: int, data: str,
                        chat_id: int | None = None) -> dict[str, Any]:
        """A button press on a message the bot sent; result adds callback_query_id."""
        return self._call("POST", "/inject/callback", _clean(
            {"token": token, "user_id": user_id, "message_id": message_id, "data": data, "chat_id": chat_id}))

    def inject_chat_member(self, token: str, chat_id: int, user_id: int, new_status: str,
                           old_status: str | None = None, update_type: str = "chat_member",
                           **fields: Any) -> dict[str, Any]:
        """A chat_member (or my_chat_member) update; also changes what getChatMember reports."""
        return self._call("POST", "/inject/chat_member", _clean(
            {"token": token, "chat_id": chat_id, "user_id": user_id, "new_status": new_status,
             "old_status": old_status, "update_type": update_type, **fields}))

    def inject_raw(self, token: str, update: dict[str, Any], keep_update_id: bool = False,
                   chat_id: int | None = None) -> dict[str, Any]:
        """Any dict as an update; update_id is assigned unless keep_update_id."""
        return self._call("POST", "/inject/raw", _clean(
            {"token": token, "update": update, "keep_update_id": keep_update_id, "chat_id": chat_id}))

    def inject_batch(self, token: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many updates in one request; each item is {"kind": "message"|"command"|..., fields}."""
        return self._call("POST", "/inject/batch", {"token": token, "items": items})

    # ---- reading what the bot did

    def sent(self, token: str, chat_id: int, after_index: int = -1) -> list[dict[str, Any]]:
        """The chat's log in order: {"index", "method", "text", "message", "time", "monotonic", "since_inject"}."""
        return self._call("GET", "/sent", {"token": token, "chat_id": chat_id, "after_index": after_index})

    def wait_for_message(self, token: str, chat_id: int, after_index: int = -1, timeout: float = 10.0,
                         methods: list[str] | None = None, since: float | None = None) -> dict[str, Any] | None:
        """The first log entry with index > after_index (of `methods`, if given; made at or after `since`,
        the server's monotonic time, if given); None after `timeout` s."""
        body = _clean({"token": token, "chat_id": chat_id, "after_index": after_index, "timeout": timeout,
                       "methods": methods, "since": since})
        return self._call("POST", "/wait", body, timeout=timeout + 10.0)

    def poll_stats(self, token: str) -> dict[str, Any]:
        """{"total_calls", "conflicts", "in_flight", "max_concurrent", "calls": [...]}."""
        return self._call("GET", "/poll_stats", {"token": token})

    def state(self, token: str) -> dict[str, Any]:
        """A summary: pending updates, next update_id, webhook, chats, blocked users, commands."""
        return self._call("GET", "/state", {"token": token})

    def file(self, token: str, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded."""
        response = self.http.get("/file", params={"token": token, "file_id": file_id})
        if response.status_code != 200:
            raise ControlError(response.status_code, response.text)
        return response.content

    # ---- shaping the world

    def set_member(self, token: str, chat_id: int, user_id: int, status: str, **fields: Any) -> dict[str, Any]:
        """Membership for getChatMember (creator|administrator|member|restricted|left|kicked);
        fields: chat_type, title, username, until_date. Returns the previous status too."""
        return self._call("POST", "/member", {"token": token, "chat_id": chat_id, "user_id": user_id,
                                              "status": status, **fields})

    def set_chat(self, token: str, chat_id: int, type: str | None = None, title: str | None = None,
                 username: str | None = None) -> dict[str, Any]:
        """Declare a group/channel (so "@username" and getChat work)."""
        return self._call("POST", "/chat", _clean({"token": token, "chat_id": chat_id, "type": type,
                                                   "title": title, "username": username}))

    def set_blocked(self, token: str, user_id: int, blocked: bool = True, reason: str = "blocked") -> dict[str, Any]:
        """The user blocked the bot (403 on sends); reason "deactivated" gives "user is deactivated"."""
        return self._call("POST", "/blocked", {"token": token, "user_id": user_id, "blocked": blocked,
                                               "reason": reason})

    def set_flood_limits(self, **limits: Any) -> dict[str, Any]:
        """enabled, chat_rate, chat_burst, group_per_minute, global_rate, global_burst; returns them all."""
        return self._call("POST", "/flood", limits)

    def flood_limits(self) -> dict[str, Any]:
        return self._call("GET", "/flood")

    def add_fault(self, method: str, error_code: int | None = None, description: str | None = None,
                  times: int | None = 1, match: dict[str, Any] | None = None, retry_after: int | None = None,
                  delay: float = 0.0, token: str | None = None) -> int:
        """Script a fault (times=None: until cleared); returns its id."""
        body = {"method": method, "error_code": error_code, "description": description, "times": times,
                "match": match or {}, "retry_after": retry_after, "delay": delay, "token": token}
        return self._call("POST", "/faults", body)["id"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def clear_faults(self, token: str | None = None) -> int:
        """Remove all faults (or those of `token`); returns how many were removed."""
        return self._call("POST", "/faults/clear", _clean({"token": token}))["removed"]

    def reset(self, token: str | None = None) -> None:
        """Forget one token's state, or everything (tokens, faults, flood limits)."""
        self._call("POST", "/reset", _clean({"token": token}))

    def jump_update_id(self, token: str, next_update_id: int | None = None) -> int:
        """Set the next update_id (default: one million higher); returns it."""
        return self._call("POST", "/update_id", _clean({"token": token, "next_update_id": next_update_id}))[
            "next_update_id"]

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")
