// Accept-and-close server for the accept benchmark. The harness calls
// startAcceptClose(port) through DevTools (Runtime.evaluate, awaitPromise) and gets the bound
// port back; `accepted` counts connections (acceptedCount() reads it).
'use strict';
let accepted = 0;
chrome.sockets.tcpServer.onAccept.addListener((info) => {
  accepted += 1;
  chrome.sockets.tcp.close(info.clientSocketId, () => void chrome.runtime.lastError);
});
function acceptedCount() { return accepted; }
function startAcceptClose(port) {
  return new Promise((resolve) => {
    chrome.sockets.tcpServer.create({}, (created) => {
      const id = created.socketId;
      chrome.sockets.tcpServer.listen(id, '127.0.0.1', port, (result) => {
        const err = chrome.runtime.lastError;
        if (err) { resolve({ error: err.message, code: result }); return; }
        chrome.sockets.tcpServer.getInfo(id, (info) => resolve({ port: info.localPort }));
      });
    });
  });
}
// The harness waits for this to answer before driving the page.
function ready() { return 'bench'; }
