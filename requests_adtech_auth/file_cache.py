"""A token cache in files, shared by the processes of one machine (cron jobs, CLI calls, pools).

Needs the ``file`` extra (``pip install requests-adtech-auth[file]``) for its
cross-process lock (``filelock``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from .cache import CacheUnavailableError, StoredToken, TokenCache
from .exceptions import ConfigurationError

__all__ = ["FileTokenCache", "default_cache_dir"]

#: Longest wait for another process's token fetch before fetching anyway.
LOCK_TIMEOUT = 60.0


def default_cache_dir() -> Path:
    """The user's cache directory for this library, per platform conventions."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "requests-adtech-auth" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "requests-adtech-auth"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "requests-adtech-auth"


class FileTokenCache(TokenCache):
    """Tokens in one file per credential, readable by the owner only.

    Args:
        path: the directory (created with mode 0700). Default:
            :func:`default_cache_dir`.

    Files are written to a temporary file and moved into place, so a reader
    never sees half a token; a corrupt or truncated file counts as empty and is
    rewritten. A lock file per credential serialises token fetches across
    processes.

    Raises:
        ConfigurationError: the ``filelock`` package (the ``file`` extra) is missing.
    """

    def __init__(self, path: Optional[Union[str, os.PathLike[str]]] = None) -> None:
        try:
            import filelock  # the 'file' extra
        except ImportError:
            raise ConfigurationError(
                "FileTokenCache needs the 'file' extra: pip install 'requests-adtech-auth[file]'"
            ) from None
        del filelock  # imported again where used: a module would not pickle
        self.path = Path(path) if path is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"FileTokenCache({str(self.path)!r})"

    def _directory(self) -> Path:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.name == "posix" and self.path.stat().st_mode & 0o077:
                self.path.chmod(0o700)
        except OSError as exc:
            raise CacheUnavailableError(f"cannot use the token cache directory {self.path}: {exc.strerror}") from None
        return self.path

    def load(self, key: str) -> Optional[StoredToken]:
        """Return the token in ``key``'s file, or None (missing or unreadable)."""
        try:
            text = (self.path / f"{key}.json").read_text("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return None
        return StoredToken.loads(text)

    def store(self, key: str, token: StoredToken) -> None:
        """Write ``token`` atomically (a temporary file, then a rename) with mode 0600."""
        directory = self._directory()
        try:
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
                    out.write(token.dumps())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, directory / f"{key}.json")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise CacheUnavailableError(f"cannot write the token cache in {directory}: {exc.strerror}") from None

    def discard(self, key: str, value: str) -> None:
        """Delete ``key``'s file if it still holds ``value``."""
        stored = self.load(key)
        if stored is not None and stored.value == value:
            with contextlib.suppress(FileNotFoundError):
                (self.path / f"{key}.json").unlink()

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        """Hold ``key``'s lock file; after LOCK_TIMEOUT seconds carry on without it."""
        import filelock

        directory = self._directory()
        lock = filelock.FileLock(str(directory / f"{key}.lock"), timeout=LOCK_TIMEOUT, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise CacheUnavailableError(
                f"the token cache lock in {directory} is held for over {LOCK_TIMEOUT:g} s"
            ) from None
        try:
            yield lock
        finally:
            lock.release()
