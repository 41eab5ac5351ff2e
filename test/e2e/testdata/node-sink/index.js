// Appends every event it receives, one JSON document per line, to $SINK_FILE.
const fs = require("fs");
exports.handler = async (event) => {
  fs.appendFileSync(process.env.SINK_FILE, JSON.stringify(event) + "\n");
  return { stored: true };
};
