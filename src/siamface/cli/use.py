"""`siamface verify | identify | export`: use a trained run on your own photos, or ship it.

    siamface verify RUN me.jpg passport.jpg        the verdict, probability, threshold; the faces
    siamface identify RUN visitor.jpg --gallery people/    a ranked table of the closest people
    siamface export RUN --format onnx              model files + export.json for deployment
    siamface pretrained dlib-resnet --out DIR      a pretrained option ("outside data") as RUN

RUN is a run folder, or a folder made by ``siamface pretrained`` (``inference/pretrained.py``):
its results are labelled "outside data" wherever they are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from siamface.cli.errors import UsageError
from siamface.data.home import resolve_data_home
from siamface.evaluation.metrics import tar_key
from siamface.evaluation.open_set import MAX_TARGET_FPIR, TARGET_FPIR, TOP_K
from siamface.utils.precision import PRECISIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify``, ``identify``, ``export`` and ``pretrained`` commands."""
    for add in (_register_verify, _register_identify, _register_export, _register_pretrained):
        add(subparsers)


def _register_verify(subparsers: argparse._SubParsersAction) -> None:
    """``verify``: are two photos the same person."""
    verify = subparsers.add_parser(
        "verify",
        help="are two photos the same person?",
        description="Detect the face in each photo, align it as LFW's frames are, and compare "
        "the two with RUN's model at the threshold chosen on its validation pairs.",
    )
    verify.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    verify.add_argument("image_a", type=Path, metavar="IMG1", help="first photo")
    verify.add_argument("image_b", type=Path, metavar="IMG2", help="second photo")
    verify.add_argument(
        "--face", type=int, nargs="+", metavar="K",
        help="which face of each photo, by size (1 = the largest), among every face a full "
        "search finds: one K for both photos, or K1 K2 (without it: the largest face of a "
        "quicker search, whose box can differ a little)",
    )
    _add_photo_arguments(verify)
    verify.set_defaults(func=_verify)


def _register_identify(subparsers: argparse._SubParsersAction) -> None:
    """``identify``: who is in a photo, among a gallery."""
    identify = subparsers.add_parser(
        "identify",
        help="who is in a photo, among a gallery of known people?",
        description="Rank the people of a gallery by how alike their photo is to the probe's "
        "face; the best is named only if it passes the threshold set for the gallery's size "
        "(see --fpir), else the answer is unknown, with the closest people listed.",
    )
    identify.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    identify.add_argument("probe", type=Path, metavar="PROBE", help="the photo to identify")
    identify.add_argument(
        "--gallery", type=Path, required=True, metavar="DIR",
        help="a folder of <Name>.jpg photos or <Name>/ folders of photos, or a gallery saved "
        "with --save-gallery",
    )
    identify.add_argument("--top-k", type=int, default=TOP_K, metavar="K",
                          help=f"people to list (default {TOP_K})")
    identify.add_argument(
        "--fpir", type=float, default=TARGET_FPIR, metavar="RATE",
        help="the chance, at the gallery's size, of naming someone who is not enrolled; the "
        f"threshold is set for it from the run's validation people (default {TARGET_FPIR:g}, "
        f"at most {MAX_TARGET_FPIR:g})")
    identify.add_argument("--save-gallery", type=Path, metavar="OUT",
                          help="save the gallery's embeddings to OUT to reuse with --gallery")
    which = identify.add_mutually_exclusive_group()
    which.add_argument("--face", type=int, metavar="K",
                       help="which face of the probe, by size (1 = the largest), among every "
                       "face a full search finds (without it: the largest face of a quicker "
                       "search)")
    which.add_argument("--all-faces", action="store_true",
                       help="identify every face in the probe photo, largest first")
    _add_photo_arguments(identify)
    identify.set_defaults(func=_identify)


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    """``export``: RUN's model for deployment."""
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
    export.add_argument("--out", type=folder_name, metavar="DIR",
                        help="output folder (default: RUN/export/<format>)")
    export.add_argument("--no-flip-tta", action="store_true",
                        help="export the plain embedding, without the mirror-image average")
    export.set_defaults(func=_export)


