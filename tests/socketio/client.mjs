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

  for (const socket of [upgraded, polling, root, admin, ana]) socket.disconnect();
  ok("all checks passed");
}

main().catch((error) => fail(error.stack || String(error)));
