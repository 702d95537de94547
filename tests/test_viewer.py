"""glowgan view: payload format, gallery grouping, HTTP server (incl. path traversal), static export, CLI."""

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest
from PIL import Image

from glowgan import hdrio, tonemap
from glowgan.cli import main
from glowgan.generate import write_sample
from glowgan.metrics.dynamic_range import dynamic_range_stops
from glowgan.viewer import export, gallery, imagedata
from glowgan.viewer.server import ViewerServer


def _hdr(seed=0, height=12, width=20):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(-1, 2, size=(height, width, 3))).astype(np.float32)


@pytest.fixture
def folder(tmp_path):
    """A folder like glowgan's commands leave: a sample, an ITM result (input photo elsewhere), a render."""
    root = tmp_path / "results"
    write_sample(root, "seed000007", _hdr(1))
    photos = tmp_path / "photos"
    photo = tonemap.tonemap(_hdr(2), exposure_stops=1.0)
    hdrio.write_ldr(photos / "beach.jpg", photo)
    hdrio.write_hdr(root / "itm" / "beach.exr", _hdr(2))
    hdrio.write_ldr(root / "itm" / "beach.mask.png", (photo[..., 0] > 0.9).astype(np.float32))
    hdrio.write_ldr(root / "itm" / "beach.preview.png", photo)
    (root / "itm" / "beach.json").write_text(json.dumps({"input": str(photos / "beach.jpg")}))
    hdrio.write_hdr(root / "env.hdr", _hdr(3, 8, 16))
    hdrio.write_hdr(root / "sphere.exr", _hdr(4))
    hdrio.write_ldr(root / "sphere.png", tonemap.tonemap(_hdr(4)))
    (root / "sphere.json").write_text(json.dumps({"env": "env.hdr"}))
    hdrio.write_ldr(root / "notes.png", np.full((4, 6, 3), 0.5, np.float32))
    (root / "broken.exr").write_bytes(b"this is not an OpenEXR file")
    (root / ".hidden.exr").write_bytes(b"temporary file of an atomic write")
    (root / "readme.txt").write_text("not an image")
    secret = tmp_path / "secret.png"
    hdrio.write_ldr(secret, np.zeros((2, 2, 3), np.float32))
    os.symlink(secret, root / "link.png")
    return root