def _register_pretrained(subparsers: argparse._SubParsersAction) -> None:
    """``pretrained``: a folder for a pretrained model, to use as RUN."""
    pretrained = subparsers.add_parser(
        "pretrained",
        help="make a folder for a pretrained model (outside data) to use as RUN",
        description="Choose a pretrained model's threshold on validation pairs of DevTrain "
        "people and write DIR/pretrained.json; verify and identify then take DIR as RUN. Its "
        "results are labelled 'outside data': it learnt from faces outside LFW.",
    )
    pretrained.add_argument("name", choices=["dlib-resnet"],
                            help="dlib's face ResNet (face-recognition-models)")
    pretrained.add_argument("--out", type=folder_name, required=True, metavar="DIR",
                            help="the folder to write")
    pretrained.add_argument("--test", action="store_true",
                            help="also score pairsDevTest.txt once (reported as outside data)")
    pretrained.set_defaults(func=_pretrained)


def _add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-detect", action="store_true",
        help="skip face detection: the photos already are aligned LFW-style 250x250 frames",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=None,
        help="the embedding's precision (default: the run's train.precision; auto is bf16 "
        "only on CPUs with AMX-BF16 or AVX512-BF16)")


def folder_name(text: str) -> Path:
    """A folder given on the command line: an empty one (``--out ''``) is not read as "."."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty name")
    return Path(text)


def _verifier(args: argparse.Namespace, photos: list[Path]):  # -> Verifier
    """RUN's verifier, once the photos are known to exist (loading a model takes a while)."""
    from siamface.inference.align import require_image_file
    from siamface.inference.pretrained import PretrainedVerifier, is_pretrained
    from siamface.inference.verifier import Verifier

    for photo in photos:
        require_image_file(photo)
    if is_pretrained(args.run):
        if args.precision is not None:
            raise UsageError("--precision is for siamface runs; dlib's ResNet runs in dlib")
        return PretrainedVerifier.from_folder(args.run, detect=not args.no_detect)
    precision = {} if args.precision is None else {"precision": args.precision}
    return Verifier.from_run(args.run, detect=not args.no_detect, **precision)


def _face_ranks(faces: list[int] | None) -> tuple[int | None, int | None]:
    """``--face`` (1-based, one or two values) as the 0-based ranks of the two photos."""
    if faces is None:
        return None, None
    if len(faces) > 2 or min(faces) < 1:
        raise UsageError(f"--face: expected one or two face numbers of 1 or more, got "
                         f"{' '.join(map(str, faces))}")
    first, second = faces[0], faces[-1]
    return first - 1, second - 1


def _faces_line(photo: Path, found: int | None, box, rank: int | None) -> str:
    """Which face of a photo was used: ``a.jpg: 2 faces found; used the largest, box ...``."""
    which = "the largest" if not rank else f"number {rank + 1} by size"
    return (f"{photo}: {found} face{'s' if found != 1 else ''} found; used {which}, box "
            f"{_box_text(box)}")


def _verify(args: argparse.Namespace) -> int:
    face_a, face_b = _face_ranks(args.face)
    if args.face is not None and args.no_detect:
        raise UsageError("--face picks a detected face; it cannot go with --no-detect")
    verifier = _verifier(args, [args.image_a, args.image_b])
    result = verifier.verify(args.image_a, args.image_b, face_a, face_b)
    if args.json:
        print(json.dumps({**asdict(result), "threshold_probability": result.threshold_probability}))
        return 0
    print(result)
    for photo, found, box, rank in ((args.image_a, result.faces_a, result.box_a, face_a),
                                    (args.image_b, result.faces_b, result.box_b, face_b)):
        if box is not None:
            print(_faces_line(photo, found, box, rank))
    return 0


