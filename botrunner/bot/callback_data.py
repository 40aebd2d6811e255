"""Typed callback data: a dataclass per kind of button that packs to `prefix:field:field` and back, and
the `Signer` that binds packed data to the user a button was made for.

    @dataclass
    class TaskView(CallbackData, prefix="task:v"):
        task_id: str

    TaskView("t1").pack()              -> "task:v:t1"
    TaskView.unpack("task:v:t1")       -> TaskView(task_id="t1"); None for anything malformed
    router.callback(TaskView)          -> handles data starting with "task:v:"
    TaskView.of(ctx)                   -> this update's (verified) data, or None

Fields are str, int or bool; missing trailing fields take their defaults; the last field keeps any
separator in its value. Telegram allows 64 bytes of callback data: `pack` refuses longer data.
A signed button's data is `<packed>~<sig>`, sig = HMAC(key, user id + packed) cut to 8 characters:
forged data and buttons pressed by another user fail `Signer.verify`. The middleware that verifies
puts the payload in `ctx.data[PAYLOAD]`, where `of(ctx)` looks first.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from typing import Any, ClassVar, TypeVar

from botrunner.bot.context import Context

MAX_DATA = 64                 # Telegram's limit on callback_data, in bytes
SIG_LEN = 8
SIG_SEP = "~"
SEP = ":"
PAYLOAD = "callback_payload"  # ctx.data key of the verified payload

T = TypeVar("T", bound="CallbackData")
_INT = re.compile(r"-?\d{1,18}")


class Signer:
    """Signs and verifies callback data with a key derived from a secret (the bot token)."""

    def __init__(self, secret: str) -> None:
        self.key = hashlib.sha256(b"botrunner-callback-data:" + secret.encode()).digest()

    def _sig(self, user_id: int, payload: str) -> str:
        digest = hmac.new(self.key, f"{user_id}:{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:SIG_LEN]

    def sign(self, user_id: int, payload: str) -> str:
        if SIG_SEP in payload:
            raise ValueError(f"callback payload may not contain {SIG_SEP!r}: {payload!r}")
        data = f"{payload}{SIG_SEP}{self._sig(user_id, payload)}"
        if len(data.encode()) > MAX_DATA:
            raise ValueError(f"callback data too long: {data!r}")
        return data

    def verify(self, user_id: int | None, data: str | None) -> str | None:
        """The payload if `data` was signed for this user, else None."""
        if user_id is None or not data or len(data.encode()) > MAX_DATA or SIG_SEP not in data:
            return None
        payload, _, sig = data.rpartition(SIG_SEP)
        return payload if hmac.compare_digest(sig, self._sig(user_id, payload)) else None


class CallbackData:
    """Base of typed callback data; subclasses are dataclasses declared with `prefix=`."""

    prefix: ClassVar[str] = ""

    def __init_subclass__(cls, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not prefix or SIG_SEP in prefix:
            raise ValueError(f"{cls.__name__} needs a prefix without {SIG_SEP!r}")
        cls.prefix = prefix

    @classmethod
    def _fields(cls) -> tuple[dataclasses.Field[Any], ...]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a @dataclass")
        return dataclasses.fields(cls)

    @classmethod
    def match_prefix(cls) -> str:
        """What `router.callback(cls)` matches: the prefix, plus the separator when there are fields."""
        return cls.prefix + SEP if cls._fields() else cls.prefix

    def pack(self) -> str:
        values = []
        for f in self._fields():
            value = getattr(self, f.name)
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            if SIG_SEP in text:
                raise ValueError(f"{type(self).__name__}.{f.name} may not contain {SIG_SEP!r}")
            values.append(text)
        packed = SEP.join([self.prefix, *values])
        if len(packed.encode()) > MAX_DATA - SIG_LEN - 1:
            raise ValueError(f"callback data too long once signed: {packed!r}")
        return packed

    @classmethod
    def unpack(cls: type[T], payload: str | None) -> T | None:
        """The data packed in `payload`, or None when it is not this kind or a field does not parse."""
        fields = cls._fields()
        if payload is None or not (payload == cls.prefix or payload.startswith(cls.prefix + SEP)):
            return None
        rest = payload[len(cls.prefix) + 1:]
        parts = rest.split(SEP, len(fields) - 1) if fields and payload != cls.prefix else []
        values: dict[str, Any] = {}
        for f, raw in zip(fields, parts):
            value = _convert(f, raw)
            if value is _INVALID:
                return None
            values[f.name] = value
        try:
            return cls(**values)
        except TypeError:                  # a required field is missing
            return None

    @classmethod
    def of(cls: type[T], ctx: Context) -> T | None:
        """This update's callback data as `cls` (the verified payload when a middleware checked it)."""
        return cls.unpack(ctx.data.get(PAYLOAD, ctx.callback_data))

    def sign(self, signer: Signer, user_id: int) -> str:
        return signer.sign(user_id, self.pack())


_INVALID = object()


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
    if kind == "int":
        return int(raw) if _INT.fullmatch(raw) else _INVALID
    if kind == "bool":
        return {"1": True, "0": False}.get(raw, _INVALID)
    return raw