@pytest.fixture
def server(folder):
    viewer = ViewerServer([folder], port=0)
    thread = threading.Thread(target=viewer.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield viewer
    viewer.shutdown()
    viewer.server_close()


def _get(server, path, host=None):
    """(status, content type, body) of GET ``path`` sent verbatim (no client-side normalisation)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    connection.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    result = response.status, response.getheader("Content-Type"), response.read()
    connection.close()
    return result


def _id_of(scanned, name):
    return next(key for key, info in scanned.index["images"].items() if info["name"] == name)


def test_hdr_payload_round_trip_keeps_half_precision_and_statistics():
    hdr = _hdr(5, 9, 14)
    hdr[0, 0] = 0.0
    hdr[1, 1] = (2.0e5, 3.0, 1.0e-3)  # beyond the half range: the payload must scale, not overflow
    payload = imagedata.payload_of(hdr, "hdr", name="x.exr")
    decoded, meta = imagedata.decode_image(payload)
    assert decoded.shape == hdr.shape and np.isfinite(decoded).all()
    magic, _, sample_type, width, height, scale, _ = imagedata.HEADER.unpack_from(payload)
    assert (magic, sample_type, width, height, scale) == (b"GGVW", imagedata.SAMPLE_FLOAT16, 14, 9, 4.0)
    normal = hdr >= scale * 2.0**-14  # half normals: relative error <= 2**-11
    assert np.all(np.abs(decoded - hdr)[normal] <= 2.0**-11 * hdr[normal])
    assert meta["kind"] == "hdr" and meta["name"] == "x.exr"
    assert meta["auto_exposure_stops"] == pytest.approx(tonemap.auto_exposure_stops(hdr))
    assert meta["dynamic_range_stops"] == pytest.approx(dynamic_range_stops(hdr))
    assert meta["max_luminance"] == pytest.approx(0.2126 * 2.0e5 + 0.7152 * 3.0 + 0.0722 * 1.0e-3, rel=1e-6)
    meta_length = imagedata.HEADER.unpack_from(payload)[6]
    assert meta_length % 4 == 0 and len(payload) == imagedata.HEADER.size + meta_length + 14 * 9 * 3 * 2  # aligned halves


def test_ldr_payload_quantises_like_write_ldr(tmp_path):
    photo = np.random.default_rng(6).random((5, 7, 3), dtype=np.float32)
    hdrio.write_ldr(tmp_path / "p.png", photo)
    decoded, meta = imagedata.decode_image(imagedata.image_payload(tmp_path / "p.png"))
    assert meta["kind"] == "ldr"
    np.testing.assert_array_equal(decoded, hdrio.read_ldr(tmp_path / "p.png"))


def test_decode_refuses_damaged_payloads():
    payload = imagedata.payload_of(_hdr(), "hdr", name="x.exr")
    with pytest.raises(ValueError, match="header says"):
        imagedata.decode_image(payload[:-2])
    with pytest.raises(ValueError, match="magic"):
        imagedata.decode_image(b"XXXX" + payload[4:])
    with pytest.raises(ValueError, match="kind"):
        imagedata.encode_image(_hdr(), "exr")


def test_gallery_pairs_the_files_glowgan_writes(folder, tmp_path):
    scanned = gallery.scan([folder])
    groups = {group["title"]: group for group in scanned.index["groups"]}
    images = scanned.index["images"]
    assert set(groups) == {"seed000007.exr", "itm/beach.exr", "sphere.exr", "env.hdr", "notes.png", "broken.exr"}

    def roles(entries):
        return [(images[e["id"]]["name"], e["role"]) for e in entries]

    sample = groups["seed000007.exr"]
    assert sample["type"] == "sample"
    assert roles(sample["extras"]) == [("seed000007.png", "preview"), ("seed000007-stack.png", "exposure stack")]
    itm = groups["itm/beach.exr"]
    assert itm["type"] == "itm"
    assert roles(itm["compare"]) == [("beach.jpg", "LDR input"), ("beach.exr", "HDR result")]
    assert {role for _, role in roles(itm["extras"])} == {"preview", "clipped-pixel mask"}
    assert scanned.paths[itm["compare"][0]["id"]] == (tmp_path / "photos" / "beach.jpg").resolve()
    render = groups["sphere.exr"]
    assert render["type"] == "render" and roles(render["compare"]) == [("env.hdr", "environment map"), ("sphere.exr", "render")]
    assert groups["notes.png"]["type"] == "ldr"
    served = {path.name for path in scanned.paths.values()}
    assert "secret.png" not in served and "link.png" not in served and ".hidden.exr" not in served
    assert all(gallery.image_id(path) == key for key, path in scanned.paths.items())


def test_gallery_of_single_files_and_bad_sources(folder):
    scanned = gallery.scan([folder / "sphere.exr"])
    assert [g["type"] for g in scanned.index["groups"]] == ["render"]  # the sidecar still names the map
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        gallery.scan([folder / "missing.exr"])
    with pytest.raises(ValueError, match="not an image file"):
        gallery.scan([folder / "readme.txt"])


def test_server_serves_page_index_images_and_thumbnails(server, folder):
    status, content_type, body = _get(server, "/")
    assert status == 200 and content_type.startswith("text/html") and b"static/viewer.js" in body
    assert b"http://" not in body and b"https://" not in body  # nothing from the internet
    status, content_type, script = _get(server, "/static/viewer.js")
    assert status == 200 and content_type.startswith("text/javascript") and b"https://" not in script
    status, _, body = _get(server, "/index.json")
    index = json.loads(body)
    assert status == 200 and index["urls"]["data"] == "image/{id}.bin"
    sphere = _id_of(server.gallery, "sphere.exr")
    status, content_type, payload = _get(server, f"/image/{sphere}.bin")
    assert status == 200 and content_type == "application/octet-stream"
    decoded, meta = imagedata.decode_image(payload)
    expected = hdrio.read_hdr(folder / "sphere.exr")
    np.testing.assert_allclose(decoded, expected, rtol=2.0**-11, atol=2.0**-24)
    assert meta["name"] == "sphere.exr"
    status, content_type, png = _get(server, f"/thumb/{sphere}.png")
    assert status == 200 and content_type == "image/png" and Image.open(io.BytesIO(png)).size == (20, 12)


def test_server_reports_unreadable_images_and_sees_new_files(server, folder):
    broken = _id_of(server.gallery, "broken.exr")
    for path in (f"/image/{broken}.bin", f"/thumb/{broken}.png"):
        status, content_type, body = _get(server, path)
        assert status == 422 and content_type == "application/json"
        assert "broken.exr" in json.loads(body)["error"]
    hdrio.write_hdr(folder / "later.pfm", _hdr(8))
    later = gallery.image_id(folder / "later.pfm")
    assert _get(server, f"/image/{later}.bin")[0] == 200


def test_server_refuses_paths_outside_the_gallery(server, folder):
    link = gallery.image_id(folder / "link.png")  # the symlink that leads outside the folder
    for path in [
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/..%2fserver.py",
        "/static/",
        "/image/../../../../etc/passwd",
        "/image/..%2f..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/image/0123456789abcdef.bin",  # an id that is not in the gallery
        f"/image/{link}.bin",
        f"/thumb/{link}.png",
    ]:
        status, _, body = _get(server, path)
        assert status == 404, path
        assert b"secret" not in body and b"root:" not in body


def test_server_refuses_foreign_host_names(server):
    assert _get(server, "/index.json", host="evil.example:80")[0] == 403
    assert _get(server, "/index.json", host=f"localhost:{server.server_address[1]}")[0] == 200


def test_static_export_writes_page_data_and_scripts(folder, tmp_path):
    out = tmp_path / "site"
    result = export.export_static([folder], out, progress=False)
    assert result.images == len(gallery.scan([folder]).paths) - 1 and list(result.errors) == ["broken.exr"]
    index = json.loads((out / "index.json").read_text())
    assert (out / "index.js").read_text().startswith("glowganStatic.index({")
    for name in ("index.html", "static/viewer.js", "static/viewer.css"):
        assert (out / name).is_file(), name
    sphere = _id_of(gallery.scan([folder]), "sphere.exr")
    decoded, _ = imagedata.decode_image((out / index["urls"]["data"].format(id=sphere)).read_bytes())
    np.testing.assert_allclose(decoded, hdrio.read_hdr(folder / "sphere.exr"), rtol=2.0**-11, atol=2.0**-24)
    script = (out / index["urls"]["script"].format(id=sphere)).read_text()
    assert script.startswith(f'glowganStatic.data("{sphere}", "')
    for key, info in index["images"].items():
        exists = (out / "thumbs" / f"{key}.png").is_file()
        assert exists == ("error" not in info), info["name"]
    assert "broken.exr" in index["images"][_id_of(gallery.scan([folder]), "broken.exr")]["error"]
    # an earlier export is replaced; another non-empty folder is refused and left as it was
    export.export_static([folder / "notes.png"], out, progress=False)
    assert len(json.loads((out / "index.json").read_text())["images"]) == 1
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export.export_static([folder], other, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "photos", "results", "secret.png", "site"]


def test_cli_static_export_and_bad_input(folder, tmp_path, capsys):
    assert main(["view", str(folder / "sphere.exr"), "--static", str(tmp_path / "out")]) == 0
    assert "wrote the viewer with 2 images" in capsys.readouterr().out
    assert main(["view", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_cli_serves_until_ctrl_c(folder):
    # A shell starts background jobs with SIGINT ignored, and children inherit that (Python then installs
    # no KeyboardInterrupt handler): give the server the default disposition a terminal's Ctrl-C meets.
    process = subprocess.Popen(
        [sys.executable, "-m", "glowgan", "view", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = process.stdout.readline()
        assert "Ctrl-C" in line, line + process.stderr.read()
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "index.json", timeout=30) as response:
            assert len(json.loads(response.read())["groups"]) == 6
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopped" in stdout and "Traceback" not in stderr
