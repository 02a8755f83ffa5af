/* Progressive touches only: every page works without this file. */
(function () {
  "use strict";
  // Artwork comes from the providers' image hosts; when one cannot load, show the tile instead
  // of a broken-image icon.
  document.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target.tagName === "IMG") { target.classList.add("broken"); }
  }, true);
  // Copy buttons for invite links.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button || !navigator.clipboard) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () { button.textContent = "Copied"; });
  });
  // Forms marked data-confirm ask first.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
})();
