// SPDX-License-Identifier: MIT
// docs.html: fetches <base>openapi.json and shows every call: name, summary,
// parameters with their types, what it returns. Text only (no innerHTML).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  /** "integer from 0 to 4294967295", "string", ... A range JavaScript cannot hold exactly
   * (64-bit) is left out: the C++ type says it. */
  function describe_schema(schema, cpp_type) {
    if (!schema) return "any";
    var text = schema.type || "any";
    var safe = function (n) { return Math.abs(n) <= Number.MAX_SAFE_INTEGER; };
    if (schema.minimum !== undefined && schema.maximum !== undefined && safe(schema.minimum) && safe(schema.maximum))
      text += " from " + schema.minimum + " to " + schema.maximum;
    return cpp_type ? text + " (C++ " + cpp_type + ")" : text;
  }

  /** What a 200 answer holds: "integer (text/plain; charset=utf-8)", "JSON", ... */
  function describe_return(response) {
    var content = response && response.content;
    if (!content) return "nothing (an empty body)";
    var type = Object.keys(content)[0];
    if (type === "*/*") return "a full reply (status, content type and headers chosen by the handler)";
    if (type === "application/json") return "JSON";
    return describe_schema(content[type].schema) + " (" + type + ")";
  }

  /** One entry per call, from its operations (a call with optional parameters has several paths). */
  function collect(document) {
    var calls = {};
    Object.keys(document.paths).forEach(function (path) {
      var item = document.paths[path];
      ["get", "post"].forEach(function (method) {
        var op = item[method];
        if (!op) return;
        var name = op["x-cppapi-call"] || path.slice(1).split("&")[0];
        var call = calls[name] || (calls[name] = {
          name: name, summary: op.summary || "", description: op.description || "",
          parameters: [], methods: [], returns: describe_return(op.responses["200"])
        });
        (op.parameters || []).forEach(function (p) {
          if (!call.parameters.some(function (q) { return q.name === p.name; })) call.parameters.push(p);
        });
        if (call.methods.indexOf(method.toUpperCase()) < 0) call.methods.push(method.toUpperCase());
      });
    });
    return Object.keys(calls).sort().map(function (name) { return calls[name]; });
  }

  function render(call) {
    var section = element("section", undefined, "call");
    section.setAttribute("data-call", call.name);
    var title = element("h2");
    var params = call.parameters.map(function (p) { return p.name + (p["x-cppapi-optional"] ? "?" : ""); });
    title.appendChild(element("code", call.name + "(" + params.join(", ") + ")"));
    title.appendChild(element("span", call.methods.join(" "), "methods"));
    section.appendChild(title);
    section.appendChild(element("p", call.summary, "summary"));
    if (call.description) section.appendChild(element("p", call.description, "muted"));
    if (call.parameters.length) {
      var table = element("table");
      var head = element("tr");
      ["parameter", "type", ""].forEach(function (h) { head.appendChild(element("th", h)); });
      table.appendChild(head);
      call.parameters.forEach(function (p) {
        var row = element("tr");
        row.appendChild(element("td")).appendChild(element("code", p.name));
        row.appendChild(element("td", describe_schema(p.schema, p["x-cppapi-type"])));
        row.appendChild(element("td", p["x-cppapi-optional"] ? "optional" : "", "muted"));
        table.appendChild(row);
      });
      section.appendChild(table);
    }
    section.appendChild(element("p", "Returns " + call.returns + ".", "returns"));
    return section;
  }

  var url = cppapi.base + "openapi.json";
  $("source").href = url;
  fetch(url).then(function (res) {
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  }).then(function (document_) {
    var calls = collect(document_);
    calls.forEach(function (call) { $("calls").appendChild(render(call)); });
    $("status").textContent = calls.length + " calls, " + document_.info.title + " " + document_.info.version +
      ", served under " + document_.servers[0].url + ".";
  }).catch(function (err) {
    $("status").className = "err";
    $("status").textContent = "Could not load " + url + ": " + err.message;
  });
})();
