/* Connect Apple Music: MusicKit on the Web gives this page the listener's Music-User-Token, which is
 * posted to Blendify with the page's CSRF token. MusicKit itself is loaded from the URL the server
 * names (Apple's, or the simulator's stand-in). */
(function () {
  "use strict";
  var root = document.getElementById("musickit");
  var button = document.getElementById("apple-connect");
  var status = document.getElementById("apple-status");
  if (!root || !button) { return; }

  function say(text, kind) {
    status.textContent = text;
    status.className = "notice " + (kind || "info");
  }

  function ready() {
    button.disabled = false;
    say("Ready: the Apple sign-in opens in a small window.", "info");
  }

  if (window.MusicKit) { ready(); } else { document.addEventListener("musickitloaded", ready); }

  button.addEventListener("click", function () {
    if (!window.MusicKit) { say("MusicKit did not load. Reload the page and try again.", "danger"); return; }
    button.disabled = true;
    say("Waiting for Apple Music…", "info");
    window.MusicKit.configure({
      developerToken: root.getAttribute("data-developer-token"),
      app: { name: root.getAttribute("data-app-name") || "Blendify", build: "1" }
    }).then(function (music) {
      return (music || window.MusicKit.getInstance()).authorize();
    }).then(function (musicUserToken) {
      document.getElementById("music-user-token").value = musicUserToken;
      say("Signed in to Apple Music; saving…", "info");
      document.getElementById("apple-form").submit();
    }).catch(function (error) {
      button.disabled = false;
      say("Apple Music did not connect (" + (error && error.message ? error.message : error) + "). Try again.", "danger");
    });
  });
})();
