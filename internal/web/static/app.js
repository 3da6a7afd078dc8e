// app.js enhances every page. Without it each page still works: dates
// show in UTC, link fields hold a path to select and copy by hand. (The
// message after an action takes the focus without script: it has
// autofocus, see layout.html.)
//
// - Dates (<time datetime>) show in the viewer's own time zone; the UTC
//   time the server wrote stays in the title.
// - A link field (input.link-url with data-path) shows the full URL,
//   built from this page's origin: the server knows only the path it
//   routes.
// - A Copy button (button.copy) puts a URL on the clipboard: its
//   data-copy field's, or this origin plus its data-path. Where the page
//   may not write the clipboard, the URL is shown selected in a field
//   for the viewer to copy.
"use strict";

(() => {
  document.documentElement.classList.add("js");

  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time[datetime]").forEach((time) => {
    const at = new Date(time.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) {
      return;
    }
    time.title = time.textContent;
    time.textContent = format.format(at);
  });

  document.querySelectorAll("input.link-url[data-path]").forEach((field) => {
    field.value = location.origin + field.dataset.path;
    field.addEventListener("focus", () => field.select());
  });

  // fieldFor returns the field that shows button's URL, made next to the
  // button the first time it is needed.
  const fieldFor = (button, url) => {
    if (button.dataset.copy) {
      return document.getElementById(button.dataset.copy);
    }
    let field = button.parentElement.querySelector("input.link-url");
    if (!field) {
      field = document.createElement("input");
      field.type = "text";
      field.readOnly = true;
      field.className = "link-url";
      field.spellcheck = false;
      // "Copy link to report.pdf" names the field "Link to report.pdf".
      field.setAttribute("aria-label", button.textContent.replace(/^Copy link/, "Link"));
      field.addEventListener("focus", () => field.select());
      button.after(field);
    }
    field.value = url;
    return field;
  };

  document.querySelectorAll("button.copy").forEach((button) => {
    const status = button.parentElement.querySelector(".copied");
    let timer = 0;
    const say = (sentence) => {
      status.textContent = sentence;
      clearTimeout(timer);
      timer = setTimeout(() => { status.textContent = ""; }, Math.max(4000, 60 * sentence.length));
    };
    button.addEventListener("click", async () => {
      const url = button.dataset.copy ? document.getElementById(button.dataset.copy).value
        : location.origin + button.dataset.path;
      try {
        // Only in a secure context (HTTPS or this machine), and only
        // when the browser lets the page write.
        await navigator.clipboard.writeText(url);
        say(button.dataset.copied || "Copied.");
      } catch {
        const field = fieldFor(button, url);
        field.focus();
        field.select();
        say("Selected: press Ctrl+C (⌘C) to copy.");
      }
    });
  });
})();
