"""The Home Connect wire protocol (PROTOCOL.md §1-§4), with no notion of features.

Owns: the AES frame codec (`frame`), TLS-PSK contexts (`tlspsk`), websocket
framing and the upgrade (`websocket`), the transport and its keep-alive
(`transport`), the message envelope (`message`), the protocol's resource
names (`resources`), the session with its handshake, ids and request
matching (`session`), the deviceID hcpy introduces itself with
(`identity`), and finding appliances on the network by their mDNS
announcements (`mdns`).

May import: the shared foundations (`hcpy.errors`, `hcpy.encoding`,
`hcpy.logs`) only.
"""
