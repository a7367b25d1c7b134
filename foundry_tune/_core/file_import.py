"""Files that come from a URL through the service's file import, without I/O: the
[`FileURL`][FileURL] value ``train_on`` / ``validate_on`` take, the checks of its URL, the name
the imported file gets, and how its SAS token is kept out of everything printed.

Azure's "Files - Import" (``POST {endpoint}/openai/files/import?api-version=2024-10-21``, body
``{"purpose", "filename", "content_url"}``, answered 201 with a ``pending`` file) fetches
``content_url`` itself (a blob's SAS URL or any URL reachable with a GET):
https://learn.microsoft.com/en-us/rest/api/azureopenai/files/import. Microsoft recommends it for
large training files, whose multipart uploads "can't be retried or resumed". The route under the
v1 (project) endpoint the library calls, ``.../openai/v1/files/import``, is not in the v1 spec
subset we have (inference): it is the one constant [`IMPORT_PATH`][IMPORT_PATH].

An import is made at most once: the file is named after a hash of the URL *without its query*
(the SAS token changes with every signing; the blob it names does not) and the file name, so a
retried ``start()`` finds the file the first attempt imported instead of importing again. The
content behind the URL is not read by the library: the same URL and name with other content
behind it is the same import (see [`import_name()`][import_name]).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from foundry_tune._core.redact import redact_text
from foundry_tune._core.upload import PURPOSE
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "IMPORT_MARKER",
    "IMPORT_PATH",
    "FileURL",
    "import_body",
    "import_key",
    "import_name",
    "is_import_name",
    "looks_like_url",
]

IMPORT_PATH = "/files/import"
"""The import route, relative to the OpenAI client's base URL (``{project}/openai/v1``): Azure
documents ``/openai/files/import?api-version=2024-10-21``; the v1 form is inferred."""

IMPORT_MARKER = ".import-"
"""What the name of a file foundry-tune imported carries before its key: ``train.import-<32 hex>.jsonl``."""

_KEY_CHARS = 32
_HIDDEN = "<hidden>"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_NAME = re.compile(r".+\.import-[0-9a-f]{32}\.jsonl$")


def looks_like_url(text: str) -> bool:
    """Whether ``text`` is meant as a URL (``http://`` or ``https://``, any casing) rather than a path."""
    return re.match(r"(?i)\s*https?://", text) is not None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise InvalidParameterError(f"{_shown(url)} is not a URL the service can fetch") from None
    return parts


def _shown(url: str) -> str:
    """``url`` for people: its query (the SAS token) and any password replaced."""
    head, sep, _ = url.partition("?")
    head = head.split("#", 1)[0]
    if "@" in head.split("://", 1)[-1].split("/", 1)[0]:
        scheme, _, rest = head.partition("://")
        host_and_path = rest.split("@", 1)[1]
        head = f"{scheme}://{_HIDDEN}@{host_and_path}"
    return head + ("?" + _HIDDEN if sep else "")


@dataclasses.dataclass(frozen=True, repr=False)
class FileURL:
    """Training or validation data the service fetches itself, through its file import, instead
    of an upload: an Azure Blob SAS URL or any HTTPS URL it can GET.

    ```pycon
    >>> job = ft.fine_tune("gpt-4.1-mini").train_on(FileURL(sas_url, filename="train.jsonl")).start()
    ```

    ``train_on("https://...")`` makes one with the name the URL's path ends with.

    The query string (a SAS token is a credential) never appears in reprs, plans, logs or errors:
    they show ``https://account.blob.core.windows.net/data/train.jsonl?<hidden>``. Only ``https://``
    URLs are taken (``http://`` only for the local machine, for tests).

    :param url: where the service reads the JSONL file (``https://``).
    :param filename: the file's name on the service, before foundry-tune adds its import key
        (default: the last segment of the URL's path).
    """

    url: str
    filename: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise InvalidParameterError("url must be an https:// URL the service can fetch")
        if self.url != self.url.strip() or not self.url.isprintable():
            raise InvalidParameterError(f"url {_shown(self.url.strip())} has whitespace around it or a "
                                        "control character (a trailing newline?)")
        parts = _parts(self.url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in ("https", "http") or not host:
            raise InvalidParameterError(f"{_shown(self.url)} is not an https:// URL the service can fetch")
        if scheme == "http" and not _is_loopback(host):
            raise InvalidParameterError(
                f"{_shown(self.url)} is an http:// URL: the service's file import needs https:// "
                "(a blob SAS URL is https://); http:// is taken only for localhost, in tests"
            )
        if self.filename is not None:
            if not isinstance(self.filename, str) or not self.filename.strip():
                raise InvalidParameterError(f"filename must be a non-empty file name, got {self.filename!r}")
            if ("/" in self.filename or "\\" in self.filename or not self.filename.isprintable()
                    or len(self.filename) > 200):
                raise InvalidParameterError(
                    f"filename {self.filename[:80]!r} must be a plain file name (no path separators or "
                    "control characters, at most 200 characters)")
        elif not self._path_name():
            raise InvalidParameterError(
                f"{_shown(self.url)} does not end with a file name: pass FileURL(url, filename='train.jsonl')"
            )

    def _path_name(self) -> str:
        segment = unquote(_parts(self.url).path.rsplit("/", 1)[-1])
        return segment if segment and "\\" not in segment and segment.isprintable() else ""

    @property
    def name(self) -> str:
        """The file's name as given (or as the URL's path ends), without foundry-tune's import key."""
        return self.filename or self._path_name()

    @property
    def shown(self) -> str:
        """The URL for people: scheme, host and path, the query replaced by ``<hidden>``."""
        return _shown(self.url)

    @property
    def key(self) -> str:
        """The import's identity: a SHA-256 of the URL without its query and fragment, and the
        name (bare hex). The same key is the same import, whatever the SAS token."""
        return import_key(self.url, self.name)

    @property
    def service_name(self) -> str:
        """The name the imported file gets on the service (``train.import-<32 hex>.jsonl``)."""
        return import_name(self.name, self.key)

    def scrub(self, text: str) -> str:
        """``text`` with this URL's query (and every other secret the library recognises) masked:
        for error messages that may quote the URL, such as the service's ``status_details``."""
        query = _parts(self.url).query
        if query:
            text = text.replace(self.url, self.shown).replace(query, _HIDDEN)
            text = text.replace(unquote(query), _HIDDEN)
            for item in query.split("&"):  # a value quoted alone (``sig=...`` in a message)
                value = item.partition("=")[2]
                for form in {value, unquote(value)}:
                    if len(form) >= 6:
                        text = text.replace(form, _HIDDEN)
        return redact_text(text)

    def __repr__(self) -> str:
        name = "" if self.filename is None else f", filename={self.filename!r}"
        return f"FileURL({self.shown!r}{name})"

    __str__ = __repr__


def import_key(url: str, name: str) -> str:
    """SHA-256 (hex) of ``url`` without its query and fragment (lowercase scheme and host) and ``name``."""
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))
    return hashlib.sha256(f"{bare}\n{name}".encode()).hexdigest()


def import_name(name: str, key: str) -> str:
    """The name an imported file gets: ``name``'s stem plus [`IMPORT_MARKER`][IMPORT_MARKER] and
    the first 32 hex of ``key`` (``train.import-<32 hex>.jsonl``), found again by ``files.list``
    after a lost answer or on the next ``start()``. The content is not in the key: another blob
    behind the same URL and name is taken for the same import (give another ``filename``, or
    delete the file, to import it anew)."""
    stem = re.sub(r"\.jsonl?$", "", name, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:60] or "data"
    return f"{stem}{IMPORT_MARKER}{key[:_KEY_CHARS]}.jsonl"


def is_import_name(filename: str | None) -> bool:
    """Whether ``filename`` is one foundry-tune imports under (see [`import_name()`][import_name])."""
    return bool(filename) and _NAME.match(str(filename)) is not None


def import_body(source: FileURL, purpose: str = PURPOSE) -> dict[str, str]:
    """The JSON body of the import request (holds the full URL: for the wire only)."""
    return {"purpose": purpose, "filename": source.service_name, "content_url": source.url}
