"""`siamface serve`: a REST API and a web page for verifying and identifying faces.

    app.py      create_app(): the FastAPI application, its middleware and the page at /
    routes.py   the endpoints: verify, identify, galleries and people, health, version
    schemas.py  the JSON shapes of the responses (they make the OpenAPI schema)
    faces.py    FaceService: the model's work on uploaded photos, in the worker pool
    photos.py   uploads to photos: size, type and megapixel limits
    store.py    GalleryStore: galleries in SQLite
    workers.py  the bounded worker pool and the process's CPU threads
    guards.py   ServeOptions; the request size limit, host and origin checks, API key
    problems.py ApiError and the JSON error responses
    static/     the web page (HTML, CSS, vanilla JS; nothing from a CDN)
"""
