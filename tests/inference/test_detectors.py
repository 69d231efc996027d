"""dlib's detector and landmarks, the Haar fallback, landmark alignment of tilted faces."""

from __future__ import annotations

import math
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from siamface.data.preprocess import preset
from siamface.inference import detectors
from siamface.inference.align import (
    FRAME_SIZE,
    FaceAligner,
    FaceChoiceError,
    MultipleFacesWarning,
    landmark_transform,
    warp_frame,
)
from siamface.inference.calibrate import alignment_points
from siamface.inference.detectors import (
    LANDMARKS_FILE,
    DetectorFallbackWarning,
    DlibDetector,
    covered,
    default_detector,
    iou,
    model_file,
    without_duplicates,
)
from siamface.inference.face_detection import (
    MAX_SCAN_PIXELS,
    FaceDetector,
    NoFaceError,
    rescaled,
)

from .conftest import random_photo


def eye_angle(box) -> float:
    """The eye line's angle in degrees (image y down)."""
    left, right, _ = alignment_points(box)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def test_model_file_is_found_without_importing_the_package():
    assert model_file(LANDMARKS_FILE).is_file()
    assert "face_recognition_models" not in sys.modules  # its __init__ needs pkg_resources


def test_without_dlib_the_haar_cascade_is_the_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    with pytest.warns(DetectorFallbackWarning, match="Haar cascade"):
        detector = default_detector()
    assert isinstance(detector, FaceDetector)
    assert isinstance(FaceAligner(preset("face", 32, 3))._detector, FaceDetector)


def test_with_dlib_the_default_is_dlib():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DetectorFallbackWarning)
        assert isinstance(default_detector(), DlibDetector)


def test_no_face_is_a_clear_error():
    flat = np.full((300, 400), 127, dtype=np.uint8)
    assert DlibDetector().detect_all(flat) == []
    with pytest.raises(NoFaceError, match=r"no face found in wall\.jpg"):
        DlibDetector().detect(flat, "wall.jpg")


@pytest.mark.real_data
def test_a_small_picture_is_enlarged_for_faces_narrower_than_the_hog_window(lfw_faces,
                                                                            monkeypatch):
    # A 400x500 picture with LFW frames pasted at 100 px: faces of about 46 px (11% of the
    # shorter side), narrower than HOG's 80 px window, so they are found only after the picture
    # is enlarged (2x, the most it is: 8% of 400 px is 32 px, to become HOG_FACE_PX).
    photo = Image.fromarray(random_photo(9, size=(400, 500)))
    for i, x in enumerate((40, 300)):
        photo.paste(lfw_faces[i + 2].resize((100, 100), Image.Resampling.LANCZOS), (x, 150))
    grey = np.asarray(photo.convert("L"))
    boxes = DlibDetector().detect_all(grey)
    assert len(boxes) == 2
    assert sorted(round(b.center[0] / 10) for b in boxes) == [9, 35]  # photo pixels: 40+50, 300+50
    monkeypatch.setattr("siamface.inference.detectors.HOG_MAX_ENLARGE", 1.0)
    assert DlibDetector().detect_all(grey) == []  # not enlarged: too small for the window


def test_a_face_dlib_is_sure_of_comes_before_a_larger_weak_window():
    import dlib

    class FakeHog:  # dlib's run(): rectangles, scores, which filter
        def run(self, image, upsample, threshold):
            return ([dlib.rectangle(10, 10, 209, 209), dlib.rectangle(250, 50, 349, 149),
                     dlib.rectangle(400, 60, 459, 119)], [-0.3, 0.4, 0.1], [0, 0, 0])

    detector = DlibDetector(min_size_fraction=0.32, face_px=80)  # 0.32 * 250 = 80: not scaled
    detector._idle_hogs.put(FakeHog())  # the next search takes it
    boxes = detector.detect_all(np.zeros((250, 500), dtype=np.uint8))
    # sure (score >= 0) ones first, largest first within: 100 px, 60 px, then the 200 px one
    assert [round(b.width) for b in boxes] == [100, 60, 200]


def test_the_picture_is_scaled_so_the_smallest_face_fills_the_window():
    grey = np.zeros((300, 600), dtype=np.uint8)
    small, shrink = rescaled(grey, face=160, face_px=80)  # a larger face: shrunk 2x
    assert small.shape == (150, 300) and shrink == 2
    small, shrink = rescaled(grey, face=20, face_px=80)  # never enlarged by default
    assert small is grey and shrink == 1
    small, shrink = rescaled(grey, face=20, face_px=80, max_enlarge=3)  # 4x wanted, 3x allowed
    assert small.shape == (900, 1800) and shrink == pytest.approx(1 / 3)
    small, shrink = rescaled(grey, face=40, face_px=80, max_enlarge=3)
    assert small.shape == (600, 1200) and shrink == pytest.approx(0.5)


