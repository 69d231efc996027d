"""Download LFW with pooch (progress bar, retries, sha256 check), then import it.

pooch downloads each file to a temporary name and moves it into place only once its sha256
matches, so an interrupted run never leaves a file that looks complete; a re-run skips the
files already downloaded and verified and fetches the rest (pooch has no byte-range resume,
so a file cut off halfway starts over).

Without a network the download must fail at once, not after minutes of retries: connection
failures skip pooch's retry loop and end in one line naming both ways out (a network, or
`siamface data import PATH`). pooch's own log lines are kept quiet; each file gets a progress
bar named after it instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pooch
import requests
from tqdm import tqdm

from siamface.data import sources as known
from siamface.data.importer import import_lfw
from siamface.errors import SiamfaceError

CONNECT_TIMEOUT_S = 5.0  # seconds to open a connection: short, to fail fast when offline
READ_TIMEOUT_S = 60.0  # seconds without data before a read gives up (then pooch retries)
_WAYS_OUT = (
    "connect to the network and run this again, or import a copy you have with "
    "`siamface data import PATH` (an archive such as lfw-deepfunneled.tgz, or a folder holding "
    "it and the pairs files)"
)


class DownloadError(SiamfaceError, ConnectionError):
    """A download that could not be completed (offline, server error)."""


def fetch_lfw(
    home: Path, variant: str = known.DEFAULT_VARIANT, progress: bool = True, retries: int = 2
) -> list[Path]:
    """Download the image archive of ``variant`` and the pairs files, then import them.

    Files go to ``home/downloads``; the import goes to ``home/lfw`` (see `import_lfw`).

    Args:
        home: The data home.
        variant: ``"lfw_funneled"`` or ``"lfw"`` (those are the variants with a known URL).
        progress: Show download and import progress bars.
        retries: Further attempts for a download that breaks off or fails its checksum.

    Returns:
        The downloaded files, archive first.

    Raises:
        DownloadError: No connection, or the server failed; the message says to connect or to
            import a local copy instead.
        ChecksumError: A download whose sha256 is not the known one, after all retries.
    """
    if variant not in known.ARCHIVES:
        raise ValueError(
            f"no download known for variant {variant!r}; choose one of: "
            f"{', '.join(sorted(known.ARCHIVES))} (or import a copy with `siamface data import`)"
        )
    remotes = [known.ARCHIVES[variant], *known.PROTOCOL_FILES]
    store = pooch.create(
        path=Path(home) / "downloads",
        base_url="",
        registry={r.filename: f"sha256:{r.sha256}" for r in remotes},
        urls={r.filename: r.url for r in remotes},
        retry_if_failed=retries,
    )
    downloaded = []
    with _quiet_pooch():
        for remote in remotes:
            downloader = _FailFastDownloader(remote.filename if progress else None)
            try:
                downloaded.append(Path(store.fetch(remote.filename, downloader=downloader)))
            except requests.RequestException as err:
                raise DownloadError(
                    f"could not download {remote.filename} from {remote.url} ({err}); "
                    f"{_WAYS_OUT}"
                ) from err
            except ValueError as err:  # pooch's hash mismatch, once retries are spent
                raise known.ChecksumError(
                    f"{remote.filename} downloaded from {remote.url} failed its sha256 check: "
                    f"{err}"
                ) from err
    import_lfw(downloaded, home, progress=progress)
    return downloaded


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Hide pooch's info lines ("Downloading file ..."): the progress bars name the files."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class _FailFastDownloader:
    """pooch.HTTPDownloader with short connect timeouts that gives up at once when offline.

    pooch retries every requests error with growing pauses; that suits a connection that
    breaks off mid-file but not a machine without a network. A connection error before the
    first byte arrived is raised as DownloadError, which pooch does not retry.

    Args:
        progress_name: The file name for its progress bar; None: no bar.
    """

    def __init__(self, progress_name: str | None) -> None:
        bar = _FileProgressBar(progress_name) if progress_name is not None else False
        self.http = pooch.HTTPDownloader(
            progressbar=bar, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        )

    def __call__(self, url: str, output_file: str, store: Any) -> None:
        try:
            self.http(url, output_file, store)
        except requests.ConnectionError as err:
            if os.path.exists(output_file) and os.path.getsize(output_file) > 0:
                raise  # broke off mid-file: let pooch retry
            raise DownloadError(f"cannot connect to {url} ({_root_cause(err)}); "
                                f"{_WAYS_OUT}") from err


class _FileProgressBar:
    """The progress bar pooch.HTTPDownloader drives, named after its file.

    pooch sets ``total`` once the server has answered, then calls ``update``, ``reset`` and
    ``close``. The tqdm bar opens only then, so that a machine without a network sees no empty
    bar before the error; each attempt opens a new one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: tqdm | None = None

    def _open(self, size: int) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=size or None, desc=self.name, unit="B", unit_scale=True,
                        unit_divisor=1024)

    total = property(fset=_open, doc="The file's size (0: unknown); setting it opens the bar.")

    def __getattr__(self, name: str) -> Any:  # update, reset, close: the open bar's
        return getattr(self.bar, name)


def _root_cause(err: BaseException) -> str:
    """The innermost cause of a requests error in a few words ("Connection refused").

    requests wraps urllib3's MaxRetryError, whose ``reason`` wraps the socket error; the
    message of each wrapper repeats the ones inside it, objects' addresses included.
    """
    for _ in range(8):  # the chains requests builds are 3 or 4 deep
        inner = getattr(err, "reason", None) or err.__cause__
        if inner is None and err.args and isinstance(err.args[0], BaseException):
            inner = err.args[0]
        if not isinstance(inner, BaseException):
            break
        err = inner
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)
