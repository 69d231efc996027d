"""Using a trained model: find and align faces in photos, verify pairs, identify against a
gallery, export for deployment."""

from siamface.inference.align import AlignedFace, FaceAligner, read_photo
from siamface.inference.face_detection import FaceBox, FaceDetector, NoFaceError
from siamface.inference.gallery import Candidate, Gallery, Identification
from siamface.inference.verifier import Verification, Verifier

__all__ = [
    "AlignedFace",
    "Candidate",
    "FaceAligner",
    "FaceBox",
    "FaceDetector",
    "Gallery",
    "Identification",
    "NoFaceError",
    "Verification",
    "Verifier",
    "read_photo",
]
