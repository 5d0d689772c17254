// A socket.io client for the e2e tests: connects to hoodyd's events channel
// and prints one JSON line per thing that happens, until stdin closes.
//   node client.js <base url> <token or ""> <transports, e.g. "polling" or "websocket">
// Lines: {"open":t} {"connected":id,"transport":t} {"connect_error":msg} {"upgrade":t}
//        {"event":type,"data":obj} {"disconnect":reason}
const { io } = require('socket.io-client');

const [base, token, transports] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const socket = io(base, {
  path: '/api/v1/events',
  transports: transports.split(','),
  auth: token ? { token } : {},
  reconnection: false,
});
socket.io.on('open', () => {
  out({ open: socket.io.engine.transport.name });
  socket.io.engine.on('upgrade', (t) => out({ upgrade: t.name }));
});
socket.on('connect', () => out({ connected: socket.id, transport: socket.io.engine.transport.name }));
socket.on('connect_error', (e) => out({ connect_error: e.message }));
socket.on('disconnect', (reason) => out({ disconnect: reason }));
socket.onAny((event, data) => out({ event, data }));
process.stdin.on('end', () => { socket.close(); process.exit(0); });
process.stdin.resume();
