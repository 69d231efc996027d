"""`siamface serve`: a REST API and a web page for verifying and identifying faces.

    app.py          create_app(): the FastAPI application, its middleware and the page at /
    context.py      ServerContext: what every endpoint works with
    api_faces.py    the endpoints health, version and verify
    api_galleries.py  galleries and people, enroll and identify
    schemas.py      the JSON shapes of the responses (they make the OpenAPI schema)
    photos.py       uploads to aligned faces: size, type and megapixel limits, detection
    photo_pool.py   PhotoPool: uploads aligned in worker processes (or on the threads)
    faces.py        FaceService: the model's work on aligned uploads, on the worker threads
    store.py        GalleryStore: galleries in SQLite
    workers.py      the bounded worker pool and the process's CPU threads
    guards.py       ServeOptions; the request size limit, host and origin checks, API key
    problems.py     ApiError and the JSON error responses
    static/         the web page (HTML, CSS, vanilla JS; nothing from a CDN)
"""
