"""Node boilerplate: no npm dependencies."""

from __future__ import annotations

HANDLER = """'use strict';

// Hello World, or Hello <name> for {"name": ...}.
function handler(body) {
  let name = 'World';
  try {
    const data = body.trim() ? JSON.parse(body) : {};
    if (data && typeof data === 'object' && data.name) {
      name = String(data.name);
    }
  } catch (e) {
    // not JSON: greet the world
  }
  return { message: 'Hello ' + name };
}
"""

DEFAULT = (
    HANDLER
    + """
// default format: the request body on stdin, the response on stdout, logs on stderr.
const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(handler(Buffer.concat(chunks).toString('utf8'))));
});
"""
)

JSON = (
    HANDLER
    + """
// json format: one request object per line on stdin, one response object per line on stdout.
const readline = require('readline');
const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on('line', (line) => {
  if (!line.trim()) {
    return;
  }
  const request = JSON.parse(line);
  const response = {
    body: JSON.stringify(handler(request.body || '')),
    content_type: 'application/json',
    protocol: { status_code: 200 },
  };
  process.stdout.write(JSON.stringify(response) + '\\n');
});
"""
)

PACKAGE_JSON = """{
  "name": "func",
  "version": "0.0.1",
  "private": true,
  "main": "func.js",
  "dependencies": {}
}
"""

FILES = {
    "default": {"func.js": DEFAULT},
    "json": {"func.js": JSON},
}
COMMON = {"package.json": PACKAGE_JSON}
