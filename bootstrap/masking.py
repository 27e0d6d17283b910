"""Hide passwords in anything that may be printed: URLs and key=value connection strings."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_password(text: str) -> str:
    """Hide passwords in URLs (``user:pw@``) and key=value DSNs (``password=pw``)."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)


# Characters a URL's user:password part may hold as they are (RFC 3986 userinfo).
_USERINFO = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*$")
_URL_FIX = (
    "percent-encode the password (@ as %40, / as %2F, ? as %3F, # as %23, % as %25,"
    " space as %20; Python's urllib.parse.quote(password, safe='') does it)"
)


def check_url(url: str, what: str) -> None:
    """Refuse a URL whose credentials would be misread, naming no part of it.

    An unencoded ``@ / ? #`` or space in a password makes a URL parser take part
    of the password for the host, port or path, and a later error message would
    echo it. Refused up front, with a message built from ``what`` alone.
    """
    from bootstrap.errors import UsageError

    _scheme, sep, rest = url.partition("://")
    if not sep:
        return  # not a URL (a key=value DSN, say): its own parser judges it
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    beyond = rest[len(authority) :]
    userinfo = authority.rpartition("@")[0]
    if authority.count("@") > 1 or "@" in beyond or not _USERINFO.match(userinfo):
        raise UsageError(
            f"invalid {what}: a character in its user or password must be encoded; {_URL_FIX}"
        )
