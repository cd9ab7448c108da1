// Uploads a file to the vidpipe tus endpoint with tus-js-client, unmodified.
// Usage: node upload.js <endpoint> <token> <file> <chunkSize>
// Prints the upload URL on success; exits 1 with the error otherwise.
"use strict";
const fs = require("fs");
const path = require("path");
const tus = require("tus-js-client");

const [endpoint, token, file, chunkSize] = process.argv.slice(2);
const data = fs.readFileSync(file);

const upload = new tus.Upload(data, {
  endpoint,
  chunkSize: Number(chunkSize),
  retryDelays: [100, 500, 1000],
  headers: { Authorization: "Bearer " + token },
  metadata: {
    filename: path.basename(file),
    title: "tus-js-client upload",
    tags: "tus,node",
  },
  onError(err) {
    console.error("upload failed:", err && err.message ? err.message : err);
    process.exit(1);
  },
  onSuccess() {
    console.log(upload.url);
  },
});
upload.start();
