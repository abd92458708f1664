#!/usr/bin/env node
// Test-only launcher for the @vercel/cosmosdb-server Cosmos DB stand-in.
//
// Usage: node launcher.js <port>      (port 0: the OS picks a free one)
//
// Why not the package's CLI:
// - the CLI answers every response with `Connection: close`, so the Python SDK pays a
//   TLS handshake per call (100 upserts ~4.7 s); here keep-alive is on (~0.2 s);
// - the stock read-document handler dereferences the missing document and answers
//   HTTP 500 for a missing item or a wrong partition key, and compares a nested
//   partition key path ("/owner/tenant") as one flat property, answering 404 for an
//   item that exists. Real Cosmos DB answers 404 / 200, so the handler is replaced.
// Prints one line `READY https://127.0.0.1:<port>/` once it accepts connections.
"use strict";

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const partitionHeader = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");
const getValue = require("@vercel/cosmosdb-server/lib/utils/get-value").default;

const stockReadDocument = readDocument.default;

const notFound = res => {
  res.statusCode = 404;
  return {
    code: "NotFound",
    message: "Entity with the specified id does not exist in the system."
  };
};

// Must be patched before lib/index.js is required: lib/routes.js captures the handler
// function when it is first loaded.
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  const definition = collection.read();
  const header = partitionHeader.default(req);
  const crossPartition = String(req.headers["x-ms-documentdb-query-enablecrosspartition"]) === "true";
  if (!definition || !header || crossPartition) {
    return stockReadDocument(account, req, res, params); // unchanged paths: 404 / 400 / scan
  }
  let clientKeys;
  let data;
  try {
    clientKeys = JSON.parse(header);
    data = collection.document(params.docId, partitionHeader.parsePartitionKey(header, params.docId)).read();
  } catch (err) {
    return stockReadDocument(account, req, res, params); // malformed header: stock answer
  }
  if (!data) {
    return notFound(res);
  }
  const paths = ((definition.partitionKey && definition.partitionKey.paths) || [])
    .filter(path => path !== "/_partitionKey")
    .map(path => path.slice(1).split("/"));
  const keys = Array.isArray(clientKeys) ? clientKeys : [clientKeys];
  for (let i = 0; i < paths.length; i += 1) {
    if (getValue(paths[i], data) !== keys[i]) {
      return notFound(res);
    }
  }
  res.statusCode = 200;
  return data;
};

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = Number.parseInt(process.argv[2] || "8081", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${process.argv[2]}`);
  process.exit(2);
}

const server = createHttpsServer({ keepAlive: true });
// Keep idle client connections open well past the SDK's pauses between tests; Node's
// 5 s default would close sockets the SDK's pool still believes alive.
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
server.on("error", err => {
  console.error(`cosmos stand-in failed: ${err.message}`);
  process.exit(1);
});
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  console.log(`READY https://127.0.0.1:${address.port}/`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
