"""`siamface verify | identify | export`: use a trained run on your own photos, or ship it.

    siamface verify RUN me.jpg passport.jpg        one line: the verdict, probability, threshold
    siamface identify RUN visitor.jpg --gallery people/    a ranked table of the closest people
    siamface export RUN --format onnx              model files + export.json for deployment
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify``, ``identify`` and ``export`` commands."""
    verify = subparsers.add_parser(
        "verify",
        help="are two photos the same person?",
        description="Detect the face in each photo, align it as LFW's frames are, and compare "
        "the two with RUN's model at the threshold chosen on its validation pairs.",
    )
    verify.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    verify.add_argument("image_a", type=Path, metavar="IMG1", help="first photo")
    verify.add_argument("image_b", type=Path, metavar="IMG2", help="second photo")
    _add_photo_arguments(verify)
    verify.set_defaults(func=_verify)

    identify = subparsers.add_parser(
        "identify",
        help="who is in a photo, among a gallery of known people?",
        description="Rank the people of a gallery by how alike their photo is to the probe's "
        "face; the best is named only if it passes RUN's verification threshold.",
    )
    identify.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    identify.add_argument("probe", type=Path, metavar="PROBE", help="the photo to identify")
    identify.add_argument(
        "--gallery", type=Path, required=True, metavar="DIR",
        help="a folder of <Name>.jpg photos or <Name>/ folders of photos, or a gallery saved "
        "with --save-gallery",
    )
    identify.add_argument("--top-k", type=int, default=5, metavar="K",
                          help="people to list (default 5)")
    identify.add_argument("--save-gallery", type=Path, metavar="OUT",
                          help="save the gallery's embeddings to OUT to reuse with --gallery")
    _add_photo_arguments(identify)
    identify.set_defaults(func=_identify)

    export = subparsers.add_parser(
        "export",
        help="export RUN's model for deployment (TorchScript or ONNX)",
        description="Write the embedding network (flip TTA included) and the head, with "
        "export.json: preprocessing, face framing and the decision threshold. TorchScript "
        "files contain code that runs when loaded: load only ones you trust.",
    )
    export.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    export.add_argument("--format", dest="fmt", choices=["onnx", "torchscript"],
                        default="torchscript", help="default: torchscript")
    export.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default: RUN/export/<format>)")
    export.add_argument("--no-flip-tta", action="store_true",
                        help="export the plain embedding, without the mirror-image average")
    export.set_defaults(func=_export)


def _add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-detect", action="store_true",
        help="skip face detection: the photos already are aligned LFW-style 250x250 frames",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _verifier(args: argparse.Namespace, photos: list[Path]):  # -> Verifier
    """RUN's verifier, once the photos are known to exist (loading a model takes a while)."""
    from siamface.inference.verifier import Verifier

    for photo in photos:
        if not photo.is_file():
            raise FileNotFoundError(f"{photo}: no such image file")
    return Verifier.from_run(args.run, detect=not args.no_detect)


def _verify(args: argparse.Namespace) -> int:
    verifier = _verifier(args, [args.image_a, args.image_b])
    result = verifier.verify(args.image_a, args.image_b)
    if args.json:
        print(json.dumps({**asdict(result), "threshold_probability": result.threshold_probability}))
    else:
        print(result)
    return 0


def _identify(args: argparse.Namespace) -> int:
    from siamface.inference.gallery import INDEX_FILE, Gallery

    verifier = _verifier(args, [args.probe])
    if (args.gallery / INDEX_FILE).is_file():
        gallery = Gallery.load(args.gallery, verifier)
    else:
        gallery = Gallery(verifier).fit(args.gallery)
    if args.save_gallery is not None:
        print(f"gallery saved: {gallery.save(args.save_gallery)}")
    result = gallery.identify(args.probe, args.top_k)
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(result)
    return 0


def _export(args: argparse.Namespace) -> int:
    from siamface.inference.export import export_run

    out = args.out if args.out is not None else args.run / "export" / args.fmt
    try:
        sidecar = export_run(args.run, out, args.fmt, flip_tta=not args.no_flip_tta)
    except ImportError as err:  # ONNX without its packages: a missing install, not a bug
        print(f"siamface: error: {err}", file=sys.stderr)
        return 2
    files = json.loads(sidecar.read_text(encoding="utf-8"))["files"]
    print(f"exported ({args.fmt}): {', '.join(sorted(set(files.values())))} and {sidecar.name} "
          f"in {out}")
    return 0
