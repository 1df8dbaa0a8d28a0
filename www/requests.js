// SPDX-License-Identifier: MIT
/**
 * requests.js: call the C++ functions in calls/ from a web page. No build step:
 *
 *   <script src="requests.js"></script>
 *   request("serverTime&now", function (text, status) { ... });   // pyAPI style
 *   api("add", 2, 3).then(function (sum) { ... });                 // Promise: 5
 *   api.post("notes/add", {text: "hi"}).then(...);                 // POST a body
 *
 * api() percent-encodes each argument, so "a&b", "1+1", "x/y" and "ü" arrive as
 * written; request() sends the call exactly as given. A failed api() call rejects
 * with an Error carrying .status (the HTTP status, 0 on a network error), .call
 * and the server's message.
 *
 * Base URL: "/api/" on the page's own origin. Change it without editing this file
 * with an attribute, <script src="requests.js" data-base="https://host/api/">,
 * or at run time: cppapi.base = "https://host/api/".
 */
(function (global) {
  "use strict";

  var script = global.document && global.document.currentScript;
  var cppapi = { base: (script && script.getAttribute("data-base")) || "/api/" };

  /** GET <base><call>; cb(text, status) on success and on error alike. */
  function request(call, cb) {
    function lost(err) { cb(String(err && err.message || err), 0); }
    fetch(cppapi.base + call).then(function (res) {
      res.text().then(function (text) { cb(text, res.status); }, lost);
    }, lost);
  }

  /** "name&a1&a2" with every argument percent-encoded ("&" -> "%26"). */
  function encode_call(name, args) {
    return [name].concat(args.map(function (a) {
      return encodeURIComponent(String(a));
    })).join("&");
  }

  /** Sends one call; resolves with the parsed answer, rejects with an Error. */
  function send(name, args, init) {
    var call = encode_call(name, args);
    function fail(message, status) {
      var err = new Error(message);
      err.status = status;
      err.call = call;
      return err;
    }
    function lost(err) { throw fail("network error: " + (err && err.message || err), 0); }
    return fetch(cppapi.base + call, init).then(function (res) {
      var type = res.headers.get("Content-Type") || "";
      return res.text().then(function (text) {
        var body = text;
        if (/^application\/json/i.test(type)) {
          try { body = JSON.parse(text); } catch (e) { body = undefined; }
        }
        if (res.ok) {
          if (body === undefined) throw fail("the answer is not valid JSON", res.status);
          return body;
        }
        var message = body && body.error || (/^text\/plain/i.test(type) && text) ||
          (res.status + " " + res.statusText).trim();
        throw fail(message, res.status);
      }, lost);
    }, lost);
  }

  /** api(name, ...args) -> Promise of the answer. */
  function api(name) {
    return send(name, [].slice.call(arguments, 1));
  }

  /**
   * api.post(name, body, ...args): POSTs body. A string goes as text/plain, a
   * Blob/FormData/URLSearchParams as itself, anything else as JSON.
   */
  api.post = function (name, body) {
    var init = { method: "POST", body: body };
    var raw = typeof body === "string" || body instanceof Blob ||
      body instanceof FormData || body instanceof URLSearchParams;
    if (!raw) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    return send(name, [].slice.call(arguments, 2), init);
  };

  cppapi.request = request;
  cppapi.api = api;
  global.cppapi = cppapi;
  global.request = request;
  global.api = api;
})(this);
