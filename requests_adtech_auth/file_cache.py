"""A token cache in files, shared by the processes of one machine (cron jobs, CLI calls, pools).

Needs the ``file`` extra (``pip install requests-adtech-auth[file]``) for its
cross-process lock (``filelock``).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from .cache import MAX_ENTRY_SIZE, CacheUnavailableError, StoredToken, TokenCache
from .exceptions import ConfigurationError

__all__ = ["CACHE_DIR_VARIABLE", "FileTokenCache", "default_cache_dir"]

#: The environment variable that names the directory :class:`FileTokenCache` uses without ``path=``.
CACHE_DIR_VARIABLE = "ADTECH_AUTH_CACHE_DIR"

#: Longest wait for another process's token fetch before fetching anyway.
LOCK_TIMEOUT = 60.0

_POSIX = os.name == "posix"
# O_NONBLOCK: opening a FIFO planted as a token file must not block the request.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_KEY_SYNTAX = re.compile(r"[A-Za-z0-9_-]{1,128}")


def default_cache_dir() -> Path:
    """``$ADTECH_AUTH_CACHE_DIR`` if set, else the user's cache directory for this library, per platform conventions.

    The variable keeps the tokens of test and sandbox runs out of the user's real cache.
    A relative path is taken from the current directory, once, here.
    """
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return Path(os.path.abspath(os.path.expanduser(configured)))
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
            :func:`default_cache_dir`: ``$ADTECH_AUTH_CACHE_DIR`` if set, else the
            user's cache directory (``$XDG_CACHE_HOME/requests-adtech-auth`` or
            ``~/.cache/requests-adtech-auth`` on Linux).

    Files are written to a temporary file and moved into place, so a reader
    never sees half a token; a corrupt or truncated file counts as empty and is
    rewritten. A lock file per credential serialises token fetches across
    processes.

    Nothing is trusted that another user could have planted. The directory is
    refused (the auth object then fetches directly, see
    :class:`~requests_adtech_auth.cache.CacheUnavailableError`) if it is a
    symbolic link, not a directory, owned by another user, or open to group or
    others and cannot be made private; it is never chmod-ed unless it is yours.
    Token and lock files are never followed through symbolic links: a token
    file that is a link, a hard link, not a regular file or not yours counts
    as empty, and such a lock file makes the cache unavailable.

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

    def _refuse(self, why: str) -> CacheUnavailableError:
        return CacheUnavailableError(f"not using the token cache directory {self.path}: {why}")

    def _directory(self) -> Path:
        """The cache directory, created if missing, and checked.

        Raises:
            CacheUnavailableError: the directory cannot be created, or is refused.
        """
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._refuse(f"cannot create it ({exc.strerror or type(exc).__name__})") from None
        if not self._checked():
            raise self._refuse("it vanished")
        return self.path

    def _checked(self) -> bool:
        """Check the cache directory (making it private if it is ours); False if it does not exist.

        Raises:
            CacheUnavailableError: the directory is refused.
        """
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._refuse(exc.strerror or type(exc).__name__) from None
        if stat.S_ISLNK(info.st_mode):
            raise self._refuse("it is a symbolic link")
        if not stat.S_ISDIR(info.st_mode):
            raise self._refuse("it is not a directory")
        if _POSIX:
            self._make_private()
        return True

    def _make_private(self) -> None:
        # Checked and fixed through one descriptor, opened without following a
        # link: what is checked is what is chmod-ed.
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise self._refuse(exc.strerror or type(exc).__name__) from None
        try:
            info = os.fstat(fd)
            if info.st_uid != os.geteuid():
                raise self._refuse(f"it belongs to another user (uid {info.st_uid})")
            if info.st_mode & 0o077:
                try:
                    os.fchmod(fd, 0o700)
                except OSError:
                    # Readable by others only lists key hashes; writable lets them plant files.
                    if info.st_mode & 0o022:
                        raise self._refuse("others may write to it and it cannot be made private") from None
        finally:
            os.close(fd)

    def _file(self, key: str, suffix: str) -> Path:
        # Keys come from cache_key() (hex); anything else could name a path outside the directory.
        if not isinstance(key, str) or not _KEY_SYNTAX.fullmatch(key):
            raise CacheUnavailableError("a token cache key must be 1 to 128 letters, digits, '-' or '_'")
        return self.path / f"{key}{suffix}"

    def load(self, key: str) -> Optional[StoredToken]:
        """Return the token in ``key``'s file, or None (missing, unreadable, or not a file of yours).

        Raises:
            CacheUnavailableError: the cache directory is refused.
        """
        path = self._file(key, ".json")
        if not self._checked():
            return None
        try:
            if not _POSIX and os.path.islink(path):  # no O_NOFOLLOW there
                return None
            fd = os.open(path, _READ_FLAGS)
        except OSError:  # missing, a symbolic link (ELOOP), unreadable
            return None
        try:
            info = os.fstat(fd)
            if not _private_file(info):
                return None
            data = b""
            while len(data) <= MAX_ENTRY_SIZE:
                chunk = os.read(fd, MAX_ENTRY_SIZE + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
        finally:
            os.close(fd)
        return StoredToken.loads(data)

    def store(self, key: str, token: StoredToken) -> None:
        """Write ``token`` atomically (a temporary file, then a rename) with mode 0600.

        A token :meth:`StoredToken.loads` would refuse is not written.

        Raises:
            CacheUnavailableError: the directory is refused or the file cannot be written.
        """
        if not isinstance(token, StoredToken) or not token.is_valid():
            return
        target = self._file(key, ".json")
        directory = self._directory()
        try:
            # mkstemp creates the file exclusively (O_EXCL, no link followed), mode 0600.
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(token.dumps())
                    out.flush()
                    os.fsync(out.fileno())
                # A rename replaces a link planted at the target, never what it points to.
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise CacheUnavailableError(
                f"cannot write the token cache in {directory}: {exc.strerror or type(exc).__name__}"
            ) from None

    def discard(self, key: str, value: str) -> None:
        """Delete ``key``'s file if it still holds ``value``.

        Raises:
            CacheUnavailableError: the directory is refused or the file cannot be deleted.
        """
        stored = self.load(key)
        if stored is None or stored.value != value:
            return
        try:
            os.unlink(self._file(key, ".json"))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CacheUnavailableError(
                f"cannot remove a token file in {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        """Hold ``key``'s lock file; after LOCK_TIMEOUT seconds carry on without it.

        Raises:
            CacheUnavailableError: the directory or the lock file is refused, or
                the lock is held for over LOCK_TIMEOUT seconds.
        """
        import filelock

        path = self._file(key, ".lock")
        directory = self._directory()
        try:
            info: Optional[os.stat_result] = os.lstat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise CacheUnavailableError(
                f"cannot use the token cache lock in {directory}: {exc.strerror or type(exc).__name__}"
            ) from None
        if info is not None and not _private_file(info):
            # Older filelock versions follow links and truncate: never hand them one.
            raise CacheUnavailableError(f"the token cache lock {path.name} in {directory} is not a plain file of yours")
        lock = filelock.FileLock(str(path), timeout=LOCK_TIMEOUT, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise CacheUnavailableError(
                f"the token cache lock in {directory} is held for over {LOCK_TIMEOUT:g} s"
            ) from None
        except Exception as exc:  # OSError and whatever a filelock version raises
            raise CacheUnavailableError(
                f"cannot take the token cache lock in {directory} ({type(exc).__name__})"
            ) from None
        try:
            yield lock
        finally:
            # Leaving must never fail the fetch the lock was held for.
            with contextlib.suppress(Exception):
                lock.release()


def _private_file(info: os.stat_result) -> bool:
    """A regular file with one link, owned by this user (on POSIX)."""
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return False
    return not _POSIX or info.st_uid == os.geteuid()
