"""A WebSocket session after the 101: ``echo``, or a ``script`` of sends, receives, pings and
sleeps, as session actions the WebSocket edge carries out."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from fakeorigin.core.actions import Note, Wait
from fakeorigin.core.journal import Event
from fakeorigin.core.profile import (
    MAX_CLOSE_REASON_BYTES,
    ScriptClose,
    ScriptPing,
    ScriptReceive,
    ScriptSend,
    WebSocket,
)
from fakeorigin.core.session_actions import (
    AwaitMessage,
    CloseSession,
    Message,
    SendMessage,
    SendPing,
    SessionAction,
)

Session = Generator[SessionAction, Message | None, bool]


def run_session(spec: WebSocket) -> Generator[SessionAction, Message | None, None]:
    """The actions of a WebSocket session after the 101; resume it with ``send(message)``
    after an :class:`AwaitMessage` (None when it timed out), else with ``send(None)``.

    ``echo`` awaits and returns every message for ever (the client, ``close_after`` or
    ``--max-duration`` ends it); a ``script`` runs its actions and closes with 1000 unless
    one of them closed first.
    """
    if spec.mode == "echo":
        while True:
            message = yield AwaitMessage(None)
            if message is not None:
                yield SendMessage(message)
    for action in spec.script:
        handler = _SCRIPT_HANDLERS[action.kind]
        if (yield from handler(getattr(action, action.kind))):
            return
    yield CloseSession(1000, "")


def _send(spec: ScriptSend) -> Session:
    data, binary = spec.payload()
    yield SendMessage(Message(data, binary))
    return False


def _describe(data: bytes, binary: bool) -> str:
    if binary:
        return f"a binary message of {len(data)} bytes"
    text = data.decode("utf-8", "replace")
    return f"the text {text[:40]!r}" + ("..." if len(text) > 40 else "")


def _receive(spec: ScriptReceive) -> Session:
    message = yield AwaitMessage(spec.timeout)
    expected = spec.expected()
    if message is None:
        why = f"no message within {spec.timeout} s"
    elif expected is None or (message.data, message.binary) == expected:
        return False
    else:
        why = f"expected {_describe(*expected)}, got {_describe(message.data, message.binary)}"
    yield Note(Event.WEBSOCKET_MISMATCH, None, why)
    reason = why.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")
    yield CloseSession(1008, reason)  # RFC 6455 section 7.4.1: policy violation
    return True


def _script_sleep(seconds: float) -> Session:
    yield Wait(seconds)
    return False


def _ping(spec: ScriptPing) -> Session:
    yield SendPing(spec.text.encode("utf-8"))
    return False


def _close(spec: ScriptClose) -> Session:
    yield CloseSession(spec.code, spec.reason)
    return True


#: One handler per script action (the keys of :class:`fakeorigin.core.profile.ScriptAction`);
#: each returns True when it ended the session.
_SCRIPT_HANDLERS: dict[str, Callable[[Any], Session]] = {
    "send": _send,
    "receive": _receive,
    "sleep": _script_sleep,
    "ping": _ping,
    "close": _close,
}