def _identify(args: argparse.Namespace) -> int:
    from siamface.inference.gallery import Gallery
    from siamface.inference.gallery_file import INDEX_FILE, check_save_folder

    if args.top_k < 1:
        raise UsageError(f"--top-k: expected at least 1 person to list, got {args.top_k}")
    if not 0 < args.fpir <= MAX_TARGET_FPIR:  # (NaN fails it too)
        raise UsageError(f"--fpir: expected a rate above 0 and at most {MAX_TARGET_FPIR:g}, got "
                         f"{args.fpir:g}")
    if args.face is not None and args.face < 1:
        raise UsageError(f"--face: expected a face number of 1 or more, got {args.face}")
    if (args.face is not None or args.all_faces) and args.no_detect:
        raise UsageError("--face and --all-faces pick detected faces; they cannot go with "
                         "--no-detect")
    if args.save_gallery is not None:  # before the photos are embedded
        check_save_folder(args.save_gallery)
    verifier = _verifier(args, [args.probe])
    if (args.gallery / INDEX_FILE).is_file():
        gallery = Gallery.load(args.gallery, verifier, args.fpir)
    else:
        gallery = Gallery(verifier, args.fpir).fit(args.gallery)
    if args.save_gallery is not None:
        print(f"gallery saved: {gallery.save(args.save_gallery)}")
    if args.all_faces:
        results = gallery.identify_all(args.probe, args.top_k)
        if args.json:
            print(json.dumps([asdict(r) for r in results]))
            return 0
        for rank, result in enumerate(results):
            print(f"face {rank + 1} of {len(results)}: box {_box_text(result.box)}")
            print(result)
        return 0
    rank = None if args.face is None else args.face - 1
    result = gallery.identify(args.probe, args.top_k, rank)
    if args.json:
        print(json.dumps(asdict(result)))
        return 0
    print(result)
    if result.box is not None:
        print(_faces_line(args.probe, result.faces_found, result.box, rank))
    return 0


def _box_text(box) -> str:
    return f"{box.left:.0f},{box.top:.0f}-{box.right:.0f},{box.bottom:.0f}"


def _pretrained(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.data.people import TEST_PAIRS
    from siamface.inference.pretrained import write_pretrained

    lfw = open_lfw(resolve_data_home(args.data_dir))
    info = write_pretrained(args.out, lfw, args.name,
                            test_pairs=TEST_PAIRS if args.test else None)
    print(f"{args.name} [{info['label']}]: threshold {info['threshold']:.3f} (logit) from "
          f"{info['validation']['pairs']} validation pairs of DevTrain people (accuracy "
          f"{info['validation']['accuracy']:.4f})")
    if "test" in info:
        t = info["test"]
        print(f"  {t['pairs_file']} [{info['label']}]: accuracy {t['accuracy']:.4f}, AUC "
              f"{t['auc']:.4f}, TAR at FAR 1% {t[tar_key(0.01)]:.4f}")
    print(f"use it as RUN: siamface verify {args.out} IMG1 IMG2")
    return 0


def _export(args: argparse.Namespace) -> int:
    from siamface.inference.export import export_run
    from siamface.inference.pretrained import refuse_pretrained
    from siamface.run_folder import Run

    refuse_pretrained(args.run, "`siamface export`")
    out = args.out if args.out is not None else Run(args.run).export_dir(args.fmt)
    try:
        sidecar = export_run(args.run, out, args.fmt, flip_tta=not args.no_flip_tta)
    except ImportError as err:  # ONNX without its packages: a missing install, not a bug
        print(f"siamface: error: {err}", file=sys.stderr)
        return 2
    files = json.loads(sidecar.read_text(encoding="utf-8"))["files"]
    print(f"exported ({args.fmt}): {', '.join(sorted(set(files.values())))} and {sidecar.name} "
          f"in {out}")
    return 0
