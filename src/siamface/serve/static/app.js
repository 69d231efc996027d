// The siamface page: verify two photos; enroll people in a gallery and identify a photo.
// Vanilla JS, no build step; every name from the server is set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) {
    const where = body.field && !String(body.message).startsWith(body.field) ? `${body.field}: ` : "";
    throw new Error(`${where}${body.message} (HTTP ${response.status})`);
  }
  return body;
}

function writeHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

const fmt = (x) => Number(x).toFixed(3);

function showError(target, error) {
  target.replaceChildren(span("error", error.message));
}

function span(className, text) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

// --- photos and their face boxes -------------------------------------------------------------

function preview(input, frameId) {
  const frame = $(frameId);
  const img = frame.querySelector("img");
  frame.querySelector(".box").hidden = true;
  if (img.src) URL.revokeObjectURL(img.src);
  if (input.files.length) img.src = URL.createObjectURL(input.files[0]);
  else img.removeAttribute("src");
}

function drawBox(frameId, photo) {
  // The box is in the upright photo's pixels; the browser shows the photo upright too.
  const box = $(frameId).querySelector(".box");
  if (!photo.box) { box.hidden = true; return; }
  const { left, top, right, bottom } = photo.box;
  Object.assign(box.style, {
    left: `${(100 * left) / photo.width}%`, top: `${(100 * top) / photo.height}%`,
    width: `${(100 * (right - left)) / photo.width}%`, height: `${(100 * (bottom - top)) / photo.height}%`,
  });
  box.hidden = false;
}

function facesText(photo) {
  const n = photo.faces_found;
  const faces = n === null ? "face detection off: the whole frame was used"
    : n === 1 ? "1 face found" : `${n} faces found; the largest (boxed) was used`;
  return photo.note === null ? faces : `${faces}; ${photo.note}`;
}

// --- verify ----------------------------------------------------------------------------------

async function verify(event) {
  event.preventDefault();
  const button = $("verify-button");
  const verdict = $("verdict");
  button.disabled = true;
  verdict.textContent = "…";
  try {
    const form = new FormData();
    form.append("image_a", $("photo-a").files[0]);
    form.append("image_b", $("photo-b").files[0]);
    const r = await api("/api/verify", { method: "POST", body: form });
    drawBox("frame-a", r.photo_a);
    drawBox("frame-b", r.photo_b);
    $("faces-a").textContent = facesText(r.photo_a);
    $("faces-b").textContent = facesText(r.photo_b);
    const sign = r.same ? "≥" : "<";
    verdict.replaceChildren(
      span(r.same ? "same" : "different", r.same ? "Same person" : "Different people"),
      document.createTextNode(
        ` — probability ${fmt(r.probability)} ${sign} threshold ${fmt(r.threshold_probability)}` +
        ` (logit ${fmt(r.logit)} ${sign} ${fmt(r.threshold)})`),
    );
    verdict.dataset.verdict = r.verdict;
  } catch (error) {
    showError(verdict, error);
  } finally {
    button.disabled = false;
  }
}

// --- galleries -------------------------------------------------------------------------------

const gallery = () => $("gallery-select").value;
const galleryPath = (...rest) =>
  ["/api/galleries", gallery(), ...rest].map((p, i) => (i ? encodeURIComponent(p) : p)).join("/");

async function loadGalleries(select) {
  const galleries = await api("/api/galleries");
  const chosen = select ?? gallery();
  $("gallery-select").replaceChildren(...galleries.map((g) => {
    const option = document.createElement("option");
    option.value = g.name;
    option.textContent = `${g.name} (${g.people} people${g.compatible ? "" : ", other model"})`;
    option.selected = g.name === chosen;
    return option;
  }));
  await loadPeople();
}

