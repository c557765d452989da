"""A multipart/form-data body (a form with files) read into its fields and files. Pure.

Python 3.13 has no cgi module; the email package reads MIME, which is what
multipart/form-data is (RFC 7578). A file's name keeps only its last part:
a browser sends a bare name, anything else names no folder of ours.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from .setup_port import Upload


class NotFormData(ValueError):
    """The body is no multipart/form-data: one sentence saying so."""


def parse_form_data(content_type: str, body: bytes) -> tuple[dict[str, str], list[Upload]]:
    """The text fields (the last value of each name) and the files (those with a file name and content)."""
    if "boundary=" not in content_type.lower():
        raise NotFormData("the form's body names no boundary (multipart/form-data without one)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        message = BytesParser(policy=HTTP).parsebytes(head + body)
    except RecursionError:  # parts within parts, thousands deep
        raise NotFormData(
            "the form's body nests parts within parts; send the files as parts of the form itself"
        ) from None
    if not message.is_multipart():
        raise NotFormData("the form's body is not multipart/form-data")
    fields: dict[str, str] = {}
    files: list[Upload] = []
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            base = filename.replace("\\", "/").rsplit("/", 1)[-1]
            if base or payload:  # an empty file input sends a part without name or content
                files.append(Upload(base or "upload", payload))
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            # Encoded back to UTF-8 as well: some charsets (UTF-7) decode to
            # unpaired surrogates, which no later step could write or send.
            fields[name] = payload.decode(charset)
            fields[name].encode("utf-8")
        except (LookupError, UnicodeError):
            raise NotFormData(f"the form's field {name[:40]!r} is not text") from None
    return fields, files
