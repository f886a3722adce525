"""``fakeorigin probe``: the client half of a proxy test. Scenarios (:mod:`.scenarios`) send
exact requests through a proxy to a fakeorigin (:mod:`.client`, :mod:`.runner`) and give a
verdict from both ends (:mod:`.verdicts`): what the client received and what the origin's
journal recorded. :mod:`.command` is the command. Blocking sockets and the control API's
client; no Twisted."""
