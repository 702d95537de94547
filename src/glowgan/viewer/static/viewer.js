/* glowgan view: the page of `glowgan view` and `glowgan view --static`.
 *
 * Images arrive as viewer payloads (see glowgan/viewer/imagedata.py): HDR as float16 linear radiance,
 * photos as 8-bit display values. Tone mapping runs here, on the CPU over typed arrays into a 2D canvas,
 * with the definitions of glowgan/tonemap.py, so moving the exposure slider never reaches the server:
 *   exposed = hdr * 2**stops
 *   clip:     display = exposed
 *   reinhard: display = exposed * (1 + L / Lw^2) / (1 + L), L = Rec. 709 luminance of exposed,
 *             Lw = the brightest exposed luminance (Reinhard et al. 2002, Eq. 4)
 *   filmic:   x = 0.6 * exposed; display = x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14) (Narkowicz 2016)
 *   then the IEC 61966-2-1 sRGB encoding, clipped to [0, 1], quantised to floor(255 v + 0.5).
 * The page sets body[data-state] to "ready" when what it shows is drawn, and body[data-exposure] after
 * each redraw; window.glowganViewer maps image pixels to the screen (used by tests/test_browser.py).
 */
"use strict";

(() => {
  const OPERATORS = ["clip", "reinhard", "filmic"];
  const REC709 = [0.2126, 0.7152, 0.0722]; // Rec. ITU-R BT.709 luminance weights (metrics/dynamic_range.py)
  const ACES_PRESCALE = 0.6; // Narkowicz 2016, as in tonemap.py
  const [ACES_A, ACES_B, ACES_C, ACES_D, ACES_E] = [2.51, 0.03, 2.43, 0.59, 0.14];
  const SRGB_LUT_SIZE = 65536; // linear [0, 1] in steps of 1/65535: at most 0.03 code from the exact encoding
  const STEP_COARSE = 0.5; // stops per +/- key
  const STEP_FINE = 0.1; // stops per . / , key
  const ZOOM_FACTOR = 1.25; // per wheel notch
  const HISTOGRAM_BINS_PER_STOP = 4;
  const HISTOGRAM_MAX_STOPS = 40; // a wider range is cut at its dark end
  const DISPLAY_BLACK = 0.5 / 255 / 12.92; // linear display value of half an 8-bit sRGB code
  const IMAGE_CACHE_SIZE = 8; // decoded images kept for quick back-and-forth
  const FILE_MODE = location.protocol === "file:"; // browsers refuse fetch() here: load scripts instead
  const GROUP_LABELS = { sample: "HDR sample", itm: "inverse tone mapping", render: "render", hdr: "HDR image", ldr: "photo" };

  const $ = (id) => document.getElementById(id);
  const SRGB_LUT = buildSrgbLut();
  const HALF_TO_FLOAT = buildHalfTable();

  const state = {
    index: null,
    groupIndex: -1,
    panels: [],
    exposure: 0,
    autoExposure: 0,
    operator: "clip",
    zoom: 1, // relative to fit
    center: [0.5, 0.5], // image point at the panel centre, as fractions of width and height
    renders: 0,
    renderQueued: false,
    hover: null, // {panel, clientX, clientY}
    drag: null,
    routeToken: 0, // increases with every view shown, so a slow load cannot replace a newer view
    firstRoute: true,
  };
  const imageCache = new Map(); // id -> Promise of a decoded image
  const pendingScripts = new Map(); // id -> resolve, for file:// loading

  function buildSrgbLut() {
    const lut = new Uint8Array(SRGB_LUT_SIZE);
    for (let i = 0; i < SRGB_LUT_SIZE; i++) {
      const x = i / (SRGB_LUT_SIZE - 1);
      const encoded = x <= 0.0031308 ? 12.92 * x : 1.055 * Math.pow(x, 1 / 2.4) - 0.055;
      lut[i] = Math.floor(Math.min(Math.max(encoded, 0), 1) * 255 + 0.5);
    }
    return lut;
  }

  function buildHalfTable() {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const mantissa = h & 0x3ff;
      if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
      else if (exponent === 31) table[h] = mantissa ? NaN : sign * Infinity;
      else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    }
    return table;
  }

  // ---------------------------------------------------------------------------------------- loading

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => { script.remove(); resolve(); };
      script.onerror = () => { script.remove(); reject(new Error(`cannot load ${url}`)); };
      document.head.appendChild(script);
    });
  }

  // Called by index.js and data/ID.js of a static export opened from disk.
  window.glowganStatic = {
    index(index) { state.index = index; },
    data(id, base64) {
      const resolve = pendingScripts.get(id);
      if (resolve) resolve(base64);
    },
  };

  async function loadIndex() {
    if (FILE_MODE) {
      await loadScript("index.js");
      if (!state.index) throw new Error("index.js did not define the gallery");
      return state.index;
    }
    const response = await fetch("index.json", { cache: "no-store" });
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  async function errorText(response) {
    try {
      return (await response.json()).error;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  function urlOf(kind, id) {
    return state.index.urls[kind].replace("{id}", id);
  }

  function loadImage(id) {
    if (imageCache.has(id)) {
      const cached = imageCache.get(id);
      imageCache.delete(id);
      imageCache.set(id, cached);
      return cached;
    }
    const promise = fetchImage(id);
    imageCache.set(id, promise);
    while (imageCache.size > IMAGE_CACHE_SIZE) imageCache.delete(imageCache.keys().next().value);
    promise.catch(() => imageCache.delete(id));
    return promise;
  }

  async function fetchImage(id) {
    const info = state.index.images[id];
    if (info.error) throw new Error(info.error);
    let buffer;
    if (FILE_MODE) {
      const base64 = await new Promise((resolve, reject) => {
        pendingScripts.set(id, resolve);
        loadScript(urlOf("script", id)).catch(reject);
      });
      pendingScripts.delete(id);
      const binary = atob(base64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      buffer = bytes.buffer;
    } else {
      const response = await fetch(urlOf("data", id));
      if (!response.ok) throw new Error(await errorText(response));
      buffer = await response.arrayBuffer();
    }
    return decodePayload(buffer);
  }

  function decodePayload(buffer) {
    const view = new DataView(buffer);
    const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
    if (magic !== "GGVW" || view.getUint16(4, true) !== 1) throw new Error("not a glowgan viewer payload (version 1)");
    const sampleType = view.getUint16(6, true);
    const width = view.getUint32(8, true);
    const height = view.getUint32(12, true);
    const scale = view.getFloat32(16, true);
    const metaLength = view.getUint32(20, true);
    const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 24, metaLength)));
    const count = width * height * 3;
    const offset = 24 + metaLength;
    const image = { width, height, meta, kind: meta.kind };
    if (sampleType === 1) {
      const halves = new Uint16Array(buffer, offset, count); // little-endian, as all current browsers are
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = HALF_TO_FLOAT[halves[i]] * scale;
      image.data = data;
      image.maxLuminance = maxLuminance(data);
      image.histogram = luminanceHistogram(data);
    } else if (sampleType === 2) {
      image.data = new Uint8Array(buffer, offset, count);
    } else {
      throw new Error(`unknown sample type ${sampleType}`);
    }
    return image;
  }

  function maxLuminance(data) {
    let max = 0;
    for (let i = 0; i < data.length; i += 3) {
      const lum = REC709[0] * data[i] + REC709[1] * data[i + 1] + REC709[2] * data[i + 2];
      if (lum > max) max = lum;
    }
    return max;
  }

  function luminanceHistogram(data) {
    let low = Infinity;
    let high = -Infinity;
    for (let i = 0; i < data.length; i += 3) {
      const lum = REC709[0] * data[i] + REC709[1] * data[i + 1] + REC709[2] * data[i + 2];
      if (lum > 0) {
        const stops = Math.log2(lum);
        if (stops < low) low = stops;
        if (stops > high) high = stops;
      }
    }
    if (!Number.isFinite(low)) return null;
    high = Math.ceil(high + 1e-9);
    low = Math.max(Math.floor(low), high - HISTOGRAM_MAX_STOPS);
    const bins = new Uint32Array((high - low) * HISTOGRAM_BINS_PER_STOP);
    for (let i = 0; i < data.length; i += 3) {
      const lum = REC709[0] * data[i] + REC709[1] * data[i + 1] + REC709[2] * data[i + 2];
      if (lum > 0) {
        const bin = Math.floor((Math.log2(lum) - low) * HISTOGRAM_BINS_PER_STOP);
        bins[Math.min(Math.max(bin, 0), bins.length - 1)]++;
      }
    }
    return { low, high, bins };
  }

  // ------------------------------------------------------------------------------------ tone mapping

  function toneMap(image, out, stops, operator) {
    const src = image.data;
    const gain = 2 ** stops;
    const last = SRGB_LUT_SIZE - 1;
    const white = Math.max(image.maxLuminance * gain, 1e-12);
    const invWhite2 = 1 / (white * white);
    const encode = (x) => SRGB_LUT[x <= 0 ? 0 : x >= 1 ? last : (x * last + 0.5) | 0];
    const aces = (v) => {
      const x = v * ACES_PRESCALE;
      return (x * (ACES_A * x + ACES_B)) / (x * (ACES_C * x + ACES_D) + ACES_E);
    };
    for (let i = 0, j = 0; i < src.length; i += 3, j += 4) {
      let r = src[i] * gain;
      let g = src[i + 1] * gain;
      let b = src[i + 2] * gain;
      if (operator === "reinhard") {
        const lum = REC709[0] * r + REC709[1] * g + REC709[2] * b;
        const scale = lum > 0 ? (1 + lum * invWhite2) / (1 + lum) : 0;
        r *= scale;
        g *= scale;
        b *= scale;
      } else if (operator === "filmic") {
        r = aces(r);
        g = aces(g);
        b = aces(b);
      }
      out[j] = encode(r);
      out[j + 1] = encode(g);
      out[j + 2] = encode(b);
      out[j + 3] = 255;
    }
  }

  function copyDisplay(image, out) {
    const src = image.data;
    for (let i = 0, j = 0; i < src.length; i += 3, j += 4) {
      out[j] = src[i];
      out[j + 1] = src[i + 1];
      out[j + 2] = src[i + 2];
      out[j + 3] = 255;
    }
  }

  // ----------------------------------------------------------------------------------------- panels

  function makePanel(entry) {
    const element = document.createElement("div");
    element.className = "panel";
    const canvas = document.createElement("canvas");
    const caption = document.createElement("div");
    caption.className = "caption";
    const info = state.index.images[entry.id];
    caption.innerHTML = `<b></b> <span></span>`;
    caption.querySelector("b").textContent = entry.role;
    caption.querySelector("span").textContent = info.path;
    element.append(canvas, caption);
    const panel = { id: entry.id, role: entry.role, element, canvas, image: null, error: null };
    attachPointer(panel);
    return panel;
  }

  function showPanelError(panel, message) {
    const box = document.createElement("div");
    box.className = "error";
    box.textContent = `${state.index.images[panel.id].path}: ${message}`;
    panel.element.appendChild(box);
  }

  function preparePanel(panel, image) {
    panel.image = image;
    panel.offscreen = document.createElement("canvas");
    panel.offscreen.width = image.width;
    panel.offscreen.height = image.height;
    panel.offscreenContext = panel.offscreen.getContext("2d");
    panel.pixels = panel.offscreenContext.createImageData(image.width, image.height);
    if (image.kind === "ldr") {
      copyDisplay(image, panel.pixels.data);
      panel.offscreenContext.putImageData(panel.pixels, 0, 0);
    }
  }

  function fitScale(panel) {
    const { width, height } = panel.canvas;
    return Math.min(width / panel.image.width, height / panel.image.height);
  }

  function panelScale(panel) {
    return fitScale(panel) * state.zoom;
  }

  function sizeCanvas(panel) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(panel.element.clientWidth * ratio));
    const height = Math.max(1, Math.round(panel.element.clientHeight * ratio));
    if (panel.canvas.width !== width || panel.canvas.height !== height) {
      panel.canvas.width = width;
      panel.canvas.height = height;
    }
  }

  // Canvas pixel coordinates of image point (x, y) (image pixels, continuous).
  function imageToCanvas(panel, x, y) {
    const scale = panelScale(panel);
    return [
      (x - state.center[0] * panel.image.width) * scale + panel.canvas.width / 2,
      (y - state.center[1] * panel.image.height) * scale + panel.canvas.height / 2,
    ];
  }

  function canvasToImage(panel, cx, cy) {
    const scale = panelScale(panel);
    return [
      (cx - panel.canvas.width / 2) / scale + state.center[0] * panel.image.width,
      (cy - panel.canvas.height / 2) / scale + state.center[1] * panel.image.height,
    ];
  }

  function clientToCanvas(panel, clientX, clientY) {
    const rect = panel.canvas.getBoundingClientRect();
    return [
      ((clientX - rect.left) * panel.canvas.width) / rect.width,
      ((clientY - rect.top) * panel.canvas.height) / rect.height,
    ];
  }

  function drawPanel(panel) {
    if (!panel.image) return;
    sizeCanvas(panel);
    const context = panel.canvas.getContext("2d");
    const scale = panelScale(panel);
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, panel.canvas.width, panel.canvas.height);
    context.imageSmoothingEnabled = scale < 1;
    context.imageSmoothingQuality = "high";
    const [left, top] = imageToCanvas(panel, 0, 0);
    context.drawImage(panel.offscreen, left, top, panel.image.width * scale, panel.image.height * scale);
  }

  function render() {
    state.renderQueued = false;
    for (const panel of state.panels) {
      if (!panel.image) continue;
      if (panel.image.kind === "hdr") {
        toneMap(panel.image, panel.pixels.data, state.exposure, state.operator);
        panel.offscreenContext.putImageData(panel.pixels, 0, 0);
      }
      drawPanel(panel);
    }
    state.renders++;
    drawHistogram();
    updateReadout();
    document.body.dataset.exposure = state.exposure.toFixed(3);
    document.body.dataset.operator = state.operator;
    document.body.dataset.renders = String(state.renders);
  }

  function requestRender() {
    if (!state.renderQueued) {
      state.renderQueued = true;
      requestAnimationFrame(render);
    }
  }

  function redrawViews() {
    state.panels.forEach(drawPanel);
    $("zoom").textContent = state.panels.some((p) => p.image) ? `${Math.round(zoomPercent())}%` : "";
    updateReadout();
  }

  function zoomPercent() {
    const panel = state.panels.find((p) => p.image);
    return panel ? panelScale(panel) * 100 / (window.devicePixelRatio || 1) : 100;
  }

  // ------------------------------------------------------------------------------ exposure, operator

  function setExposure(stops) {
    if (!Number.isFinite(stops)) return;
    state.exposure = Math.round(stops * 1000) / 1000;
    $("exposure-slider").value = String(state.exposure);
    if (document.activeElement !== $("exposure")) $("exposure").value = state.exposure.toFixed(2);
    requestRender();
  }

  function setOperator(operator) {
    state.operator = operator;
    $("operator").value = operator;
    requestRender();
  }

  function hasHdr() {
    return state.panels.some((p) => p.image && p.image.kind === "hdr");
  }

  // ----------------------------------------------------------------------------------- readout, range

  function formatValue(v) {
    if (v === 0) return "0";
    const magnitude = Math.abs(v);
    return magnitude >= 1e4 || magnitude < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
  }

  function signed(v, digits) {
    return `${v >= 0 ? "+" : "\u2212"}${Math.abs(v).toFixed(digits)}`;
  }

  function updateReadout() {
    const readout = $("readout");
    const hover = state.hover;
    const panel = hover && hover.panel;
    if (!panel || !panel.image) return;
    const [cx, cy] = clientToCanvas(panel, hover.clientX, hover.clientY);
    const [fx, fy] = canvasToImage(panel, cx, cy);
    const x = Math.floor(fx);
    const y = Math.floor(fy);
    const { image } = panel;
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) {
      readout.textContent = `${panel.role}: outside the image`;
      delete readout.dataset.x;
      return;
    }
    const i = (y * image.width + x) * 3;
    const j = (y * image.width + x) * 4;
    const shown = panel.pixels.data;
    const display = `\u2192 (${shown[j]}, ${shown[j + 1]}, ${shown[j + 2]})`;
    Object.assign(readout.dataset, { x, y });
    if (image.kind === "hdr") {
      const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
      const lum = REC709[0] * r + REC709[1] * g + REC709[2] * b;
      const lumStops = lum > 0 ? `2^${signed(Math.log2(lum), 2)}` : "0";
      Object.assign(readout.dataset, { r, g, b, lum });
      readout.textContent =
        `x ${x}  y ${y}   R ${formatValue(r)}  G ${formatValue(g)}  B ${formatValue(b)}   ` +
        `L ${formatValue(lum)} (${lumStops})   ${display} at ${signed(state.exposure, 2)} stops`;
    } else {
      const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
      Object.assign(readout.dataset, { r: r / 255, g: g / 255, b: b / 255, lum: "" });
      readout.textContent = `x ${x}  y ${y}   8-bit values (${r}, ${g}, ${b}): a photo holds no radiance`;
    }
  }

  function primaryHdr() {
    const panel = state.panels.find((p) => p.image && p.image.kind === "hdr");
    return panel ? panel.image : null;
  }

  function showRange() {
    const image = primaryHdr();
    const range = $("range");
    if (image) {
      const meta = image.meta;
      range.textContent =
        `${image.width}\u00d7${image.height} \u00b7 range ${meta.dynamic_range_stops.toFixed(1)} stops \u00b7 ` +
        `max L ${formatValue(meta.max_luminance)}`;
    } else {
      const panel = state.panels.find((p) => p.image);
      range.textContent = panel ? `${panel.image.width}\u00d7${panel.image.height} \u00b7 photo, display-referred` : "";
    }
  }

  function drawHistogram() {
    const canvas = $("histogram");
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    const image = primaryHdr();
    canvas.hidden = !(image && image.histogram);
    if (canvas.hidden) return;
    const { low, high, bins } = image.histogram;
    const toX = (stops) => ((stops - low) / (high - low)) * canvas.width;
    const shownLow = Math.log2(DISPLAY_BLACK) - state.exposure;
    const shownHigh = -state.exposure;
    context.fillStyle = "rgba(224, 160, 64, 0.18)";
    context.fillRect(toX(shownLow), 0, toX(shownHigh) - toX(shownLow), canvas.height);
    let peak = 1;
    for (const count of bins) peak = Math.max(peak, count);
    const barWidth = canvas.width / bins.length;
    context.fillStyle = "#b8b8b8";
    bins.forEach((count, k) => {
      const height = (Math.log1p(count) / Math.log1p(peak)) * (canvas.height - 2);
      context.fillRect(k * barWidth, canvas.height - height, Math.max(barWidth - 0.5, 0.5), height);
    });
    context.fillStyle = "#e0a040";
    context.fillRect(toX(shownHigh) - 1, 0, 2, canvas.height);
  }

  // ---------------------------------------------------------------------------------------- pointer

  function attachPointer(panel) {
    const canvas = panel.canvas;
    canvas.addEventListener("mousemove", (event) => {
      state.hover = { panel, clientX: event.clientX, clientY: event.clientY };
      if (state.drag && state.drag.panel === panel && panel.image) {
        const scale = panelScale(panel);
        const ratio = panel.canvas.width / panel.canvas.getBoundingClientRect().width;
        state.center = [
          state.drag.center[0] - ((event.clientX - state.drag.x) * ratio) / (scale * panel.image.width),
          state.drag.center[1] - ((event.clientY - state.drag.y) * ratio) / (scale * panel.image.height),
        ];
        redrawViews();
      } else {
        updateReadout();
      }
    });
    canvas.addEventListener("mouseleave", () => {
      state.hover = null;
    });
    canvas.addEventListener("mousedown", (event) => {
      state.drag = { panel, x: event.clientX, y: event.clientY, center: [...state.center] };
      canvas.classList.add("dragging");
    });
    canvas.addEventListener("dblclick", () => (state.zoom === 1 ? zoomOneToOne() : fit()));
    canvas.addEventListener(
      "wheel",
      (event) => {
        if (!panel.image) return;
        event.preventDefault();
        zoomAt(panel, event.clientX, event.clientY, event.deltaY < 0 ? ZOOM_FACTOR : 1 / ZOOM_FACTOR);
      },
      { passive: false },
    );
  }

  window.addEventListener("mouseup", () => {
    if (state.drag) state.drag.panel.canvas.classList.remove("dragging");
    state.drag = null;
  });

  function zoomAt(panel, clientX, clientY, factor) {
    const [cx, cy] = clientToCanvas(panel, clientX, clientY);
    const [ix, iy] = canvasToImage(panel, cx, cy);
    state.zoom = Math.min(Math.max(state.zoom * factor, 0.05), 512);
    const scale = panelScale(panel);
    state.center = [
      (ix - (cx - panel.canvas.width / 2) / scale) / panel.image.width,
      (iy - (cy - panel.canvas.height / 2) / scale) / panel.image.height,
    ];
    redrawViews();
  }

  function fit() {
    state.zoom = 1;
    state.center = [0.5, 0.5];
    redrawViews();
  }

  function zoomOneToOne() {
    const panel = state.panels.find((p) => p.image);
    if (!panel) return;
    state.zoom = (window.devicePixelRatio || 1) / fitScale(panel);
    redrawViews();
  }

  // ---------------------------------------------------------------------------------- views, routing

  function setReady(ready) {
    document.body.dataset.state = ready ? "ready" : "loading";
  }

  function showMessage(text) {
    const message = $("message");
    message.hidden = !text;
    message.textContent = text || "";
  }

  function showGallery() {
    state.routeToken++;
    state.groupIndex = -1;
    state.panels = [];
    state.hover = null;
    $("viewer").hidden = true;
    $("controls").hidden = true;
    $("readout").textContent = "click an image to open it";
    $("range").textContent = "";
    $("histogram").hidden = true;
    const gallery = $("gallery");
    gallery.hidden = false;
    gallery.replaceChildren();
    const { groups } = state.index;
    $("title").textContent = `${state.index.title}: ${groups.length} item${groups.length === 1 ? "" : "s"}`;
    showMessage(groups.length ? "" : "No images here yet (EXR, HDR, PFM, PNG, JPEG, ...). Reload when there are.");
    for (const group of groups) {
      const card = document.createElement("a");
      card.className = "card";
      card.href = `#view=${group.main}`;
      const thumbs = document.createElement("div");
      thumbs.className = "thumbs";
      for (const entry of group.compare) {
        const figure = document.createElement("figure");
        figure.appendChild(thumbnail(entry.id));
        const caption = document.createElement("figcaption");
        caption.textContent = entry.role;
        figure.appendChild(caption);
        thumbs.appendChild(figure);
      }
      const title = document.createElement("div");
      title.className = "card-title";
      title.textContent = group.title;
      title.title = group.title;
      const type = document.createElement("div");
      type.className = "card-type";
      const extras = group.extras.map((e) => e.role).join(", ");
      type.textContent = (GROUP_LABELS[group.type] || group.type) + (extras ? ` \u00b7 with ${extras}` : "");
      card.append(thumbs, title, type);
      gallery.appendChild(card);
    }
    setReady(true);
  }

  function thumbnail(id) {
    const info = state.index.images[id];
    if (info.error) return errorBox(info.error);
    const img = document.createElement("img");
    img.alt = info.path;
    img.src = urlOf("thumb", id);
    img.onerror = async () => {
      let text = "cannot be read";
      if (!FILE_MODE) {
        try {
          text = await errorText(await fetch(img.src));
        } catch {
          /* keep the generic text */
        }
      }
      img.replaceWith(errorBox(text));
    };
    return img;
  }

  function errorBox(text) {
    const box = document.createElement("div");
    box.className = "thumb-error";
    box.textContent = text;
    return box;
  }

  async function showImages(id) {
    const { groups, images } = state.index;
    if (!images[id]) {
      showMessage(`No image ${id} here (the folder may have changed): reload the page or go back to the gallery.`);
      setReady(true);
      return;
    }
    const token = ++state.routeToken;
    setReady(false);
    showMessage("");
    let groupIndex = groups.findIndex((g) => g.main === id);
    let entries;
    let extras;
    if (groupIndex >= 0) {
      entries = groups[groupIndex].compare;
      extras = groups[groupIndex].extras;
    } else {
      groupIndex = groups.findIndex((g) => g.compare.some((e) => e.id === id) || g.extras.some((e) => e.id === id));
      const group = groups[groupIndex];
      const self = group ? [...group.compare, ...group.extras].find((e) => e.id === id) : null;
      entries = [{ id, role: self ? self.role : images[id].kind.toUpperCase() }];
      extras = group ? [{ id: group.main, role: `back to ${GROUP_LABELS[group.type] || group.type}` }] : [];
    }
    const sameGroup = groupIndex === state.groupIndex && state.panels.length;
    state.groupIndex = groupIndex;
    $("gallery").hidden = true;
    $("viewer").hidden = false;
    $("title").textContent = images[entries[entries.length - 1].id].path;
    state.panels = entries.map(makePanel);
    state.hover = null;
    $("panels").replaceChildren(...state.panels.map((p) => p.element));
    $("extras").replaceChildren(...extras.map(extraLink));
    $("extras").hidden = extras.length === 0;
    await Promise.all(
      state.panels.map(async (panel) => {
        try {
          preparePanel(panel, await loadImage(panel.id));
        } catch (error) {
          panel.error = error.message;
          showPanelError(panel, error.message);
        }
      }),
    );
    if (token !== state.routeToken) return; // another image was opened meanwhile
    const hdr = primaryHdr();
    $("controls").hidden = false;
    for (const control of ["exposure-slider", "exposure", "auto", "operator"]) $(control).disabled = !hdr;
    state.autoExposure = hdr ? hdr.meta.auto_exposure_stops : 0;
    if (!sameGroup) {
      state.zoom = 1;
      state.center = [0.5, 0.5];
      state.exposure = state.autoExposure;
    }
    setExposure(state.exposure);
    showRange();
    render();
    redrawViews();
    setReady(true);
  }

  function extraLink(entry) {
    const link = document.createElement("a");
    link.href = `#view=${entry.id}`;
    const info = state.index.images[entry.id];
    if (!info.error) {
      const img = document.createElement("img");
      img.src = urlOf("thumb", entry.id);
      img.alt = "";
      link.appendChild(img);
    }
    link.appendChild(document.createTextNode(`${entry.role}: ${info.name}`));
    return link;
  }

  function route() {
    const match = /^#view=([0-9a-f]{16})$/.exec(location.hash);
    if (match) {
      showImages(match[1]).catch((error) => {
        showMessage(String(error.message || error));
        setReady(true);
      });
    } else if (location.hash === "" && state.index.groups.length === 1 && state.firstRoute) {
      location.replace(`#view=${state.index.groups[0].main}`);
    } else {
      showGallery();
    }
    state.firstRoute = false;
  }

  function step(direction) {
    const groups = state.index.groups;
    if (!groups.length) return;
    const next = state.groupIndex < 0 ? 0 : (state.groupIndex + direction + groups.length) % groups.length;
    location.hash = `#view=${groups[next].main}`;
  }

  // --------------------------------------------------------------------------------------- controls

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target instanceof HTMLInputElement && event.target.type === "number";
    if (typing && event.key !== "Escape") return;
    const inViewer = !$("viewer").hidden;
    const actions = {
      "+": () => setExposure(state.exposure + STEP_COARSE),
      "=": () => setExposure(state.exposure + STEP_COARSE),
      "-": () => setExposure(state.exposure - STEP_COARSE),
      _: () => setExposure(state.exposure - STEP_COARSE),
      ".": () => setExposure(state.exposure + STEP_FINE),
      ",": () => setExposure(state.exposure - STEP_FINE),
      a: () => setExposure(state.autoExposure),
      0: () => setExposure(0),
      o: () => setOperator(OPERATORS[(OPERATORS.indexOf(state.operator) + 1) % OPERATORS.length]),
      f: fit,
      z: zoomOneToOne,
      ArrowLeft: () => step(-1),
      ArrowRight: () => step(1),
      Escape: () => {
        if (!$("help").hidden) $("help").hidden = true;
        else location.hash = "";
      },
      "?": () => ($("help").hidden = !$("help").hidden),
    };
    const viewerOnly = !["ArrowLeft", "ArrowRight", "Escape", "?"].includes(event.key);
    const action = actions[event.key];
    if (!action || (viewerOnly && !inViewer)) return;
    event.preventDefault();
    if (typing) event.target.blur();
    action();
  }

  function wireControls() {
    $("exposure-slider").addEventListener("input", (event) => setExposure(parseFloat(event.target.value)));
    $("exposure").addEventListener("change", (event) => setExposure(parseFloat(event.target.value)));
    $("operator").addEventListener("change", (event) => setOperator(event.target.value));
    $("auto").addEventListener("click", () => setExposure(state.autoExposure));
    $("fit").addEventListener("click", fit);
    $("help-button").addEventListener("click", () => ($("help").hidden = !$("help").hidden));
    document.addEventListener("keydown", onKey);
    window.addEventListener("hashchange", route);
    window.addEventListener("resize", redrawViews);
  }

  // Screen positions of image pixels and what the page shows there (tests, and handy in the console).
  window.glowganViewer = {
    state,
    clientPoint(panelIndex, x, y) {
      const panel = state.panels[panelIndex];
      const [cx, cy] = imageToCanvas(panel, x + 0.5, y + 0.5);
      const rect = panel.canvas.getBoundingClientRect();
      return { x: rect.left + (cx * rect.width) / panel.canvas.width, y: rect.top + (cy * rect.height) / panel.canvas.height };
    },
    shownPixel(panelIndex, x, y) {
      const panel = state.panels[panelIndex];
      const [cx, cy] = imageToCanvas(panel, x + 0.5, y + 0.5);
      const context = panel.canvas.getContext("2d");
      return Array.from(context.getImageData(Math.floor(cx), Math.floor(cy), 1, 1).data);
    },
  };

  async function start() {
    wireControls();
    setOperator(state.operator);
    try {
      state.index = await loadIndex();
    } catch (error) {
      showMessage(
        FILE_MODE
          ? `Cannot load index.js next to this page (${error.message}). Open the folder written by glowgan view --static.`
          : `Cannot load the gallery: ${error.message}`,
      );
      setReady(true);
      return;
    }
    document.title = `${state.index.title} \u2013 glowgan view`;
    route();
  }

  start();
})();