def test_a_long_thin_picture_is_never_scanned_at_more_than_the_cap(monkeypatch):
    # Sized from the shorter side, the search for faces of 8% of 400 px would scan this 40 MP
    # picture (a few KB as a PNG) enlarged 2x: 160 MP, about 25 s.
    scanned: list[tuple[int, int]] = []

    def record(self, image):
        scanned.append(image.shape)
        return []

    monkeypatch.setattr(DlibDetector, "_run", record)
    with pytest.raises(NoFaceError):
        DlibDetector().detect(np.zeros((400, 100_000), dtype=np.uint8), "wide.png")
    assert scanned and all(h * w <= MAX_SCAN_PIXELS for h, w in scanned)
    small, shrink = rescaled(np.zeros((400, 100_000), dtype=np.uint8), face=32, face_px=72,
                             max_enlarge=2)
    assert small.size <= MAX_SCAN_PIXELS and shrink == pytest.approx(np.sqrt(40e6 / 4e6), 0.01)
    _, shrink = rescaled(np.zeros((1200, 1600), dtype=np.uint8), face=96, face_px=72)
    assert shrink == pytest.approx(96 / 72)  # a photo's search is not affected


@pytest.mark.parametrize("face", [160, 264, 320, 700])  # shrunk 2x, 3.3x, 4x, 8.75x
def test_shrinking_averages_pixels_rather_than_skipping_them(face):
    # A one-pixel checkerboard has no detail a smaller image can keep: shrunk 2x or more it must
    # come out even grey (picking pixels would give black, white or stripes).
    checker = (np.indices((301, 601)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small, shrink = rescaled(checker, face=face, face_px=80)
    assert small.shape == (round(301 / shrink), round(601 / shrink))
    assert np.abs(small.astype(int) - 127.5).max() <= 1


@pytest.mark.real_data
def test_where_a_large_face_is_found_smaller_ones_are_not_searched_for(lfw_faces):
    # A 1600x1000 picture: faces of about 37% and 29% of the shorter side (800 and 630 px
    # frames) and one of about 10% (220 px): the search for the largest stops among faces of
    # at least 25%.
    photo = Image.fromarray(random_photo(10, size=(1000, 1600)))
    for face, size, place in ((lfw_faces[4], 800, (0, 0)), (lfw_faces[5], 630, (850, 300)),
                              (lfw_faces[6], 220, (1370, 20))):
        photo.paste(face.resize((size, size), Image.Resampling.LANCZOS), place)
    grey = np.asarray(photo.convert("L"))
    detector = DlibDetector()
    every = detector.detect_all(grey)
    assert len(every) == 3
    largest = detector.detect_largest(grey)  # searched at another scale: boxes shift a little

    def same_face(a, b) -> bool:
        return math.dist(a.center, b.center) < 0.15 * b.width

    assert len(largest) == 2 and all(map(same_face, largest, every[:2]))
    assert same_face(detector.detect(grey), every[0])
    with pytest.warns(MultipleFacesWarning, match="2 faces found"):
        aligned = FaceAligner(preset("face", 32, 3), detector=detector)(photo)
    assert aligned.faces_found == 2 and same_face(aligned.box, every[0])
    assert len(FaceAligner(preset("face", 32, 3), detector=detector).align_all(photo)) == 3
    # Without a large face, the search goes down to the smallest size: the 10% face is found.
    small = Image.fromarray(random_photo(11, size=(1000, 1000)))
    small.paste(lfw_faces[6].resize((220, 220), Image.Resampling.LANCZOS), (500, 500))
    found = detector.detect_largest(np.asarray(small.convert("L")))
    assert len(found) == 1 and math.dist(found[0].center, (610, 610)) < 25


@pytest.mark.real_data
def test_two_threads_search_with_one_detector_and_find_what_each_finds_alone(lfw_faces):
    # A HOG detector holds the image it scans: shared by two threads at once, one thread's
    # search would read the other's picture.
    pictures = []
    for seed, (face, size, place) in enumerate(((lfw_faces[7], 300, (40, 60)),
                                                (lfw_faces[8], 420, (500, 200)))):
        photo = Image.fromarray(random_photo(20 + seed, size=(800, 1000)))
        photo.paste(face.resize((size, size), Image.Resampling.LANCZOS), place)
        pictures.append(np.asarray(photo.convert("L")))
    detector = DlibDetector()
    alone = [detector.detect_all(p) for p in pictures]
    assert [len(boxes) for boxes in alone] == [1, 1]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(detector.detect_all, pictures * 4))
    assert together == alone * 4
    # One HOG detector per scan at once (two threads, each scanning two halves), kept for reuse.
    assert 2 <= detector._idle_hogs.qsize() <= 4


def test_overlap_is_intersection_over_union():
    assert iou((0, 0, 10, 10, 1.0), (5, 0, 15, 10, 1.0)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10, 1.0), (10, 0, 20, 10, 1.0)) == 0  # touching edges
    assert iou((0, 0, 10, 10, 1.0), (0, 0, 10, 10, 0.0)) == 1


