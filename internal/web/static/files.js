// files.js asks before a file is deleted, in a dialog on the files page,
// and before a user is removed, on the admin page. Without it (or in a
// browser without <dialog>), each Delete (Remove) button is a plain form
// that opens the confirmation page, GET /delete/{id}
// (/admin/users/{id}/remove), which asks the same; the deletion itself is
// always a POST to the same address.
"use strict";

(() => {
  const dialog = document.getElementById("delete-dialog");
  if (!dialog || typeof dialog.showModal !== "function") {
    return;
  }
  const confirm = dialog.querySelector("form");
  const name = dialog.querySelector(".delete-name");
  const whose = dialog.querySelector(".delete-whose");
  const cancel = dialog.querySelector("button.cancel");
  let opener = null; // the Delete button that opened the dialog

  document.querySelectorAll("form.delete").forEach((form) => {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      opener = form.querySelector("button");
      // The texts come from the row's attributes, which the server wrote
      // escaped; textContent keeps them text.
      name.textContent = form.dataset.name;
      if (whose) { // the files page's dialog only
        whose.hidden = !form.dataset.whose;
        whose.querySelector(".whose").textContent = form.dataset.whose || "";
      }
      confirm.action = form.getAttribute("action");
      confirm.elements.back.value = form.elements.back.value;
      dialog.showModal();
      // Cancel, not Delete, takes the focus: Enter pressed by habit
      // keeps the file.
      cancel.focus();
    });
  });

  cancel.addEventListener("click", () => dialog.close());
  // Closed by Cancel or Escape: back to the button that opened it.
  dialog.addEventListener("close", () => {
    if (opener) {
      opener.focus();
    }
  });
})();
