"""What users paste at hc-login's prompt (or give as --code/--state), read into a code and a state.

Pure: text in, `Redirect` or a `CloudError` with a hint out. What real
pastes look like, and what each one needs:

* the final `hcauth://auth/prod?code=…&state=…` URL, often with what the
  browser shows around it (quotes, "Location: ", a "Failed to launch …" line);
* the same URL percent-encoded once or twice (copied from a field that
  encodes it), with `&amp;` (copied from HTML) or `\\u0026` (from JSON)
  in place of `&`;
* only the code, as hcpy2-0 asks for it ("Input code:", then "Input
  state:"), raw or percent-encoded as it stood in the URL;
* wrong ones: SingleKey's intermediate `…/oauth/redirect_target?state=
  {"session_id"…}` address, or the login URL hc-login printed itself.

Query values are percent-decoded exactly once and `+` stays `+` (a code is
not form data: turning `+` into a space, as `parse_qs` does, breaks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ..errors import CloudError


@dataclass(frozen=True)
class Redirect:
    code: str = field(repr=False)
    state: str | None
    bare: bool = False  # only the code was given: the state has to come separately


# What a browser shows around the URL: quotes, "Location: ", a
# "Failed to launch '…' because the scheme does not have a handler" line.
_HCAUTH = re.compile(r"hcauth://[^\s'\"<>`]+", re.IGNORECASE)
_QUOTES = "'\"<>` \t\r\n"
# The parameters of the hcauth:// address, once its encodings are peeled off.
_PARAMS = re.compile(r"(?:^|[?&#;\s])(?:code|state|error)=", re.IGNORECASE)
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
# What an OAuth code can be made of (RFC 6749 allows any visible ASCII; real
# ones are base64-like). Anything else at the prompt was not a code.
_CODE_CHARS = re.compile(r"[\x21-\x7e]+")
# Each encoding layer of a pasted URL; more than this is not a paste.
_MAX_LAYERS = 3

NOT_FINAL_HINT = (
    "this is not the final hcauth:// address but SingleKey's …/oauth/redirect_target step before it; "
    "keep going in the browser until it tries to open hcauth://auth/prod?code=…&state=…, and paste that"
)
AUTHORIZE_HINT = (
    "this is the login URL hc-login printed: open it in the browser, log in, and paste the "
    "hcauth://auth/prod?code=…&state=… address the browser tries to open at the end"
)
NO_CODE_HINT = (
    "the pasted text holds no code: paste the whole hcauth://auth/prod?code=…&state=… URL "
    "from the browser's network tab"
)


def decode_once(value: str) -> str:
    """`value` percent-decoded once when it is encoded (`%2B` -> `+`), else unchanged.

    Once only: a code whose own text holds `%2B` arrives as `%252B` and must
    become `%2B`, not `+`. `+` is kept (unquote, not unquote_plus).
    """
    return unquote(value) if _ENCODED.search(value) else value


def parse_pasted(text: str) -> Redirect:
    """The code and state in what the user pasted: a URL in any of its encodings, or just the code."""
    cleaned = _unescape(text.strip().strip(_QUOTES))
    if not cleaned:
        raise CloudError(NO_CODE_HINT)
    peeled = _peel(cleaned)
    if peeled is None:
        # No address or query in any layer: the code alone, as it stood in the URL.
        code = decode_once(cleaned)
        if not _CODE_CHARS.fullmatch(code):
            raise CloudError(NO_CODE_HINT)
        return Redirect(code=code, state=None, bare=True)
    return parse_redirect(peeled)


def parse_redirect(text: str) -> Redirect:
    """The code and state of a pasted `hcauth://auth/prod?code=…&state=…` URL."""
    cleaned = _unescape(text.strip().strip(_QUOTES))
    found = _HCAUTH.search(cleaned)
    params = _params_of(found.group(0) if found else cleaned)
    if not (params.get("code") or params.get("error")):
        _refuse_wrong_address(cleaned)
    error = params.get("error")
    if error:
        # Prose, form-encoded by the login page: its `+` are spaces.
        detail = params.get("error_description", "").replace("+", " ").strip()
        detail = f" ({detail})" if detail else ""
        raise CloudError(f"the login page answered with the error {error!r}{detail}; run hc-login again and log in")
    code = params.get("code")
    if not code:
        raise CloudError(NO_CODE_HINT)
    return Redirect(code=code, state=params.get("state"))


def query_params(query: str) -> dict[str, str]:
    """The first non-empty value of each name, each percent-decoded once; `+` stays `+`."""
    found: dict[str, str] = {}
    for part in re.split(r"[&;]", query):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        decoded = unquote(value).strip()
        if sep and name and decoded and name not in found:
            found[name] = decoded
    return found


def with_state(redirect: Redirect, state: str | None) -> Redirect:
    """`redirect` with a state given apart from it (--state, or the second prompt)."""
    if redirect.state is not None or not state:
        return redirect
    text = state.strip().strip(_QUOTES)
    # People paste the state as they see it in the URL: "state=…", maybe encoded.
    if text.lower().startswith("state="):
        text = text[len("state=") :]
    text = decode_once(text).strip()
    return Redirect(code=redirect.code, state=text or None, bare=redirect.bare)


# -- helpers ----------------------------------------------------------------


def _unescape(text: str) -> str:
    # HTML (&amp;, &#38;) and JSON (\u0026, \/) copies of the same URL.
    text = re.sub(r"&(?:amp|#38|#x26);", "&", text, flags=re.IGNORECASE)
    return text.replace("\\u0026", "&").replace("\\/", "/")


def _params_of(address: str) -> dict[str, str]:
    parts = urlsplit(address)
    query = parts.query or parts.fragment
    if not query and "=" in address and "://" not in address:
        query = address.lstrip("?")  # "code=…&state=…" without the address
    return query_params(query)


def _peel(text: str) -> str | None:
    """`text` with outer percent-encodings removed until its parameters show.

    The innermost layer stays as a URL is (its values encoded): the query
    parser decodes those, so a `%2B` in the code becomes `+` exactly once.
    None when no layer is an address or has parameters: a bare code.
    """
    layer = text
    for _ in range(_MAX_LAYERS):
        if _PARAMS.search(layer):
            return layer
        decoded = _unescape(unquote(layer))
        if decoded == layer:
            break
        layer = decoded
    if _PARAMS.search(layer) or "://" in layer:
        return layer
    return None


def _refuse_wrong_address(text: str) -> None:
    """A precise hint for the addresses people paste instead of the hcauth:// one."""
    low = text.lower()
    if "/redirect_target" in low or "session_id" in low:
        raise CloudError(NOT_FINAL_HINT)
    if "/oauth/authorize" in low:
        raise CloudError(AUTHORIZE_HINT)
