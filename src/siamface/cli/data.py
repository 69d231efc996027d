"""`siamface data fetch | import | stats`: get LFW into the data home and describe it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from siamface.cli.errors import UsageError
from siamface.data import sources
from siamface.data.home import resolve_data_home

if TYPE_CHECKING:
    from siamface.data.lfw import LFWDataset


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group."""
    group = subparsers.add_parser("data", help="get LFW and describe it")
    commands = group.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    fetch = commands.add_parser("fetch", help="download LFW and the pairs files, then import")
    fetch.add_argument(
        "--variant",
        choices=sorted(sources.ARCHIVES),
        default=sources.DEFAULT_VARIANT,
        help=f"which image archive to download (default: {sources.DEFAULT_VARIANT})",
    )
    fetch.set_defaults(func=_fetch)

    imp = commands.add_parser(
        "import", help="import LFW from archives, folders or protocol files you have"
    )
    imp.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="an LFW archive or folder (any variant), protocol .txt files, or a folder of "
        "them; protocol files given alone are added to the images imported before",
    )
    imp.add_argument(
        "--replace-protocol",
        action="store_true",
        help="import only the protocol files given now (default: keep those imported before)",
    )
    imp.set_defaults(func=_import)

    stats = commands.add_parser("stats", help="write dataset statistics and plots")
    stats.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <home>/reports/stats)"
    )
    stats.set_defaults(func=_stats)


def _fetch(args: argparse.Namespace) -> int:
    from siamface.data.fetch import fetch_lfw
    from siamface.data.lfw import open_lfw

    home = resolve_data_home(args.data_dir)
    fetch_lfw(home, variant=args.variant)
    _print_summary(open_lfw(home))
    return 0


def _import(args: argparse.Namespace) -> int:
    from siamface.data.importer import import_lfw

    home = resolve_data_home(args.data_dir)
    _print_summary(import_lfw(args.paths, home, replace_protocol=args.replace_protocol))
    return 0


def _stats(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.reporting.dataset_report import write_stats_report

    home = resolve_data_home(args.data_dir)
    out = args.out if args.out is not None else home / "reports" / "stats"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: not a folder (the statistics are written into one)")
    print(write_stats_report(open_lfw(home), out))
    return 0


def _print_summary(lfw: LFWDataset) -> None:
    protocol = ", ".join(lfw.protocol_names()) or "none"
    print(
        f"LFW ({lfw.variant}) in {lfw.root}: {len(lfw.image_counts):,} people, "
        f"{lfw.num_images:,} images; protocol files: {protocol}"
    )
