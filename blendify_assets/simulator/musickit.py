"""A stand-in for MusicKit on the Web: the script a page loads and the sign-in window it opens.

Apple gives a web page a Music-User-Token only through MusicKit JS: `MusicKit.configure({
developerToken, app})`, then `MusicKit.getInstance().authorize()` opens Apple's sign-in window and
resolves with the token. This module serves the same three calls (`/musickit/v3/musickit.js`) and a
sign-in window (`/musickit/authorize`) that checks the developer token as Apple does, lets the person
pick a simulated Apple Music user, issues their token (`AppleAuth`) and hands it back to the opener
with `postMessage`, so a web app's Apple connect flow runs end to end in a real browser, offline.
"""

from __future__ import annotations

import html
import json
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from blendify_assets.simulator.apple_auth import AppleAuth
from blendify_assets.simulator.world import World

MUSICKIT_JS = r"""/* MusicKit on the Web, stand-in served by the Blendify simulator (configure, getInstance, authorize). */
(function () {
  "use strict";
  var script = document.currentScript;
  var here = new URL(script.src);
  var authorizeUrl = new URL("../authorize", here).href;
  var instance = null;

  function MusicKitInstance(config) {
    this.developerToken = config.developerToken;
    this.app = config.app || {};
    this.musicUserToken = null;
    this.isAuthorized = false;
  }

  MusicKitInstance.prototype.authorize = function () {
    var self = this;
    return new Promise(function (resolve, reject) {
      var url = authorizeUrl + "?developer_token=" + encodeURIComponent(self.developerToken) +
        "&origin=" + encodeURIComponent(window.location.origin) +
        "&app=" + encodeURIComponent(self.app.name || "");
      var popup = window.open(url, "musickit-authorize", "width=480,height=640");
      if (!popup) { reject(new Error("AUTHORIZATION_ERROR: the sign-in window was blocked")); return; }
      function onMessage(event) {
        if (event.origin !== here.origin || !event.data || event.data.type !== "musickit-authorize") { return; }
        window.removeEventListener("message", onMessage);
        if (event.data.musicUserToken) {
          self.musicUserToken = event.data.musicUserToken;
          self.isAuthorized = true;
          resolve(self.musicUserToken);
        } else {
          reject(new Error(event.data.error || "AUTHORIZATION_ERROR"));
        }
      }
      window.addEventListener("message", onMessage);
    });
  };

  MusicKitInstance.prototype.unauthorize = function () {
    this.musicUserToken = null;
    this.isAuthorized = false;
    return Promise.resolve();
  };

  window.MusicKit = {
    version: "3-blendify-simulator",
    configure: function (config) { instance = new MusicKitInstance(config || {}); return Promise.resolve(instance); },
    getInstance: function () { return instance; }
  };
  document.dispatchEvent(new Event("musickitloaded"));
})();
"""


def _origin(value: str | None) -> str | None:
    """An http(s) origin (scheme://host[:port]) or None: the token is posted to nothing else."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 2rem auto">{body}</body></html>"""
    )


def _answer(origin: str, message: dict[str, str]) -> HTMLResponse:
    """A page that hands `message` to the window that opened it (at `origin` only) and closes."""
    data = json.dumps(message).replace("<", "\\u003c")
    target = json.dumps(origin).replace("<", "\\u003c")
    return _page(
        "Apple Music (simulator)",
        f"<p>Returning to the app…</p><script>window.opener && window.opener.postMessage({data}, {target});"
        "window.close();</script>",
    )


def musickit_routes(world: World, apple: AppleAuth) -> list[Route]:
    async def script(request: Request) -> Response:
        return Response(MUSICKIT_JS, media_type="text/javascript; charset=utf-8")

    async def authorize_page(request: Request) -> Response:
        q = request.query_params
        origin = _origin(q.get("origin"))
        token = q.get("developer_token") or ""
        if origin is None:
            return _page("Apple Music (simulator)", "<p>This sign-in window needs the page's origin.</p>")
        if not apple.check_developer_token(token):
            return _answer(origin, {"type": "musickit-authorize", "error": "invalid developer token"})
        options = "".join(
            f'<option value="{html.escape(u.uid)}">{html.escape(u.display_name)} ({html.escape(u.email)})</option>'
            for u in world.users
            if u.on_apple
        )
        esc = html.escape
        return _page(
            "Apple Music (simulator): sign in",
            f"""<h1>Apple Music simulator</h1>
<p><strong>{esc(q.get("app") or "An app")}</strong> ({esc(origin)}) would like to access Apple Music,
your media library and your listening activity.</p>
<form method="post" action="authorize">
<input type="hidden" name="developer_token" value="{esc(token)}">
<input type="hidden" name="origin" value="{esc(origin)}">
<label>Apple ID <select name="user" id="user">{options}</select></label>
<p><button name="action" value="allow" id="allow">Allow</button>
<button name="action" value="deny" id="deny">Don't Allow</button></p></form>""",
        )

    async def authorize(request: Request) -> Response:
        form = await request.form()
        origin = _origin(str(form.get("origin") or ""))
        if origin is None:
            return _page("Apple Music (simulator)", "<p>This sign-in window needs the page's origin.</p>")
        if not apple.check_developer_token(str(form.get("developer_token") or "")):
            return _answer(origin, {"type": "musickit-authorize", "error": "invalid developer token"})
        if form.get("action") != "allow":
            return _answer(origin, {"type": "musickit-authorize", "error": "AUTHORIZATION_ERROR: denied"})
        try:
            token = apple.issue_user_token(str(form.get("user") or ""))
        except (KeyError, ValueError):
            return _answer(
                origin, {"type": "musickit-authorize", "error": "AUTHORIZATION_ERROR: no such user"}
            )
        return _answer(origin, {"type": "musickit-authorize", "musicUserToken": token})

    return [
        Route("/v3/musickit.js", script),
        Route("/authorize", authorize_page, methods=["GET"]),
        Route("/authorize", authorize, methods=["POST"]),
    ]
