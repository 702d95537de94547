"""``glowgan view``: look at HDR images in a web browser, with exposure, tone mapping and a radiance readout."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "view",
        help="view HDR images (and their previews and inputs) in a web browser",
        description=(
            "Serve a page on this computer that shows HDR images (EXR, Radiance .hdr, PFM) with an exposure "
            "slider, a choice of tone-mapping operator (clip, Reinhard, ACES filmic: the same as `glowgan "
            "tonemap`), a histogram and a readout of the linear radiance under the cursor. A folder opens as "
            "a gallery that keeps together what glowgan writes: samples with their previews and exposure "
            "stacks, inverse-tone-mapping results beside their LDR input photos, renders beside their "
            "environment maps. Photos (PNG, JPEG, ...) are shown as they are. Tone mapping runs in the "
            "browser; nothing is loaded from the internet. Keys: +/- exposure by 1/2 stop, ./, by 1/10, "
            "a auto exposure, o next operator, f fit, z 1:1, arrows previous/next, Esc gallery."
        ),
    )
    parser.add_argument("sources", nargs="+", type=Path, metavar="DIR_OR_FILE", help="image files or folders")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this computer only; other addresses expose the "
        "images to the network)",
    )
    parser.add_argument(
        "--static",
        type=Path,
        metavar="OUT_DIR",
        help="instead of serving, write the page and the converted images into OUT_DIR; open it with any "
        "static web server (python -m http.server -d OUT_DIR) or straight from disk",
    )
    parser.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    if args.static is not None:
        from glowgan.viewer.export import export_static

        result = export_static(args.sources, args.static)
        print(f"wrote the viewer with {result.images} images to {result.out_dir / 'index.html'}")
        for shown, error in result.errors.items():
            print(f"  not converted: {shown}: {error}")
        return 0

    import errno
    import socket

    from glowgan.viewer.server import ViewerServer

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    try:
        server = ViewerServer(args.sources, host=args.host, port=args.port)
    except socket.gaierror as error:
        raise ValueError(f"--host {args.host}: not an address of this computer ({error.strerror})") from error
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise OSError(
            f"cannot listen on {args.host}:{args.port} ({error.strerror}); pick another --port, or 0 for a free one"
        ) from error
    with server:
        print(f"viewing {len(server.gallery.paths)} images at {server.url} (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
