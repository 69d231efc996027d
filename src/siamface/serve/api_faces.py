"""Endpoints: health, version, and verifying two uploaded photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from scipy.special import expit

from siamface import __version__
from siamface.data.preprocess import MAX_PIXELS
from siamface.serve.context import ServerContext
from siamface.serve.guards import sent_once
from siamface.serve.photos import ACCEPTED_FORMATS, Face
from siamface.serve.schemas import Box, Health, Limits, Photo, Problem, VerifyResponse, Version

ERRORS = {status: {"model": Problem}
          for status in (400, 401, 403, 405, 408, 411, 413, 415, 421, 422, 500, 503)}


def photo_out(ctx: ServerContext, face: Face) -> Photo:
    """The JSON description of an aligned upload."""
    return Photo(width=face.width, height=face.height, faces_found=face.faces_found,
                 box=Box.of(face.aligned.box), grey=face.aligned.grey,
                 note=ctx.faces.colour_note(face))


async def read_upload(ctx: ServerContext, upload: UploadFile) -> bytes:
    """An upload's bytes, read up to one byte past the limit (which ``decode_photo`` refuses)."""
    return await upload.read(ctx.options.max_file_bytes + 1)


def faces_router(ctx: ServerContext) -> APIRouter:
    """Health, version and verify, working with ``ctx``."""
    router = APIRouter(prefix="/api", responses=ERRORS)
    settings = ctx.faces.settings

    @router.head("/health", include_in_schema=False)  # what uptime monitors send
    @router.get("/health", tags=["server"])
    async def health() -> Health:
        """The server is up and its model loaded."""
        return Health(status="ok")

    @router.get("/version", tags=["server"])
    async def version() -> Version:
        """siamface's version, the model, its threshold and the upload limits."""
        threshold = ctx.faces.verifier.threshold
        return Version(
            siamface=__version__, run=ctx.run_name, model_fingerprint=ctx.faces.fingerprint,
            threshold=threshold, threshold_probability=float(expit(threshold)),
            detect=settings["detect"], flip_tta=settings["flip_tta"],
            api_key_required=ctx.options.api_key is not None,
            limits=Limits(max_file_bytes=ctx.options.max_file_bytes,
                          max_request_bytes=ctx.options.max_request_bytes,
                          max_photos=ctx.options.max_photos, max_pixels=MAX_PIXELS,
                          formats=sorted(ACCEPTED_FORMATS.values())),
        )

    @router.post("/verify", tags=["verify"],
                 dependencies=[Depends(sent_once(form=("image_a", "image_b")))])
    async def verify(
        image_a: Annotated[UploadFile, File(description="first photo")],
        image_b: Annotated[UploadFile, File(description="second photo")],
    ) -> VerifyResponse:
        """Are the two photos the same person? (the model's threshold decides)"""
        data_a, data_b = await read_upload(ctx, image_a), await read_upload(ctx, image_b)
        a, b = await ctx.photos.faces([(data_a, "image_a"), (data_b, "image_b")])
        return await ctx.pool.run(_verify, ctx, a, b)

    return router


def _verify(ctx: ServerContext, a: Face, b: Face) -> VerifyResponse:
    """The verdict on two aligned uploads (the model's work: on a worker thread)."""
    result = ctx.faces.verify(a, b)
    return VerifyResponse(
        verdict="same person" if result.same else "different people", same=result.same,
        probability=result.probability, logit=result.logit, threshold=result.threshold,
        threshold_probability=result.threshold_probability, distance=result.distance,
        box_a=Box.of(result.box_a), box_b=Box.of(result.box_b),
        faces_a=result.faces_a, faces_b=result.faces_b,
        boxes_a=[Box.of(box) for box in result.boxes_a],
        boxes_b=[Box.of(box) for box in result.boxes_b], label=result.label,
        photo_a=photo_out(ctx, a), photo_b=photo_out(ctx, b),
    )
