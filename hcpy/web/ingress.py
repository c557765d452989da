"""The console behind Home Assistant's ingress: who the proxy is, and the path prefix it announces. No I/O.

Home Assistant shows an add-on's panel in an iframe of its own page at
`/api/hassio_ingress/<token>/`; its Supervisor forwards each request, from
one address (172.30.32.2 in the add-on), to the console's `/<path>`, with
the prefix in the header `X-Ingress-Path`. Home Assistant has logged the
user in already; it passes the browser's Host and Origin on and says its
own name in X-Forwarded-Host.

The console's pages and handlers keep speaking of their own absolute paths
("/appliance/x", "/static/console.css"); what leaves the server is put under
the prefix in one place: `rooted` for the HTML (the attributes that name a
console path: href, action, src, and the body's data-root, where the page's
script reads it for fetch and EventSource), and `under` for a redirect's
Location and the session cookie's Path. Pages written by anyone later get
this without doing anything but writing absolute paths.
"""

from __future__ import annotations

import ipaddress
import re

from .security import Refused, peer_address

PATH_HEADER = "X-Ingress-Path"
ONLY_HOME_ASSISTANT = "this console is Home Assistant's add-on panel: open it from Home Assistant's sidebar"
MAX_PREFIX = 200
# Segments of letters, digits and -._~ only: no quote, no ';' or ',' (the
# cookie's Path), no '%' (nothing decodes into something else), no '//'.
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")
# An attribute that names a console path: a space before it (not
# "data-href"), its value quoted by us and starting with one "/". Values we
# render go through html.esc, so text from elsewhere (an appliance's name)
# holds &quot; where a '"' was, and can never start an attribute of its own.
_ROOTED_ATTRIBUTE = re.compile(r'(?<=\s)(href|action|src|data-root)="/(?!/)')


def trusted_address(ingress_peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The ingress proxy's address as configured; ValueError with a sentence for anything else."""
    found = peer_address(ingress_peer.strip())
    if found is None:
        raise ValueError(
            f"the ingress peer must be an IP address (the Supervisor's, 172.30.32.2), not {ingress_peer[:60]!r}"
        )
    return found


def prefix_of(header: str | None) -> str:
    """The path prefix X-Ingress-Path announces, without a trailing "/" ("" for none); Refused(400) when malformed."""
    if header is None:
        return ""
    value = header.strip()
    if value.endswith("/"):
        value = value[:-1]
    if value == "":
        return ""
    if len(value) > MAX_PREFIX or not _PREFIX.fullmatch(value) or any(s in (".", "..") for s in value.split("/")):
        raise Refused(
            400, f"the {PATH_HEADER} header is no path this console can serve under (/api/hassio_ingress/<token>)"
        )
    return value


def under(root: str, path: str) -> str:
    """A console path ("/login?next=/") under the prefix."""
    return root + path if path.startswith("/") and not path.startswith("//") else path


def rooted(html: str, root: str) -> str:
    """The console's own HTML with every console path in href, action, src and data-root under `root`."""
    if not root:
        return html
    return _ROOTED_ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{root}/', html)


def forwarded_host(x_forwarded_host: str | None, host: str | None) -> str | None:
    """The name the browser used for Home Assistant: X-Forwarded-Host's first entry, else Host."""
    if x_forwarded_host:
        first = x_forwarded_host.split(",")[0].strip()
        if first:
            return first
    return host
