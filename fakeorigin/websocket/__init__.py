"""The WebSocket edge: the session autobahn runs on a connection the HTTP/1.1 edge handed off
after an opening handshake."""
