"""Endpoints: galleries and their people (create, enroll, list, delete) and identification."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from scipy.special import expit

from siamface.inference.gallery import MAX_TARGET_FPIR, TARGET_FPIR, TOP_K, one_spelling
from siamface.serve.api_faces import ERRORS, photo_out, read_upload
from siamface.serve.context import ServerContext
from siamface.serve.guards import api_key_check, sent_once
from siamface.serve.photos import Face
from siamface.serve.problems import ApiError
from siamface.serve.schemas import (
    GALLERY_NAME,
    PERSON_NAME_MAX,
    CandidateOut,
    Deleted,
    Enrolled,
    GalleryDetail,
    GalleryOut,
    IdentifyResponse,
    NewGallery,
    PersonOut,
    Problem,
)
from siamface.serve.store import GalleryInfo, PersonNotFoundError

Gallery = Annotated[str, Path(pattern=GALLERY_NAME, description="the gallery's name")]
GALLERY_ERRORS = {**ERRORS, 404: {"model": Problem}, 409: {"model": Problem}}


def person_name(name: str, field: str = "name") -> str:
    """A person's name, checked and in one spelling: without surrounding spaces, Unicode NFC
    (so that "Zoë" typed two ways is one person), printable, no '/', not "." or ".." (a URL
    path segment a browser would remove), 1 to PERSON_NAME_MAX characters.

    Raises:
        ApiError: 422 naming ``field``.
    """
    name = one_spelling(name)
    if not name or len(name) > PERSON_NAME_MAX:
        raise ApiError(422, field, f"a name must have 1 to {PERSON_NAME_MAX} characters")
    if not name.isprintable() or "/" in name or name in (".", ".."):
        raise ApiError(422, field, "a name must be printable, have no '/' and not be '.' or "
                       "'..'")
    return name


def photo_label(filename: str | None, index: int) -> str:
    """What a gallery shows for an uploaded photo: its file name, printable, at most 200
    characters (only ever shown, never used as a path)."""
    label = "".join(c for c in filename or "" if c.isprintable())[:200]
    return label or f"photo {index + 1}"


def galleries_router(ctx: ServerContext) -> APIRouter:
    """The gallery endpoints, working with ``ctx``; writes need the API key when one is set."""
    router = APIRouter(prefix="/api/galleries", tags=["galleries"], responses=GALLERY_ERRORS)
    writes = [Depends(api_key_check(ctx.options.api_key))]
    store, settings = ctx.store, ctx.faces.settings

    def gallery_out(info: GalleryInfo) -> GalleryOut:
        return GalleryOut(name=info.name, fingerprint=info.fingerprint, people=info.people,
                          photos=info.photos, compatible=info.fingerprint == ctx.faces.fingerprint)

    @router.get("")
    async def list_galleries() -> list[GalleryOut]:
        """Every gallery, by name."""
        return [gallery_out(g) for g in await run_in_threadpool(store.galleries)]

    @router.post("", status_code=201, dependencies=writes)
    async def create_gallery(body: NewGallery) -> GalleryOut:
        """A new, empty gallery for this server's model."""
        return gallery_out(await run_in_threadpool(store.create_gallery, body.name, settings))

    @router.get("/{gallery}")
    async def show_gallery(gallery: Gallery) -> GalleryDetail:
        """A gallery and its people."""
        info = await run_in_threadpool(store.gallery, gallery)
        members = await run_in_threadpool(store.people, gallery)
        return GalleryDetail(**gallery_out(info).model_dump(),
                             members=[PersonOut(name=p.name, photos=p.photos) for p in members])

    @router.delete("/{gallery}", dependencies=writes)
    async def delete_gallery(gallery: Gallery) -> Deleted:
        """Delete a gallery and every photo in it."""
        await run_in_threadpool(store.delete_gallery, gallery)
        return Deleted(deleted=gallery)

    @router.get("/{gallery}/people")
    async def list_people(gallery: Gallery) -> list[PersonOut]:
        """The people of a gallery, by name, with their number of photos."""
        return [PersonOut(name=p.name, photos=p.photos)
                for p in await run_in_threadpool(store.people, gallery)]

    @router.post("/{gallery}/people", status_code=201,
                 dependencies=[*writes, Depends(sent_once(form=("name",)))])
    async def enroll(
        gallery: Gallery,
        # person_name checks the length once the name has its one spelling; this bound only
        # keeps the form from carrying much more
        name: Annotated[str, Form(max_length=4 * PERSON_NAME_MAX,
                                  description="who the photos show")],
        photos: Annotated[list[UploadFile], File(description="one or more photos of them")],
    ) -> Enrolled:
        """Enroll a person (or add photos of one already enrolled), all photos or none."""
        person = person_name(name)
        if not 1 <= len(photos) <= ctx.options.max_photos:
            raise ApiError(422, "photos", f"send 1 to {ctx.options.max_photos} photos, "
                           f"got {len(photos)}")
        uploads = [(await read_upload(ctx, p), f"photos[{i}]") for i, p in enumerate(photos)]
        labels = [photo_label(p.filename, i) for i, p in enumerate(photos)]
        await run_in_threadpool(store.gallery, gallery)  # 404 before the CPU work
        faces = await ctx.photos.faces(uploads)  # every photo aligned before any is stored
        return await ctx.pool.run(_enroll, ctx, gallery, person, faces, labels)

    @router.delete("/{gallery}/people/{person}", dependencies=writes)
    async def delete_person(gallery: Gallery, person: str) -> Deleted:
        """Delete a person and all their photos from a gallery."""
        try:  # as given: a name stored before names had one spelling
            await run_in_threadpool(store.delete_person, gallery, person)
        except PersonNotFoundError:
            person = person_name(person, "person")  # the spelling enroll stores
            await run_in_threadpool(store.delete_person, gallery, person)
        return Deleted(deleted=person)

    @router.post("/{gallery}/identify",
                 dependencies=[Depends(sent_once(form=("photo",), query=("top_k", "fpir")))])
    async def identify(
        gallery: Gallery,
        photo: Annotated[UploadFile, File(description="the photo to identify")],
        top_k: Annotated[int, Query(ge=1, le=100, description="how many people to list")] = TOP_K,
        fpir: Annotated[float, Query(gt=0, le=MAX_TARGET_FPIR, allow_inf_nan=False, description=(
            "the chance of naming someone who is not enrolled, at the gallery's "
            "size"))] = TARGET_FPIR,
    ) -> IdentifyResponse:
        """Rank the gallery's people against the photo; the best is named only if they pass the
        threshold set for the gallery's size, else the verdict is "unknown" (with the
        candidates)."""
        data = await read_upload(ctx, photo)
        people, sources, embeddings = await run_in_threadpool(
            store.embeddings, gallery, ctx.faces.settings, ctx.faces.verifier.model.out_dim)
        if not people:
            raise ApiError(409, "gallery", f"gallery {gallery!r} has no people yet: enroll some")
        probe = await ctx.photos.face(data, "photo")
        return await ctx.pool.run(_identify, ctx, probe, people, sources, embeddings, top_k,
                                  fpir)

    return router


