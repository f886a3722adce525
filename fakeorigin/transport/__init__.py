"""What every protocol edge shares about its Twisted transport: one timer heap for all
connections, writing at once to an idle TCP socket, and what a TLS connection negotiated."""
