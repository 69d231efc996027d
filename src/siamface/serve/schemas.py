"""The JSON shapes of requests and responses; FastAPI draws the OpenAPI schema from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from siamface.inference.face_detection import FaceBox

GALLERY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PERSON_NAME_MAX = 100


class Box(BaseModel):
    """A face's box in the upright photo's pixels (right and bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def of(cls, box: FaceBox | None) -> Box | None:
        return None if box is None else cls(left=box.left, top=box.top, right=box.right,
                                            bottom=box.bottom)


class Photo(BaseModel):
    """What was found in one uploaded photo."""

    width: int = Field(description="the upright photo's width, in the box's pixels")
    height: int
    faces_found: int | None = Field(description="faces detected (the largest is used; where "
                                                "it is large, smaller faces are not searched "
                                                "for); null when detection is off")
    box: Box | None = Field(description="the face used; null when detection is off")
    grey: bool = Field(description="the face is black and white")
    note: str | None = Field(description="why this photo's score is less reliable than the "
                                         "reported accuracy (a black-and-white photo for a "
                                         "model of colour photos); null when there is none")


class VerifyResponse(BaseModel):
    """The verdict on two photos: the fields of `siamface verify --json`, and each photo's faces."""

    verdict: str = Field(description='"same person" or "different people"')
    same: bool
    probability: float = Field(description="sigmoid(logit): the model's probability of one person")
    logit: float
    threshold: float = Field(description="the decision threshold on the logit")
    threshold_probability: float = Field(description="sigmoid(threshold)")
    distance: float
    box_a: Box | None
    box_b: Box | None
    faces_a: int | None = Field(description="faces found in photo a; null without detection")
    faces_b: int | None
    boxes_a: list[Box] = Field(description="every face found in photo a, largest first")
    boxes_b: list[Box]
    label: str | None = Field(description='"outside data" for a pretrained model, else null')
    photo_a: Photo
    photo_b: Photo


class CandidateOut(BaseModel):
    """One gallery person's best photo against the probe."""

    name: str
    probability: float
    logit: float
    distance: float
    source: str = Field(description="the label of their best-matching photo")


class IdentifyResponse(BaseModel):
    """Who the probe is: the best person if they pass the threshold, else "unknown"."""

    verdict: str = Field(description=('the name, or "unknown" when no one passes the threshold '
                                      'or two people tie at the top (margin 0)'))
    name: str | None
    candidates: list[CandidateOut] = Field(description="the closest people, best first")
    threshold: float = Field(description="the logit the best must reach to be named")
    threshold_probability: float
    threshold_kind: Literal["gallery", "verification"] = Field(description=(
        '"gallery": set for gallery_size people at target_fpir; "verification": the one-to-one '
        "threshold (the model has no gallery calibration: strangers are named more often)"))
    gallery_size: int | None = Field(description="the people the threshold was set for")
    target_fpir: float | None = Field(description=(
        "the chance of naming someone not enrolled that the threshold allows"))
    tied_with: str | None = Field(description=(
        "the person who scores exactly as the best, above the threshold: no one is named"))
    extrapolated: bool = Field(description=(
        "target_fpir is finer than the model's calibration resolves at this gallery size: the "
        "threshold is the highest impostor score it saw, and the real chance is not known "
        "that finely"))
    people: int = Field(description="the people in the gallery")
    margin: float | None = Field(description=(
        "the best candidate's logit minus the second-best's (null with one person)"))
    photo: Photo


class NewGallery(BaseModel):
    """A gallery to create."""

    name: str = Field(pattern=GALLERY_NAME, description="letters, digits, _ . - (at most 64)")


class GalleryOut(BaseModel):
    name: str
    fingerprint: str = Field(description="sha256 of the model its embeddings were made with")
    compatible: bool = Field(description="made with this server's model (usable here)")
    people: int
    photos: int


class PersonOut(BaseModel):
    name: str
    photos: int


class GalleryDetail(GalleryOut):
    members: list[PersonOut]


class Enrolled(BaseModel):
    gallery: str
    person: str
    added: int = Field(description="photos added by this request")
    photos: int = Field(description="photos of this person in the gallery now")


class Deleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str


class Limits(BaseModel):
    max_file_bytes: int
    max_request_bytes: int
    max_photos: int
    max_pixels: int
    formats: list[str]


class Version(BaseModel):
    siamface: str
    run: str | None
    model_fingerprint: str
    threshold: float
    threshold_probability: float
    detect: bool
    flip_tta: bool
    api_key_required: bool = Field(description="writes need the X-API-Key header")
    limits: Limits


class Problem(BaseModel):
    """Every error response."""

    field: str | None = Field(description="the request field at fault, if one is")
    message: str
    status: int
