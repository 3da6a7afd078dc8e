// upload.js enhances the upload form: every chosen or dropped file goes up
// in its own request, with its own progress bar and its own answer (a
// download link or the server's sentence). Without this script the form
// still posts all files at once and the server answers with a page.
//
// Hand-written on purpose: it is the whole client side, needs no build
// step, and XMLHttpRequest is still the only browser API that reports
// upload progress (fetch does not).
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  const zone = document.getElementById("dropzone");
  const section = document.getElementById("results-section");
  const list = document.getElementById("results");
  if (!form || !input || !zone || !list) {
    return;
  }
  document.documentElement.classList.add("js");
  input.required = false; // files may come from a drop instead

  // Sentences for answers that are not the app's JSON, e.g. nginx's own
  // error pages or a dropped connection.
  const fallback = {
    0: "The connection failed. Check your network and try again.",
    401: "You are no longer logged in. Log in again, then retry.",
    413: "This file is too large.",
    502: "The server cannot be reached right now. Try again shortly.",
    503: "The server is unavailable right now. Try again shortly.",
  };

  function element(tag, className, text) {
    const e = document.createElement(tag);
    e.className = className;
    if (text) {
      e.textContent = text;
    }
    return e;
  }

  function upload(file) {
    const item = element("li", "result pending");
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const msg = element("span", "msg", "Uploading…");
    item.append(element("span", "name", file.name), bar, msg);
    list.append(item);
    section.hidden = false;

    const finish = (ok) => {
      item.classList.remove("pending");
      item.classList.add(ok ? "done" : "failed");
    };
    const fail = (sentence) => {
      msg.textContent = sentence;
      finish(false);
    };

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json"; // null when the answer is not JSON
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
      }
    });
    xhr.addEventListener("load", () => {
      const answer = xhr.response;
      const entry = Array.isArray(answer) ? answer[0] : answer;
      if (xhr.status === 201 && entry && !entry.error) {
        const link = element("a", "", "Download");
        link.href = entry.url;
        // The server may have cleaned up the name; then say so.
        msg.textContent = entry.name === file.name ? "Uploaded. " : "Uploaded as " + entry.name + ". ";
        msg.append(link);
        finish(true);
      } else {
        fail((entry && entry.error) || fallback[xhr.status] ||
          "The upload failed (HTTP " + xhr.status + ").");
      }
    });
    xhr.addEventListener("error", () => fail(fallback[0]));
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  }

  function uploadAll(files) {
    Array.from(files).forEach(upload);
    input.value = "";
  }

  input.addEventListener("change", () => uploadAll(input.files));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    uploadAll(input.files);
  });

  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadAll(e.dataTransfer.files);
  });
  // A file dropped next to the zone must not make the browser leave the
  // page to open it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
})();
