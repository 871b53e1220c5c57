// The order service of Dapr's hello-world as a plain Node.js app: the built-in `http`
// module serves it, global `fetch` talks to its sidecar. No SDK, no `npm install`.
//
//   tandem run --app-id order --app-port 3000 -- node app.js
//
// POST /neworder {"data": {"orderId": N}} stores the order (state store `statestore`,
// key `order`); GET /order returns it (204 when there is none yet).
"use strict";

const http = require("node:http");

const daprPort = process.env.DAPR_HTTP_PORT ?? "3500";
const stateUrl = `http://localhost:${daprPort}/v1.0/state/statestore`;
const port = Number(process.env.APP_PORT ?? 3000);

function send(res, status, body, type = "text/plain; charset=utf-8") {
  res.writeHead(status, body ? { "Content-Type": type } : {});
  res.end(body);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "null");
}

async function newOrder(req, res) {
  let body;
  try {
    body = await readJson(req);
  } catch {
    return send(res, 400, "request body is not valid JSON");
  }
  const order = body?.data;
  if (order === null || typeof order !== "object" || !("orderId" in order)) {
    return send(res, 400, 'expected a JSON body like {"data": {"orderId": 1}}');
  }
  const saved = await fetch(stateUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([{ key: "order", value: order }]),
  });
  if (!saved.ok) {
    return send(res, 500, `could not save the order: ${saved.status} ${await saved.text()}`);
  }
  console.log(`Got a new order! Order ID: ${order.orderId}`);
  send(res, 204);
}

async function getOrder(_req, res) {
  const got = await fetch(`${stateUrl}/order`);
  if (!got.ok) {
    return send(res, 500, `could not read the order: ${got.status} ${await got.text()}`);
  }
  const text = await got.text(); // 204 and empty when nothing is stored yet
  if (!text) return send(res, 204);
  send(res, 200, text, "application/json");
}

const routes = { "POST /neworder": newOrder, "GET /order": getOrder };

const server = http.createServer(async (req, res) => {
  const handler = routes[`${req.method} ${new URL(req.url, "http://app").pathname}`];
  if (!handler) return send(res, 404, "not found");
  try {
    await handler(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, String(err));
  }
});

server.listen(port, "127.0.0.1", () => console.log(`order service listening on 127.0.0.1:${port}`));

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref(); // a client holding a connection open
  });
}
