// The oracle app: runs any chrome.sockets.tcpServer / chrome.sockets.tcp call on command and
// keeps ONE log, in dispatch order, of every call issued, every callback (its arguments and
// chrome.runtime.lastError.message as read inside the callback) and every event.
//
// Driven by the Rust harness over DevTools (Runtime.evaluate), never through Chrome's own
// socket API, so the socket ids seen here are only the ones the scenario creates.
//
//   batch([{ns, method, args}, ...])  issues every call in this one JS task, returns the tags
//                                     (tags count up from 0 after reset()); callbacks land in
//                                     the log later.
//   drain()                           returns the log and clears it.
//   reset()                           clears the log and the tag counter.
//
// Argument encoding: JSON values are passed as they are, except an object {hex: "0a1b.."}
// or {repeat: {byte, len}}, which becomes an ArrayBuffer (send data). ArrayBuffers in
// callbacks and events are logged as {hex: "..."}.
'use strict';

let log = [];
let nextTag = 0;

const HEX = '0123456789abcdef';
function toHex(buffer) {
  const bytes = new Uint8Array(buffer);
  const out = new Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    out[i] = HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  }
  return out.join('');
}
function fromHex(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
  }
  return bytes.buffer;
}
function decodeArg(arg) {
  if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
    if (typeof arg.hex === 'string') return fromHex(arg.hex);
    if (arg.repeat) return new Uint8Array(arg.repeat.len).fill(arg.repeat.byte).buffer;
  }
  return arg;
}
function encodeValue(v) {
  if (v instanceof ArrayBuffer) return { hex: toHex(v) };
  return v === undefined ? null : v;
}

chrome.sockets.tcpServer.onAccept.addListener((info) => {
  log.push({ k: 'accept', socketId: info.socketId, clientSocketId: info.clientSocketId });
});
chrome.sockets.tcpServer.onAcceptError.addListener((info) => {
  log.push({ k: 'acceptError', socketId: info.socketId, resultCode: info.resultCode });
});
chrome.sockets.tcp.onReceive.addListener((info) => {
  log.push({ k: 'receive', socketId: info.socketId, hex: toHex(info.data) });
});
chrome.sockets.tcp.onReceiveError.addListener((info) => {
  log.push({ k: 'receiveError', socketId: info.socketId, resultCode: info.resultCode });
});

function issue(call) {
  const tag = nextTag++;
  const ns = chrome.sockets[call.ns];
  const name = call.ns + '.' + call.method;
  log.push({ k: 'issued', tag: tag, name: name });
  const args = (call.args || []).map(decodeArg);
  args.push((...results) => {
    const err = chrome.runtime.lastError;
    log.push({
      k: 'reply',
      tag: tag,
      name: name,
      args: results.map(encodeValue),
      lastError: err ? err.message : null,
    });
  });
  try {
    ns[call.method].apply(ns, args);
  } catch (e) {
    // A schema violation throws synchronously; the callback never runs.
    log.push({ k: 'threw', tag: tag, name: name, message: String(e && e.message) });
  }
  return tag;
}

function batch(calls) {
  return calls.map(issue);
}

function drain() {
  const out = log;
  log = [];
  return out;
}

function reset() {
  log = [];
  nextTag = 0;
  return true;
}

function ready() {
  return 'oracle';
}

// A reloaded app's background page only starts for an event it listens to: these listeners
// make chrome.runtime.reload() (and an alarm, after the page was closed) bring the page back.
chrome.runtime.onInstalled.addListener(() => {});
chrome.app.runtime.onRestarted.addListener(() => {});
chrome.alarms.onAlarm.addListener(() => {});
