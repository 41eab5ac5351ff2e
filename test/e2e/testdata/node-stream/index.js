// A streaming Node function (awslambda.streamifyResponse) for nimbus's
// streaming tests; see gostream for the modes and the barrier.
const http = require('http');

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
}

exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  if (event.mode === 'http') {
    const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201, headers: { 'x-custom': 'yes' } });
    stream.write('hello ');
    stream.end('world');
    return;
  }
  responseStream.setContentType('text/plain');
  responseStream.write('chunk-1\n');
  if (event.mode === 'error') {
    throw new Error('mid-stream failure');
  }
  if (event.barrier) await get(event.barrier);
  responseStream.write('chunk-2\n');
  responseStream.write('chunk-3\n');
  responseStream.end();
});
