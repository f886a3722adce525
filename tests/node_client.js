'use strict';
// Node.js's http client (llhttp) as a witness for tests/test_violations.py.
//
// Reads one JSON case per line on stdin and answers each with one JSON line on stdout, so that a
// single node process serves a whole test session. Cases run concurrently; answers carry the
// case's id. A case:
//
//   {"id": "x", "host": "127.0.0.1", "port": 8080, "lenient": false, "timeout_ms": 2000,
//    "raw": ["<base64 request bytes>", ...], "method": "GET",           // raw mode, or
//    "path": "/", "headers": {...}, "body": "<base64>", "expect_continue": true}  // native mode
//
// Raw mode: node's http client builds its own request head as usual, and this script puts the
// case's bytes on the wire instead (one raw request per request node starts, on one keep-alive
// connection), so that the request can be anything a violation needs (HTTP/1.0, HEAD, Expect...)
// while node's client and its llhttp parser do all the reading. `method` must be the raw
// request's method where it matters to parsing (HEAD). Native mode: node sends its own request;
// with expect_continue it sends the body on 'continue' (or after 300 ms without one).
// `lenient` sets insecureHTTPParser (llhttp's lenient flags).
//
// An answer:
//
//   {"id": "x", "responses": [{"information": [103], "status": 200, "complete": true,
//    "body_length": 6}], "error": null | "HPE_INVALID_CONSTANT" | "ECONNRESET" | ...,
//    "message": "...", "upgrade": false, "timed_out": false}
//
// `error` is the code of the first error node's client reported: a parse error from llhttp
// (HPE_*), or a connection error (a response cut short is reported as ECONNRESET "aborted").

const http = require('node:http');
const net = require('node:net');
const readline = require('node:readline');

function rawSocket(options, requests) {
  // A real TCP connection whose write() sends the next raw request in place of the first bytes
  // node writes for each request, and drops the rest of what node writes.
  const socket = net.connect({ host: options.host, port: options.port });
  const write = socket.write.bind(socket);
  let current = null;
  socket.write = (data, encoding, callback) => {
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (socket._httpMessage !== current && requests.length > 0) {
      current = socket._httpMessage;
      return write(requests.shift(), cb);
    }
    if (typeof cb === 'function') process.nextTick(cb);
    return true;
  };
  return socket;
}

class RawAgent extends http.Agent {
  constructor(requests) {
    super({ keepAlive: true, maxSockets: 1 });
    this.requests = requests;
  }

  createConnection(options) {
    return rawSocket(options, this.requests);
  }
}

function runCase(spec) {
  return new Promise((resolve) => {
    const answer = {
      id: spec.id,
      responses: [],
      error: null,
      message: null,
      upgrade: false,
      timed_out: false,
    };
    const raw = Array.isArray(spec.raw) ? spec.raw.map((b) => Buffer.from(b, 'base64')) : null;
    const total = raw ? raw.length : 1;
    const agent = raw ? new RawAgent(raw) : false;
    let done = false;
    let current = null;

    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (current) current.destroy();
      if (agent) agent.destroy();
      resolve(answer);
    };
    const fail = (err) => {
      if (done) return;
      if (answer.error === null) {
        answer.error = err.code || 'ERROR';
        answer.message = String(err.message);
      }
      finish();
    };
    const timer = setTimeout(() => {
      // A client that gives up leaves at once: RST, not FIN.
      answer.timed_out = true;
      if (current && current.socket && current.socket.resetAndDestroy) {
        current.socket.resetAndDestroy();
      }
      finish();
    }, spec.timeout_ms || 2000);

    const send = (index) => {
      const record = { information: [], status: null, complete: false, body_length: 0 };
      answer.responses.push(record);
      const headers = raw ? {} : { ...(spec.headers || {}) };
      const body = !raw && spec.body ? Buffer.from(spec.body, 'base64') : null;
      if (body) headers['Content-Length'] = String(body.length);
      if (!raw && spec.expect_continue) headers.Expect = '100-continue';
      const req = http.request({
        host: spec.host,
        port: spec.port,
        method: spec.method || 'GET',
        path: spec.path || '/',
        headers,
        agent,
        insecureHTTPParser: Boolean(spec.lenient),
      });
      current = req;
      req.on('information', (info) => record.information.push(info.statusCode));
      req.on('upgrade', (res, socket) => {
        answer.upgrade = true;
        record.status = res.statusCode;
        socket.destroy();
        finish();
      });
      req.on('error', fail);
      req.on('response', (res) => {
        record.status = res.statusCode;
        res.on('data', (chunk) => {
          record.body_length += chunk.length;
        });
        res.on('error', fail);
        res.on('end', () => {
          record.complete = res.complete;
          if (index + 1 < total) setImmediate(() => send(index + 1));
          else setImmediate(finish);
        });
      });
      if (body && spec.expect_continue) {
        let sent = false;
        const sendBody = () => {
          if (!sent) {
            sent = true;
            req.end(body);
          }
        };
        req.on('continue', sendBody);
        setTimeout(sendBody, 300);
      } else {
        req.end(body || undefined);
      }
    };
    send(0);
  });
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  runCase(JSON.parse(line)).then((answer) => {
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
