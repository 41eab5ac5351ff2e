// POSTs every event it receives, as JSON, to $SINK_URL (a collector run by the test).
const http = require("http");
exports.handler = (event) =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify(event);
    const req = http.request(process.env.SINK_URL, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ stored: true }));
    });
    req.on("error", reject);
    req.end(body);
  });
