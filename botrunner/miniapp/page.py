"""The Mini App page: one server-rendered HTML document with its CSS and a small hand-written script.

Invariant: nothing is loaded from elsewhere (no CDN, no build step; the Content-Security-Policy
allows only this document's own nonce'd script and style, data: images and requests to this
origin). The script reads initData as Telegram clients pass it (the `tgWebAppData` parameter of
the URL fragment, or `Telegram.WebApp.initData` when Telegram's script is present), follows the
theme colours given in `tgWebAppThemeParams`, shows the slider, records the drag and posts the
answer with the device traits (botrunner.miniapp.fingerprint.TRAITS). The page learns no target.
"""
from __future__ import annotations

import json
import secrets

from aiohttp import web

CSS = """
:root { --bg: #ffffff; --text: #1b1f24; --hint: #6b7580; --button: #2481cc; --button-text: #ffffff;
        --panel: #f1f3f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.4 -apple-system, system-ui, "Segoe UI", Roboto, sans-serif;
       background: var(--bg); color: var(--text); }
main { max-width: 360px; margin: 0 auto; padding: 20px 16px; }
h1 { font-size: 20px; margin: 0 0 6px; }
p { margin: 0 0 14px; color: var(--hint); }
#track { position: relative; width: 100%; aspect-ratio: 320 / 120; border-radius: 10px; overflow: hidden;
         background: var(--panel); }
#track img { width: 100%; height: 100%; display: block; }
#piece { position: absolute; top: 0; bottom: 0; margin: auto 0; left: 0; border: 2px solid var(--button);
         background: rgba(255, 255, 255, .55); border-radius: 4px; display: none; }
#rail { position: relative; margin-top: 14px; height: 44px; border-radius: 22px; background: var(--panel);
        touch-action: none; user-select: none; }
#knob { position: absolute; top: 2px; left: 2px; width: 56px; height: 40px; border-radius: 20px;
        background: var(--button); color: var(--button-text); display: flex; align-items: center;
        justify-content: center; font-size: 22px; cursor: grab; touch-action: none; }
#status { margin-top: 14px; min-height: 1.4em; }
#status[data-state=error] { color: #d0353f; }
#status[data-state=verified] { color: #23a55a; font-weight: 600; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var API = document.body.dataset.api;
  var fragment = new URLSearchParams(location.hash.slice(1));
  var tg = window.Telegram && window.Telegram.WebApp;
  var initData = (tg && tg.initData) || fragment.get("tgWebAppData") || "";
  var status = document.getElementById("status");
  var track = document.getElementById("track"), img = track.querySelector("img");
  var piece = document.getElementById("piece"), rail = document.getElementById("rail");
  var knob = document.getElementById("knob");
  var challenge = null, busy = false;

  function theme() {
    var params = (tg && tg.themeParams) || {};
    try { if (fragment.get("tgWebAppThemeParams")) params = JSON.parse(fragment.get("tgWebAppThemeParams")); }
    catch (e) { params = {}; }
    var names = {bg_color: "--bg", text_color: "--text", hint_color: "--hint", button_color: "--button",
                 button_text_color: "--button-text", secondary_bg_color: "--panel"};
    Object.keys(names).forEach(function (key) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(params[key] || "")) document.documentElement.style.setProperty(names[key], params[key]);
    });
  }

  function say(text, state) { status.textContent = text; status.dataset.state = state || ""; }

  function post(path, body) {
    return fetch(API + path, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body)})
      .then(function (r) { return r.json().catch(function () { return {ok: false, error: "HTTP " + r.status}; }); });
  }

  function canvasHash() {
    try {
      var c = document.createElement("canvas"); c.width = 200; c.height = 40;
      var g = c.getContext("2d"); g.textBaseline = "top"; g.font = "16px Arial"; g.fillStyle = "#f60";
      g.fillRect(10, 5, 60, 20); g.fillStyle = "#069"; g.fillText("botrunner \u263a", 4, 12);
      var s = c.toDataURL(), h = 2166136261;
      for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0; }
      return h.toString(16);
    } catch (e) { return ""; }
  }

  function fingerprint() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    return {screen_width: screen.width, screen_height: screen.height, color_depth: screen.colorDepth,
            pixel_ratio: window.devicePixelRatio || 1, platform: navigator.platform || "",
            hardware_concurrency: navigator.hardwareConcurrency || 0, timezone: zone,
            user_agent: navigator.userAgent, language: navigator.language || "", canvas: canvasHash()};
  }

  function reset(left) { knob.style.left = (2 + left) + "px"; piece.style.left = left + "px"; }

  function load() {
    if (!initData) { say("Open this page from the bot's button in Telegram.", "error"); return; }
    say("Loading…");
    post("session", {init_data: initData}).then(function (answer) {
      if (!answer.ok) { say(answer.error || "refused", "error"); return; }
      challenge = answer;
      img.src = answer.track;
      piece.style.width = (answer.piece_width * 100) + "%";
      piece.style.height = (track.clientWidth * answer.piece_width) + "px";
      piece.style.display = "block";
      reset(0);
      say("Drag the slider until the frame covers the dark square.");
    }, function () { say("Network error; reopen the page.", "error"); });
  }

  function drag(start) {
    if (!challenge || busy) return;
    start.preventDefault();
    var width = track.clientWidth, maxLeft = width * (1 - challenge.piece_width);
    var scale = maxLeft / (rail.clientWidth - knob.offsetWidth - 4);
    var x0 = start.clientX, t0 = performance.now(), left = 0, trace = [[0, 0, start.clientY]];
    knob.setPointerCapture && knob.setPointerCapture(start.pointerId);
    function move(e) {
      left = Math.max(0, Math.min(maxLeft, (e.clientX - x0) * scale));
      knob.style.left = (2 + left / scale) + "px"; piece.style.left = left + "px";
      if (trace.length < 1500) trace.push([Math.round(performance.now() - t0), left / width, e.clientY]);
    }
    function up(e) {
      knob.removeEventListener("pointermove", move); knob.removeEventListener("pointerup", up);
      trace.push([Math.round(performance.now() - t0), left / width, e.clientY]);
      answer(left / width, trace);
    }
    knob.addEventListener("pointermove", move); knob.addEventListener("pointerup", up);
  }

  function answer(position, trace) {
    busy = true; say("Checking…");
    post("verify", {init_data: initData, challenge_id: challenge.challenge_id, position: position, trace: trace,
                    fingerprint: fingerprint()}).then(function (result) {
      busy = false;
      if (result.ok) {
        challenge = null; say("Verified. You can go back to the chat.", "verified");
        if (tg && tg.close) setTimeout(function () { tg.close(); }, 1500);
        return;
      }
      say(result.error || "refused", "error");
      if (!/too many|already/.test(result.error || "")) setTimeout(load, 1200);
    }, function () { busy = false; say("Network error; try again.", "error"); });
  }

  theme();
  if (tg && tg.ready) tg.ready();
  knob.addEventListener("pointerdown", drag);
  load();
})();
"""

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1">
<title>Verification</title><style nonce="{nonce}">{css}</style></head>
<body data-api="{api}"><main>
<h1>Are you human?</h1><p>Slide the frame onto the dark square to continue in the bot.</p>
<div id="track"><img alt="slider puzzle"><div id="piece"></div></div>
<div id="rail"><div id="knob" role="slider" aria-label="slider">&#x27A4;</div></div>
<div id="status" role="status"></div>
</main><script nonce="{nonce}">{script}</script></body></html>
"""


def render(api_base: str, nonce: str) -> str:
    """The page; `api_base` is the URL path the script posts to (MINIAPP_PATH + '/api/')."""
    api = json.dumps(api_base)[1:-1].replace('"', "&quot;")
    return HTML.format(nonce=nonce, css=CSS, api=api, script=SCRIPT)


def response(api_base: str) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
           "connect-src 'self'; base-uri 'none'; form-action 'none'; "
           "frame-ancestors https://web.telegram.org https://*.telegram.org 'self'")
    return web.Response(text=render(api_base, nonce), content_type="text/html", headers={
        "Content-Security-Policy": csp, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})
