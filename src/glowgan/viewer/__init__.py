"""A browser-based HDR image viewer: ``glowgan view`` serves it, ``glowgan view --static`` writes it out.

The server (:mod:`.server`) reads images with :mod:`glowgan.hdrio` and sends linear radiance as
half floats (:mod:`.imagedata`); the page (``static/``) tone-maps them in the browser with the
operators of :mod:`glowgan.tonemap`, so exposure and operator changes never reach the server.
:mod:`.gallery` finds the images and pairs the files that glowgan's commands write together, and
:mod:`.export` writes the page and converted images as static files. Everything is served
locally: the page loads no fonts, scripts or styles from elsewhere.
"""
