// links.js enhances the links page: each link's field shows its full URL,
// built from this page's origin (the server knows only the path it
// routes), and its Copy button puts that URL on the clipboard. Without
// this script the field still holds the link's path, ready to select.
"use strict";

(() => {
  const fields = document.querySelectorAll("input.link-url");
  if (fields.length === 0) {
    return;
  }
  document.documentElement.classList.add("js");
  fields.forEach((field) => {
    field.value = location.origin + field.dataset.path;
    field.addEventListener("focus", () => field.select());
  });

  document.querySelectorAll("button.copy").forEach((button) => {
    const field = document.getElementById(button.dataset.copy);
    const status = button.parentElement.querySelector(".copied");
    let timer = 0;
    const say = (sentence) => {
      status.textContent = sentence;
      clearTimeout(timer);
      timer = setTimeout(() => { status.textContent = ""; }, 4000);
    };
    button.addEventListener("click", async () => {
      try {
        // Only in a secure context (HTTPS or this machine), and only
        // when the browser lets the page write.
        await navigator.clipboard.writeText(field.value);
        say("Copied.");
      } catch {
        field.focus();
        field.select();
        say("Selected: press Ctrl+C (⌘C) to copy.");
      }
    });
  });
})();
