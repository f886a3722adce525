"""The profile model: a named, ordered list of steps, frozen and validated (pydantic v2).

A step is a one-key mapping whose key names what goes on the wire (``informational``,
``respond``, ``raw``...). Every step is conformant by default; a field that breaks an HTTP rule
says so in its name (``force`` on ``informational``). Each step model's docstring is its entry
in ``docs/profiles.md``, which ``tests/test_docs.py`` keeps in step with this module.

The models are split by what they describe: :mod:`.fields` (header fields, errors, the base
model), :mod:`.steps`, :mod:`.websocket` and :mod:`.model` (the step union, ``repeat``, the
profile). No Twisted and no I/O here: :mod:`fakeorigin.core.loader` reads files,
:mod:`fakeorigin.core.engine` runs the steps.
"""

from fakeorigin.core.profile.fields import MAX_BODY_SIZE, Headers
from fakeorigin.core.profile.model import (
    FINAL_KINDS,
    STEP_KINDS,
    TERMINAL_KINDS,
    ConnectionPolicy,
    Profile,
    Repeat,
    Step,
    cannot_carry,
    complete_models,
    step_field,
)
from fakeorigin.core.profile.steps import (
    Close,
    Continue,
    Dribble,
    Hang,
    Informational,
    Raw,
    ReadBody,
    Reset,
    Respond,
    Violate,
)
from fakeorigin.core.profile.websocket import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_CLOSE_REASON_BYTES,
    MAX_PING_BYTES,
    RAW_HANDSHAKES,
    Handshake,
    ScriptAction,
    ScriptClose,
    ScriptPing,
    ScriptReceive,
    ScriptSend,
    WebSocket,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FINAL_KINDS",
    "MAX_BODY_SIZE",
    "MAX_CLOSE_REASON_BYTES",
    "MAX_PING_BYTES",
    "RAW_HANDSHAKES",
    "STEP_KINDS",
    "TERMINAL_KINDS",
    "Close",
    "ConnectionPolicy",
    "Continue",
    "Dribble",
    "Handshake",
    "Hang",
    "Headers",
    "Informational",
    "Profile",
    "Raw",
    "ReadBody",
    "Repeat",
    "Reset",
    "Respond",
    "ScriptAction",
    "ScriptClose",
    "ScriptPing",
    "ScriptReceive",
    "ScriptSend",
    "Step",
    "Violate",
    "WebSocket",
    "cannot_carry",
    "complete_models",
    "step_field",
]