def _enroll(ctx: ServerContext, gallery: str, person: str, faces: list[Face],
            labels: list[str]) -> Enrolled:
    """Embed a person's aligned photos and store them all in one transaction."""
    embeddings = ctx.faces.embed(faces)
    info = ctx.store.add_photos(gallery, person, labels, embeddings, ctx.faces.settings)
    return Enrolled(gallery=gallery, person=person, added=len(faces), photos=info.photos)


def _identify(ctx: ServerContext, probe: Face, people: list[str], sources: list[str],
              embeddings: np.ndarray, top_k: int, fpir: float) -> IdentifyResponse:
    """Rank a gallery's people against an aligned upload (on a worker thread)."""
    result = ctx.faces.identify(probe, people, sources, embeddings, top_k, fpir)
    return IdentifyResponse(
        verdict=result.name if result.name is not None else "unknown", name=result.name,
        candidates=[CandidateOut(name=c.name, probability=c.probability, logit=c.logit,
                                 distance=c.distance, source=c.source)
                    for c in result.candidates],
        threshold=result.threshold, threshold_probability=float(expit(result.threshold)),
        threshold_kind=result.threshold_kind, gallery_size=result.gallery_size,
        target_fpir=result.target_fpir, extrapolated=result.extrapolated,
        tied_with=result.tied_with,
        people=result.people, margin=result.margin,
        photo=photo_out(ctx, probe),
    )
