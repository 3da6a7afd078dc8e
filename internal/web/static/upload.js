// upload.js enhances the upload form: every chosen or dropped file goes up
// in its own request as soon as it is chosen, with its own progress bar,
// its own Cancel button and its own answer (a download link or the
// server's sentence). A file over the size limit is refused here, before
// any byte is sent. Leaving the page while files go up asks first.
// Without this script the form still posts all files at once and the
// server answers with a page.
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
  // The sentence saying that uploads start at once is shown only now, so
  // the field is described by it only now.
  input.setAttribute("aria-describedby", "upload-hint upload-starts");

  // The server's limit for one file, in bytes and as the page words it.
  const maxSize = Number(form.dataset.maxUpload) || Infinity;
  const maxSizeText = form.dataset.maxUploadText;

  // Sentences for answers that are not the app's JSON, e.g. a proxy's own
  // error pages or a dropped connection.
  const fallback = {
    0: "The connection failed. Check your network and try again.",
    401: "You are no longer logged in. Log in again, then retry.",
    413: "This file is larger than the server accepts.",
    502: "The server cannot be reached right now. Try again shortly.",
    503: "The server is unavailable right now. Try again shortly.",
  };

  // formatSize writes n bytes as the server's filegate.FormatSize does:
  // "3 MiB", "2.5 MiB", "800 bytes".
  function formatSize(n) {
    for (const [name, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
      if (n >= size) {
        return (n % size === 0 ? String(n / size) : (n / size).toFixed(1)) + " " + name;
      }
    }
    return n + " bytes";
  }

  function element(tag, className, text) {
    const e = document.createElement(tag);
    e.className = className;
    if (text) {
      e.textContent = text;
    }
    return e;
  }

  // hidden is text for screen readers only: it makes "Cancel" or
  // "Download" name its file.
  function hidden(text) {
    return element("span", "visually-hidden", text);
  }

  // Uploads under way; while there are any, leaving the page asks first.
  let active = 0;
  window.addEventListener("beforeunload", (e) => {
    if (active > 0) {
      e.preventDefault();
      e.returnValue = ""; // older browsers ask only when this is set
    }
  });

  function upload(file) {
    const item = element("li", "result pending");
    item.tabIndex = -1; // focus lands here when its Cancel button goes
    const name = element("span", "name", file.name);
    const msg = element("span", "msg", "Uploading…");
    list.append(item);
    section.hidden = false;

    if (file.size > maxSize) {
      msg.textContent = file.name + " is " + formatSize(file.size) + ", larger than the " +
        maxSizeText + " limit for one file, so it was not sent.";
      item.append(name, msg);
      item.className = "result failed";
      return;
    }

    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const cancel = element("button", "secondary cancel", "Cancel");
    cancel.type = "button";
    cancel.append(hidden(" upload of " + file.name));
    msg.append(" ", cancel);
    item.append(name, bar, msg);

    // The button goes once the file is up: from then on the server
    // stores it, and aborting would only hide the answer.
    const dropCancel = () => {
      if (cancel.isConnected) {
        const hadFocus = document.activeElement === cancel;
        cancel.remove();
        if (hadFocus) {
          item.focus();
        }
      }
    };
    const finish = (state, ...content) => {
      dropCancel();
      msg.replaceChildren(...content);
      item.className = "result " + state;
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
    xhr.upload.addEventListener("load", () => {
      dropCancel();
      msg.textContent = "Checking…";
    });
    xhr.addEventListener("load", () => {
      const answer = xhr.response;
      const entry = Array.isArray(answer) ? answer[0] : answer;
      if (xhr.status === 201 && entry && !entry.error) {
        // The server may have cleaned up the name or found it taken
        // ("photo.png" stored as "photo-2.png"); then say so.
        const stored = entry.stored_name || entry.name;
        const link = element("a", "", "Download");
        link.href = entry.url;
        link.append(hidden(" " + stored));
        finish("done", stored === file.name ? "Uploaded. " : "Uploaded as " + stored + ". ", link);
      } else {
        finish("failed", (entry && entry.error) || fallback[xhr.status] ||
          "The upload failed (HTTP " + xhr.status + ").");
      }
    });
    xhr.addEventListener("error", () => finish("failed", fallback[0]));
    // Cancel is there only while the body goes up, so an abort cuts the
    // body short, and the server keeps no file it did not read to its end.
    xhr.addEventListener("abort", () => finish("cancelled", "Cancelled."));
    xhr.addEventListener("loadend", () => active--);
    cancel.addEventListener("click", () => xhr.abort());

    const body = new FormData();
    body.append("file", file, file.name);
    active++;
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
