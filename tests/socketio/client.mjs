// Drives the server with the real socket.io-client, as the course's pages
// do. Usage: node client.mjs <base url> <admin email> <admin password>
// Prints "ok <check>" for each check and exits 1 at the first failure.
import { io } from "socket.io-client";

const [base, adminEmail, adminPassword] = process.argv.slice(2);
const TIMEOUT = 5000;

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

function ok(check) {
  console.log(`ok ${check}`);
}

/** The next `event` on `socket` whose data satisfies `test`. */
function next(socket, event, test = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${TIMEOUT} ms`)), TIMEOUT);
    const handler = (data) => {
      if (test(data)) {
        clearTimeout(timer);
        socket.off(event, handler);
        resolve(data);
      }
    };
    socket.on(event, handler);
  });
}

/** Emits with an acknowledgement and resolves with the server's answer. */
function ask(socket, event, data) {
  return socket.timeout(TIMEOUT).emitWithAck(event, data);
}

async function connected(socket) {
  if (!socket.connected) await next(socket, "connect");
  return socket;
}

async function adminCookie() {
  const response = await fetch(`${base}/api/sessions/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: adminEmail, password: adminPassword }),
  });
  if (response.status !== 200) fail(`admin login: ${response.status}`);
  return response.headers.get("set-cookie").split(";")[0];
}

async function createProduct(cookie, code) {
  const response = await fetch(`${base}/api/products`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie },
    body: JSON.stringify({ title: `Item ${code}`, description: "d", code, price: 5, stock: 3, category: "c" }),
  });
  if (response.status !== 201) fail(`creating ${code}: ${response.status}`);
  return (await response.json()).payload;
}

