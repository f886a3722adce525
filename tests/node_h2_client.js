// One HTTP/2 request with Node.js's http2 client, for tests/h2_witnesses.py.
// stdin: a JSON case {url, ca (a CA file for https, or null), method, headers: [[name, value]...],
// body (base64), patience_ms}.
// Prints one JSON line: {informational: [status...], status, body_length, error} where error
// is the first error's code (ERR_HTTP2_STREAM_ERROR, ERR_HTTP2_SESSION_ERROR, ...) with its
// message, "timeout", or null.
"use strict";
const http2 = require("node:http2");

const kase = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const out = { informational: [], status: null, body_length: 0, error: null };
let done = false;

function finish(error) {
  if (done) return;
  done = true;
  if (error && !out.error) out.error = error;
  process.stdout.write(JSON.stringify(out) + "\n");
  session.destroy();
  process.exit(0);
}

const options = kase.ca ? { ca: require("node:fs").readFileSync(kase.ca) } : {};
const session = http2.connect(kase.url, options);
session.on("error", (err) => finish(`${err.code || "error"}: ${err.message}`));
session.on("goaway", (code) => {
  if (code !== http2.constants.NGHTTP2_NO_ERROR) finish(`GOAWAY ${code}`);
});
session.on("close", () => finish("the session closed before the response ended"));
const headers = { ":method": kase.method, ":path": "/" };
for (const [name, value] of kase.headers) headers[name.toLowerCase()] = value;
const body = Buffer.from(kase.body, "base64");
const request = session.request(headers, { endStream: body.length === 0 });
request.on("headers", (h) => out.informational.push(h[":status"]));
request.on("response", (h) => { out.status = h[":status"]; });
request.on("data", (chunk) => { out.body_length += chunk.length; });
request.on("end", () => finish(null));
request.on("error", (err) => finish(`${err.code || "error"}: ${err.message}`));
request.on("close", () => finish(`the stream closed before its end (code ${request.rstCode})`));
if (body.length) request.end(body);
setTimeout(() => finish("timeout"), kase.patience_ms);
