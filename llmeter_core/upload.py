"""Publishing a staged run folder to its remote URL (``s3://...``): retried, verified,
interruptible.

- Files go up one by one, stats.json last, so a folder with a stats.json on the store is
  complete. Each upload is checked (the stored object's size must equal the local file's) and
  retried with exponential backoff; after the last attempt ``StorageError`` names the local
  copy.
- After a verified upload the staged copy is deleted (the staging folder would otherwise grow
  with every run); when the upload fails it is kept, and the error says where.
- The upload runs in a daemon thread while the event loop waits, so a signal is handled at
  once. The first Ctrl-C (or SIGTERM) says where the local copy is and lets the upload go on;
  a second one stops retrying and raises ``StorageError(interrupted=True)`` without waiting
  for the attempt in progress.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import StorageError
from .signals import install_stop_handlers

if TYPE_CHECKING:
    from .storage import RunFolder

__all__ = ["publish", "upload_folder", "upload_names", "UPLOAD_ORDER"]

log = logging.getLogger(__name__)

#: Files of a run folder in upload order: stats.json last marks the folder complete.
UPLOAD_ORDER = ("run_config.json", "payload.jsonl", "responses.jsonl", "summary.json", "stats.json")


def upload_names(folder: Path) -> list[str]:
    """The files of a staged folder in upload order (hidden working files left out)."""
    names = [n for n in UPLOAD_ORDER if (folder / n).is_file()]
    names += sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.name not in UPLOAD_ORDER and not p.name.startswith(".")
    )
    return names


async def publish(folder: "RunFolder", handle_signals: bool = True) -> str:
    """Upload ``folder`` to its URL and delete the staged copy; returns the URL."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    stop = threading.Event()
    local = str(folder.path)

    def settle(url: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(url or folder.url)

    def work() -> None:
        try:
            outcome: tuple[str | None, BaseException | None] = (upload_folder(folder, stop), None)
        except BaseException as exc:  # handed to the waiting coroutine
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is gone: a second interrupt already ended the wait
            pass

    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            log.warning(
                "interrupted while uploading to %s: the run folder is kept at %s; "
                "the upload goes on (interrupt again to stop it)",
                folder.url,
                local,
            )
            return
        stop.set()
        settle(
            None,
            StorageError(f"upload to {folder.url} stopped by a second interrupt", local_path=local, interrupted=True),
        )

    restore = install_stop_handlers(on_interrupt) if handle_signals else (lambda: None)
    threading.Thread(target=work, name=f"upload {folder.url}", daemon=True).start()
    try:
        return await done
    except asyncio.CancelledError:
        stop.set()
        log.warning("upload to %s cancelled: the run folder is kept at %s", folder.url, local)
        raise
    finally:
        restore()


def upload_folder(folder: "RunFolder", stop: threading.Event) -> str:
    """Upload every file (blocking), verify each, then delete the staged copy."""
    for name in upload_names(folder.path):
        _upload(folder, name, stop)
    shutil.rmtree(folder.path, ignore_errors=True)
    return folder.url


def _upload(folder: "RunFolder", name: str, stop: threading.Event) -> None:
    local, remote = folder.path / name, f"{folder.remote_path}/{name}"
    size = local.stat().st_size
    delay = folder.backoff_s
    for attempt in range(1, folder.upload_attempts + 1):
        try:
            folder.fs.put_file(str(local), remote)
            folder.fs.invalidate_cache(remote)
            stored = folder.fs.info(remote).get("size")
            if stored != size:
                raise StorageError(f"the store holds {stored} bytes of {name}, {size} were sent")
            return
        except Exception as exc:  # any store error: retry, then keep the local copy
            if attempt == folder.upload_attempts:
                raise StorageError(
                    f"upload of {name} to {folder.url} failed after {attempt} attempts: {exc}",
                    local_path=str(folder.path),
                ) from exc
            log.warning(
                "upload of %s failed (attempt %d/%d): %s; retrying in %.1f s",
                name,
                attempt,
                folder.upload_attempts,
                exc,
                delay,
            )
        if stop.wait(delay):
            raise StorageError(
                f"upload of {name} to {folder.url} stopped", local_path=str(folder.path), interrupted=True
            )
        delay *= 2