def test_covered_is_the_share_of_the_smaller_box_inside_the_other():
    assert covered((0, 0, 40, 40, 1.0), (10, 10, 20, 20, 0.0)) == 1
    assert covered((0, 0, 10, 10, 1.0), (5, 0, 25, 20, 0.0)) == pytest.approx(0.5)


def test_of_two_boxes_of_one_face_the_better_scored_is_kept():
    boxes = [(0, 0, 10, 10, 0.5), (1, 0, 11, 10, 0.9), (5, 0, 15, 10, 0.1), (30, 30, 40, 40, -0.2),
             (0, 0, 60, 60, 0.3), (31, 31, 39, 39, -0.3)]
    # (1..11) covers (0..10) by 90/110; (5..15) overlaps (1..11) by 60/140: a face of its own;
    # the large box holds better-scored ones, so it is theirs; the last lies in (30..40).
    assert without_duplicates(boxes) == [boxes[1], boxes[2], boxes[3]]


@pytest.mark.real_data
def test_a_large_picture_is_scanned_in_two_halves_and_each_face_found_once(lfw_faces,
                                                                         monkeypatch):
    # 1100x1700: the search down to 8% shrinks it 1.1x (88 px faces -> 80 px) to 1.5 MP and
    # scans halves split at x = 850 (photo pixels) that overlap by 165 px on each side. One
    # face left, one right, one across the middle line.
    photo = Image.fromarray(random_photo(30, size=(1100, 1700)))
    for face, size, place in ((lfw_faces[9], 360, (60, 100)), (lfw_faces[10], 300, (690, 500)),
                              (lfw_faces[11], 330, (1250, 650))):
        photo.paste(face.resize((size, size), Image.Resampling.LANCZOS), place)
    grey = np.asarray(photo.convert("L"))
    halves = DlibDetector().detect_all(grey)
    monkeypatch.setattr(detectors, "TILE_MIN_PIXELS", 10**9)
    whole = DlibDetector().detect_all(grey)
    assert len(whole) == len(halves) == 3
    for a, b in zip(sorted(halves, key=lambda f: f.left), sorted(whole, key=lambda f: f.left),
                    strict=True):
        assert math.dist(a.center, b.center) < 0.1 * b.width


@pytest.mark.real_data
def test_a_tilted_face_is_found_and_aligned_upright(lfw_faces):
    # An LFW face turned 20 degrees (Pillow turns counter-clockwise: the eye line then rises
    # to the right, an angle of about -20 with y down) in a larger photo.
    photo = Image.fromarray(random_photo(7, size=(700, 900)))
    turned = lfw_faces[0].resize((400, 400)).rotate(20, Image.Resampling.BICUBIC, expand=True)
    photo.paste(turned, (250, 120))
    detector = DlibDetector()
    box = detector.detect(np.asarray(photo.convert("L")))
    assert eye_angle(box) == pytest.approx(-20, abs=5)
    frame = warp_frame(photo, landmark_transform(alignment_points(box)))
    assert frame.size == (FRAME_SIZE, FRAME_SIZE)
    upright = detector.detect(np.asarray(frame.convert("L")))
    assert abs(eye_angle(upright)) < 3  # the model sees it level, as LFW's frames are
    aligned = FaceAligner(preset("face", 32, 3), detector=detector)(photo)
    assert aligned.roll == pytest.approx(eye_angle(box), abs=1.5)  # LFW's own line: -1.4
    assert aligned.pixels.shape == (3, 32, 32) and aligned.faces_found == 1


@pytest.mark.real_data
def test_several_faces_largest_first_with_a_notice_and_a_choice(lfw_faces):
    canvas = Image.fromarray(random_photo(8, size=(600, 1000)))
    canvas.paste(lfw_faces[0].resize((440, 440)), (40, 80))  # the larger (34% of 600 px)
    canvas.paste(lfw_faces[1].resize((340, 340)), (620, 200))  # 26%: both found at once
    aligner = FaceAligner(preset("face", 32, 3), detector=DlibDetector())
    with pytest.warns(MultipleFacesWarning, match=r"2 faces found, the largest used .*; for "
                      r"another, crop the photo, or pick it by size rank where it is the probe"):
        first = aligner(canvas)
    assert first.faces_found == 2 and len(first.boxes) == 2 and first.box == first.boxes[0]
    assert first.box.center[0] < 500  # the larger face is on the left
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultipleFacesWarning)  # asked for: no notice
        second = aligner(canvas, face=1)
        assert second.box.center[0] > 600
        assert len(aligner.align_all(canvas)) == 2
    with pytest.raises(FaceChoiceError,
                       match="the 3rd largest face asked for, but 2 faces were found"):
        aligner(canvas, face=2)