async function loadPeople() {
  const list = $("people");
  if (!gallery()) { list.replaceChildren(); return; }
  const people = await api(galleryPath("people"));
  list.replaceChildren(...people.map((p) => {
    const item = document.createElement("li");
    item.textContent = `${p.name} (${p.photos} photo${p.photos === 1 ? "" : "s"})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small";
    remove.textContent = "delete";
    remove.addEventListener("click", () => galleryAction(async () => {
      await api(galleryPath("people", p.name), { method: "DELETE", headers: writeHeaders() });
      return `deleted ${p.name}`;
    }));
    item.append(remove);
    return item;
  }));
}

async function galleryAction(action) {
  const message = $("gallery-message");
  try {
    message.textContent = await action();
    await loadGalleries();
  } catch (error) {
    showError(message, error);
  }
}

function createGallery() {
  const name = $("new-gallery").value.trim();
  return galleryAction(async () => {
    await api("/api/galleries", {
      method: "POST", headers: { "Content-Type": "application/json", ...writeHeaders() },
      body: JSON.stringify({ name }),
    });
    await loadGalleries(name);
    return `created gallery ${name}`;
  });
}

function deleteGallery() {
  const name = gallery();
  return galleryAction(async () => {
    if (!name) throw new Error("no gallery chosen");
    await api(galleryPath(), { method: "DELETE", headers: writeHeaders() });
    return `deleted gallery ${name}`;
  });
}

function enroll(event) {
  event.preventDefault();
  return galleryAction(async () => {
    if (!gallery()) throw new Error("create a gallery first");
    const form = new FormData();
    form.append("name", $("person-name").value);
    for (const file of $("enroll-photos").files) form.append("photos", file);
    const r = await api(galleryPath("people"), { method: "POST", body: form, headers: writeHeaders() });
    return `enrolled ${r.person}: ${r.added} photo(s) added, ${r.photos} in all`;
  });
}

async function identify(event) {
  event.preventDefault();
  const identity = $("identity");
  const table = $("matches");
  table.hidden = true;
  identity.textContent = "…";
  try {
    if (!gallery()) throw new Error("create a gallery and enroll people first");
    const form = new FormData();
    form.append("photo", $("probe").files[0]);
    const r = await api(galleryPath("identify"), { method: "POST", body: form });
    drawBox("frame-probe", r.photo);
    const basis = r.threshold_kind === "gallery"
      ? `set for ${r.gallery_size} people at a ${r.target_fpir >= 0.001 ? (100 * r.target_fpir).toFixed(1) + "%" : r.target_fpir.toPrecision(2)} chance of naming a stranger`
        + (r.extrapolated ? ", finer than the calibration can tell: the highest stranger score it saw" : "")
      : "the one-to-one threshold: this model has no gallery calibration";
    identity.replaceChildren(
      span(r.name === null ? "different" : "same", r.name === null ? "Unknown" : r.name),
      document.createTextNode((r.tied_with !== null
        ? ` — ${r.candidates[0].name} and ${r.tied_with} score alike: no one is named (${basis})`
        : r.name === null
        ? ` — no one reaches the threshold ${fmt(r.threshold_probability)} (${basis})`
        : ` — probability ${fmt(r.candidates[0].probability)} ≥ threshold ${fmt(r.threshold_probability)} (${basis})`)
        + (r.photo.note === null ? "" : `; ${r.photo.note}`)),
    );
    identity.dataset.verdict = r.verdict;
    table.tBodies[0].replaceChildren(...r.candidates.map((c, i) => {
      const row = document.createElement("tr");
      if (i === 0 && r.name !== null) row.className = "best";
      for (const cell of [i + 1, c.name, fmt(c.probability), fmt(c.logit)]) {
        const td = document.createElement("td");
        td.textContent = cell;
        row.append(td);
      }
      return row;
    }));
    table.hidden = false;
  } catch (error) {
    showError(identity, error);
  }
}

// --- wiring ----------------------------------------------------------------------------------

function showTab(button) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab === button);
    $(tab.dataset.tab).hidden = tab !== button;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab));
  $("photo-a").addEventListener("change", (e) => preview(e.target, "frame-a"));
  $("photo-b").addEventListener("change", (e) => preview(e.target, "frame-b"));
  $("probe").addEventListener("change", (e) => preview(e.target, "frame-probe"));
  $("verify-form").addEventListener("submit", verify);
  $("enroll-form").addEventListener("submit", enroll);
  $("identify-form").addEventListener("submit", identify);
  $("create-gallery").addEventListener("click", createGallery);
  $("delete-gallery").addEventListener("click", deleteGallery);
  $("gallery-select").addEventListener("change", () => loadPeople().catch((e) => showError($("gallery-message"), e)));
  api("/api/version").then((v) => {
    $("model-info").textContent =
      `siamface ${v.siamface} · model ${v.model_fingerprint.slice(0, 12)}${v.run ? ` (${v.run})` : ""}` +
      ` · threshold p ≥ ${fmt(v.threshold_probability)}`;
  }).catch((e) => showError($("model-info"), e));
  loadGalleries().catch((e) => showError($("gallery-message"), e));
});