async function main() {
  const cookie = await adminCookie();

  // Default transports: polling first, then the upgrade to WebSocket.
  const upgraded = io(`${base}/products`, { forceNew: true });
  const snapshot = await next(upgraded, "products");
  if (!Array.isArray(snapshot)) fail("the products snapshot is a list");
  await connected(upgraded);
  if (upgraded.io.engine.transport.name !== "websocket") {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no upgrade within ${TIMEOUT} ms`)), TIMEOUT);
      upgraded.io.engine.once("upgrade", () => { clearTimeout(timer); resolve(); });
    });
  }
  if (upgraded.io.engine.transport.name !== "websocket") fail("the default client upgrades to websocket");
  ok("default transports: polling, then upgraded to websocket");

  // Polling only.
  const polling = io(`${base}/products`, { forceNew: true, transports: ["polling"] });
  await next(polling, "products");
  ok("polling-only client gets the products snapshot");

  // The default namespace, as the course's pages use it.
  const root = io(base, { forceNew: true });
  await connected(root);

  // REST writes reach both transports and `update_products` on "/".
  const createdOnWs = next(upgraded, "product:created", (p) => p.code === "SIO-1");
  const createdOnPolling = next(polling, "product:created", (p) => p.code === "SIO-1");
  const update = next(root, "update_products");
  const product = await createProduct(cookie, "SIO-1");
  await createdOnWs;
  await createdOnPolling;
  const seen = await update;
  if (seen.id !== product._id || typeof seen.msg !== "string") fail(`update_products: ${JSON.stringify(seen)}`);
  ok("REST writes reach /products on both transports and update_products on /");

  // Product writes over Socket.IO follow the REST rules, with acks.
  const refused = await ask(polling, "product:create", { title: "x" });
  if (refused.status !== "error" || !refused.error) fail(`anonymous product:create: ${JSON.stringify(refused)}`);
  const admin = io(`${base}/products`, { forceNew: true, extraHeaders: { cookie } });
  await connected(admin);
  const made = await ask(admin, "product:create", {
    title: "Over socket", description: "d", code: "SIO-2", price: 1, stock: 1, category: "c",
  });
  if (made.status !== "success" || made.payload.code !== "SIO-2") fail(`admin product:create: ${JSON.stringify(made)}`);
  const invalid = await ask(admin, "product:create", { title: "" });
  if (invalid.status !== "error" || !invalid.field) fail(`invalid product: ${JSON.stringify(invalid)}`);
  ok("product:create acked: refused anonymously, created as admin, invalid names its field");

  // Chat: one WebSocket client, one polling client.
  const ana = io(`${base}/chat`, { forceNew: true });
  const bob = io(`${base}/chat`, { forceNew: true, transports: ["polling"] });
  await connected(ana);
  await connected(bob);
  const anaHistory = next(ana, "history");
  const anaPresence = next(ana, "presence");
  const joined = await ask(ana, "join", { user: "ana@sio.test" });
  if (joined.status !== "success") fail(`join: ${JSON.stringify(joined)}`);
  await anaHistory;
  await anaPresence;
  const bobSeen = next(ana, "presence:diff", (d) => d.joined.includes("bob@sio.test"));
  const bobPresence = next(bob, "presence");
  if ((await ask(bob, "join", { user: "bob@sio.test" })).status !== "success") fail("bob joins");
  const listed = await bobPresence;
  if (!listed.users.includes("ana@sio.test")) fail(`presence lists ana: ${JSON.stringify(listed)}`);
  await bobSeen;
  ok("chat join acked; presence across a polling and a websocket client");

  const toBob = next(bob, "message", (m) => m.message === "hello from ana");
  const sent = await ask(ana, "message", { message: "hello from ana" });
  if (sent.status !== "success" || sent.payload.user !== "ana@sio.test") fail(`message ack: ${JSON.stringify(sent)}`);
  await toBob;
  const toAna = next(ana, "message", (m) => m.message === "hello from bob");
  bob.emit("message", { message: "hello from bob" });
  await toAna;
  ok("messages both ways");

  const empty = await ask(ana, "message", { message: "   " });
  if (empty.status !== "error" || empty.field !== "message") fail(`empty message: ${JSON.stringify(empty)}`);
  const errorEvent = next(ana, "error", (e) => e.field === "message");
  ana.emit("message", { message: "" });
  await errorEvent;
  ok("an invalid message is acked with an error (and without an ack, an error event)");

  const bobLeft = next(ana, "presence:diff", (d) => d.left.includes("bob@sio.test"));
  bob.disconnect();
  await bobLeft;
  ok("a disconnect is announced as left");

  // `join` and `message` emitted in one tick (one POST when polling): both
  // succeed, in order.
  for (const transports of [["websocket"], ["polling"]]) {
    const hasty = io(`${base}/chat`, { forceNew: true, transports });
    await connected(hasty);
    const user = `hasty-${transports[0]}@sio.test`;
    const errors = [];
    hasty.on("error", (e) => errors.push(e));
    const own = next(hasty, "message", (m) => m.user === user);
    hasty.emit("join", { user });
    hasty.emit("message", { message: `straight after joining over ${transports[0]}` });
    const echoed = await own;
    if (echoed.message !== `straight after joining over ${transports[0]}`) fail(`pipelined message: ${JSON.stringify(echoed)}`);
    if (errors.length > 0) fail(`pipelined join+message refused: ${JSON.stringify(errors)}`);
    hasty.disconnect();
  }
  ok("join and message emitted together both succeed (websocket and polling)");

  // As socket.io handlers run: an event's ack comes after the frames the
  // event causes to its own socket.
  const orderly = io(`${base}/chat`, { forceNew: true });
  await connected(orderly);
  const seenOrder = [];
  for (const event of ["history", "presence", "message"]) orderly.on(event, () => seenOrder.push(event));
  await ask(orderly, "join", { user: "orderly@sio.test" });
  seenOrder.push("join ack");
  if (JSON.stringify(seenOrder) !== JSON.stringify(["history", "presence", "join ack"])) fail(`join: ${JSON.stringify(seenOrder)}`);
  seenOrder.length = 0;
  await ask(orderly, "message", { message: "mine first" });
  seenOrder.push("message ack");
  if (JSON.stringify(seenOrder) !== JSON.stringify(["message", "message ack"])) fail(`message: ${JSON.stringify(seenOrder)}`);
  ok("acks come after the frames their event causes (join: history and presence; message: the message)");

  // One shape for refusals: {error, field}, field null when none.
  const notJoined = io(`${base}/chat`, { forceNew: true });
  await connected(notJoined);
  const refusedAck = await ask(notJoined, "leave");
  if (refusedAck.status !== "error" || !("field" in refusedAck) || refusedAck.field !== null) fail(`ack shape: ${JSON.stringify(refusedAck)}`);
  const refusedEvent = next(notJoined, "error");
  notJoined.emit("message", { message: "too early" });
  const shape = await refusedEvent;
  if (!shape.error || !("field" in shape) || shape.field !== null) fail(`error event shape: ${JSON.stringify(shape)}`);
  // An unknown event is ignored, as socket.io does: no ack, no error.
  const stray = [];
  notJoined.on("error", (e) => stray.push(e));
  let answered = true;
  try { await notJoined.timeout(500).emitWithAck("shout", {}); } catch { answered = false; }
  if (answered || stray.length > 0) fail(`an unknown event was answered: ${JSON.stringify(stray)}`);
  notJoined.disconnect();
  orderly.disconnect();
  ok("refusals are {error, field} in acks and error events; unknown events are ignored");

  // Connection state recovery: the transport drops, the client reconnects
  // with its pid and offset, gets exactly what it missed, once, in order.
  for (const transports of [["websocket"], ["polling"]]) {
    const name = transports[0];
    const options = { forceNew: true, transports, reconnectionDelay: 100, reconnectionDelayMax: 200 };
    const reader = io(`${base}/chat`, options);
    await connected(reader);
    const readerUser = `reader-${name}@sio.test`;
    const joinedHistory = next(reader, "history");
    if ((await ask(reader, "join", { user: readerUser })).status !== "success") fail("reader joins");
    await joinedHistory;
    const writer = io(`${base}/chat`, { forceNew: true });
    await connected(writer);
    if ((await ask(writer, "join", { user: `writer-${name}@sio.test` })).status !== "success") fail("writer joins");
    const first = next(reader, "message", (m) => m.message === `${name}-0`);
    await ask(writer, "message", { message: `${name}-0` });
    await first;
    const got = [];
    reader.on("message", (m) => { if (m.message.startsWith(`${name}-`)) got.push(m.message); });
    const back = new Promise((resolve) => reader.io.once("reconnect", resolve));
    reader.io.engine.close();
    for (let i = 1; i <= 5; i += 1) await ask(writer, "message", { message: `${name}-${i}` });
    await back;
    await connected(reader);
    if (!reader.recovered) fail(`${name}: socket.recovered after a transport drop`);
    await ask(writer, "message", { message: `${name}-6` });
    const deadline = Date.now() + TIMEOUT;
    while (got.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // nothing more may come
    const expected = [1, 2, 3, 4, 5, 6].map((i) => `${name}-${i}`);
    if (JSON.stringify(got) !== JSON.stringify(expected)) fail(`${name}: missed events once each, in order: ${JSON.stringify(got)}`);
    // Still joined as before: a message from it is its own.
    const mine = await ask(reader, "message", { message: "still me" });
    if (mine.status !== "success" || mine.payload.user !== readerUser) fail(`${name}: recovered as the same user: ${JSON.stringify(mine)}`);
    reader.disconnect();
    writer.disconnect();
  }
  ok("connection state recovery: socket.recovered, the missed events once each, in order (websocket and polling)");

  // A pid that is not ours, or an offset no longer kept: not recovered.
  const stranger = io(`${base}/chat`, { forceNew: true, auth: { pid: "nonsense", offset: "garbage" } });
  await connected(stranger);
  if (stranger.recovered) fail("a forged pid does not recover");
  stranger.disconnect();
  ok("a forged pid is a fresh connection");

  for (const socket of [upgraded, polling, root, admin, ana]) socket.disconnect();
  ok("all checks passed");
}

main().catch((error) => fail(error.stack || String(error)));
