"""The engine: turns (profile, request) into actions, and does no I/O.

Theory of operation. :func:`run_exchange` is a generator. It walks the profile's steps and
yields actions; the caller (the Twisted protocol, or a test) performs each one and then asks for
the next. While it runs, the engine reads the live state of the exchange through an
:class:`ExchangeView`: how long since the request head was complete, and how much of the request
body has arrived. So a ``continue`` decides at the moment it runs whether the client is still
waiting, and a ``repeat`` schedules each period against the time it began, so its cadence does
not drift.

Actions (imperatives; the caller owns the socket and the clock):

- Messages, which the connection's framer turns into its protocol's bytes and which are
  journaled as they go out (the engine knows nothing of framing): :class:`SendInterim` (a 1xx
  with its fields), :class:`SendHead` (a final response's head, with how its body is framed,
  and the body itself when it goes out at once),
  :class:`SendData` (body data), :class:`EndBody` (the end of the body, with its trailers).
- :class:`WriteHttp1`: these bytes, as they are, on an HTTP/1.1 connection: what only
  HTTP/1.1 can carry (a ``raw`` step, a broken WebSocket handshake; the violation catalogue's
  entries).
- :class:`Note`: journal an event, write nothing (a skipped interim response, say).
- :class:`Wait`: resume after this many seconds (never negative).
- :class:`AwaitBody`: resume once the request body is complete.
- :class:`End`: the exchange is over: keep the connection for the next request, close it,
  reset it, or leave it hanging. The last action, unless :class:`HandOff` is.
- :class:`HandOff`: the request is a WebSocket opening handshake: hand the connection to
  autobahn. Always the last action.

A WebSocket session is a second generator,
:func:`fakeorigin.core.engine.session.run_session`: it yields session actions
(:mod:`fakeorigin.core.session_actions`: send a message, send a ping, await the client's next
message, wait, close) and is resumed with the message it awaited (or None after a timeout), so
an ``echo`` and a ``script`` are decided here too, and the protocol only carries them out. That
module and its vocabulary load with WebSocket (at the first opening handshake, with autobahn),
not with this package.
"""

from fakeorigin.core.actions import (
    Action,
    AwaitBody,
    End,
    Ending,
    HandOff,
    Note,
    Wait,
    WriteHttp1,
)
from fakeorigin.core.engine.exchange import echo_document, run_exchange
from fakeorigin.core.engine.handshake import (
    BROKEN_HANDSHAKES,
    HTTP_AFTER_101,
    WRONG_KEY,
    handshake_problem,
    offered_subprotocols,
    websocket_accept,
)
from fakeorigin.core.engine.view import ExchangeView
from fakeorigin.core.wire import SERVER_HEADER

__all__ = [
    "BROKEN_HANDSHAKES",
    "HTTP_AFTER_101",
    "SERVER_HEADER",
    "WRONG_KEY",
    "Action",
    "AwaitBody",
    "End",
    "Ending",
    "ExchangeView",
    "HandOff",
    "Note",
    "Wait",
    "WriteHttp1",
    "echo_document",
    "handshake_problem",
    "offered_subprotocols",
    "run_exchange",
    "websocket_accept",
]
