// Approve asks first: how many payments, and the total per currency (the form's data-confirm).
// Without JavaScript the same words stand above the button, and the post goes straight on.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("approve-form");
  if (!form) {
    return;
  }
  form.addEventListener("submit", function (event) {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
});
