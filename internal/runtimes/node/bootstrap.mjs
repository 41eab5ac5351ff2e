// nimbus Node.js runtime bootstrap.
//
// Implements the AWS Lambda Runtime API client loop for Node.js 20 / 22 with
// the standard library only. Behaviour follows AWS's official runtime
// (aws-lambda-nodejs-runtime-interface-client): handler loading, the context
// object, callback / async / sync handler styles, callbackWaitsForEmptyEventLoop,
// console patching, error formats and exit codes (129 for uncaught exceptions
// and init errors, 128 for unhandled rejections).
//
// Run as `node bootstrap.mjs` with AWS_LAMBDA_RUNTIME_API, _HANDLER,
// LAMBDA_TASK_ROOT and the usual AWS_LAMBDA_* variables set.
//
// Pre-init mode (_NIMBUS_PREINIT=1): the process is started before any
// function is assigned to it, with generic variables only and an empty task
// root. It loads its modules and evaluates everything up to the first
// statement that reads the function's environment, imports warm.cjs and
// warm.mjs (so the module loader is compiled before the handler needs it),
// POSTs /2018-06-01/nimbus/preinit/ready to the Runtime API (the server then
// knows it is ready to be given a function), then (top-level await) reads
// one line from stdin (a pipe): {"env": {"NAME": "value", ...}} and a
// newline. It sets those variables (they win over what was there), removes
// _NIMBUS_PREINIT, chdirs to LAMBDA_TASK_ROOT (the code was mounted over it
// after the start), lets go of stdin and carries on exactly as a normal start.
// EOF before a full line: exit 0 silently (the server discarded the process);
// a malformed line: a message on stderr and exit 1.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { pathToFileURL } from 'node:url';
import { createRequire, builtinModules } from 'node:module';

const env = process.env;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class MalformedStreamingHandler extends Error {}
class InvalidStreamingOperation extends Error {}
class UnmarshalError extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(safeString(reason));
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  MalformedStreamingHandler,
  InvalidStreamingOperation,
  UnmarshalError,
  NodeJsExit,
  UnhandledPromiseRejection,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function safeString(v) {
  if (v === undefined) return undefined; // Error(undefined) -> empty message
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

function isErrorLike(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// Body posted to /invocation/<id>/error and /init/error (same as AWS).
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return {
      errorType: typeof error,
      errorMessage: error.toString(),
      trace: [],
    };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign(
      { errorType: error.name, errorMessage: error.message, code: error.code },
      error,
    );
    if (typeof error.stack === 'string') ret.stack = error.stack.split('\n');
    return ret;
  }
  return error;
}

// Text used in log lines ("Invoke Error \t{...}"); always starts with a tab.
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// X-Ray error cause, sent as Lambda-Runtime-Function-XRay-Error-Cause.
function xrayCause(err) {
  try {
    const stack = [];
    if (err.stack) {
      const lines = err.stack.replace(/\x7F/g, '%7F').split('\n');
      lines.shift();
      for (const stackLine of lines) {
        let line = stackLine.trim().replace(/\(|\)/g, '');
        line = line.substring(line.indexOf(' ') + 1);
        const label = line.lastIndexOf(' ') >= 0 ? line.slice(0, line.lastIndexOf(' ')) : null;
        let p = label == null || label.length === 0 ? line : line.slice(line.lastIndexOf(' ') + 1);
        p = p.split(':');
        stack.push({ path: p[0], line: parseInt(p[1]), label: label || 'anonymous' });
      }
    }
    return JSON.stringify({
      working_directory: process.cwd(),
      exceptions: [
        {
          type: err.name?.replace(/\x7F/g, '%7F'),
          message: err.message?.replace(/\x7F/g, '%7F'),
          stack,
        },
      ],
      paths: Array.from(new Set(stack.map((e) => e.path))),
    });
  } catch {
    return '';
  }
}

// Header values must be latin1 without control characters; escape anything
// else JSON-style so the request cannot be rejected by node's validator.
function headerSafe(s) {
  return String(s).replace(
    /[\x00-\x08\x0a-\x1f\x7f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

// ---------------------------------------------------------------------------
// Logging (console patch)
// ---------------------------------------------------------------------------

const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID_SYMBOL = Symbol.for('aws.lambda.runtime.tenantId');
const stdout = process.stdout;

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

const NEWLINES = /\n/g;

function logText(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID_SYMBOL]}\t${level.name}\t${util.format(message, ...params)}`;
  stdout.write(line.replace(NEWLINES, '\r') + '\n');
}

function jsonErrorReplacer(_k, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, tenantId, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  if (tenantId != null) result.tenantId = tenantId;
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logJson(level, message, ...params) {
  const line = formatJsonMessage(
    globalThis[REQUEST_ID_SYMBOL],
    new Date().toISOString(),
    level,
    globalThis[TENANT_ID_SYMBOL],
    message,
    ...params,
  );
  stdout.write(line.replace(NEWLINES, '\r') + '\n');
}

// Nothing above reads the function's environment; in pre-init mode it
// arrives here (see the header), before everything below that does.
if (env._NIMBUS_PREINIT === '1') await awaitAssignment();

const jsonLogs = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';

function patchConsole() {
  const log = jsonLogs ? logJson : logText;
  const minLevel = LEVELS[env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const make = (level) =>
    level.priority >= minLevel.priority ? (msg, ...params) => log(level, msg, ...params) : nop;
  console.trace = make(LEVELS.TRACE);
  console.debug = make(LEVELS.DEBUG);
  console.info = make(LEVELS.INFO);
  console.log = console.info;
  console.warn = make(LEVELS.WARN);
  console.error = make(LEVELS.ERROR);
  console.fatal = (msg, ...params) => log(LEVELS.FATAL, msg, ...params);
}

// "Invoke Error", "Uncaught Exception", ... (goes through console.error like AWS)
function logError(msg, err) {
  if (jsonLogs) console.error(intoError(err));
  else console.error(msg, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------
// Runtime API client
// ---------------------------------------------------------------------------

const RUNTIME_API = env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
let apiHost = RUNTIME_API;
let apiPort = 80;
{
  const i = RUNTIME_API.lastIndexOf(':');
  if (i > 0 && !RUNTIME_API.endsWith(']')) {
    apiHost = RUNTIME_API.slice(0, i);
    apiPort = parseInt(RUNTIME_API.slice(i + 1), 10) || 80;
  }
  if (apiHost.startsWith('[') && apiHost.endsWith(']')) apiHost = apiHost.slice(1, -1);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const NEXT_PATH = '/2018-06-01/runtime/invocation/next';
const INVOCATION_PATH = '/2018-06-01/runtime/invocation/';
const INIT_ERROR_PATH = '/2018-06-01/runtime/init/error';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const XRAY_HEADER = 'Lambda-Runtime-Function-XRay-Error-Cause';
const XRAY_MAX = 16 * 1024;

// Fatal so that a broken Runtime API connection ends the process (the
// platform then reports Runtime.ExitError), as AWS's runtime does.
function fatalApiError(err) {
  console.log(`Unexpected Top Level Error: ${err && err.toString()}`);
  process.exit(1);
}

// POST a body; calls done() once the response has been fully read, or the
// request failed. Status codes are not checked (AWS ignores them too).
function post(urlPath, body, headers, onDone, useAgent = agent, retried = false) {
  let called = false;
  const done = () => {
    if (!called) {
      called = true;
      onDone();
    }
  };
  const buf = Buffer.from(body, 'utf8');
  headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = buf.length;
  const req = http.request(
    { host: apiHost, port: apiPort, method: 'POST', path: urlPath, headers, agent: useAgent },
    (res) => {
      res.on('data', noop);
      res.on('end', done);
      res.on('error', done);
    },
  );
  req.on('error', (err) => {
    if (!retried && req.reusedSocket && err.code === 'ECONNRESET') {
      called = true;
      post(urlPath, body, headers, onDone, useAgent, true);
    } else {
      done();
    }
  });
  req.end(buf);
}

function noop() {}

function serialize(result) {
  try {
    // JSON.stringify yields undefined for functions/symbols: send null.
    return JSON.stringify(result === undefined ? null : result) ?? 'null';
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

function postInvocationResponse(bodyString, id, done) {
  post(INVOCATION_PATH + encodeURIComponent(id) + '/response', bodyString, {}, done);
}

function postInvocationError(error, id, done, useAgent = agent) {
  const response = toRapidResponse(error);
  const headers = { [ERROR_TYPE_HEADER]: headerSafe(response.errorType) };
  if (error && typeof error === 'object') {
    const x = xrayCause(error);
    if (x && x.length <= XRAY_MAX) headers[XRAY_HEADER] = headerSafe(x);
  }
  post(
    INVOCATION_PATH + encodeURIComponent(id) + '/error',
    JSON.stringify(response),
    headers,
    done,
    useAgent,
  );
}

function postInitError(error, done) {
  const response = toRapidResponse(error);
  post(
    INIT_ERROR_PATH,
    JSON.stringify(response),
    { [ERROR_TYPE_HEADER]: headerSafe(response.errorType) },
    done,
    false,
  );
}

function nextInvocation(onInvoke, retried = false) {
  const req = http.request(
    { host: apiHost, port: apiPort, method: 'GET', path: NEXT_PATH, agent },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fatalApiError);
      res.on('end', () => {
        const body = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
        if (res.statusCode < 200 || res.statusCode > 299) {
          fatalApiError(new Error(`Failed to get next invocation, status ${res.statusCode}: ${body}`));
          return;
        }
        onInvoke(res.headers, body);
      });
    },
  );
  req.on('error', (err) => {
    if (!retried && req.reusedSocket && err.code === 'ECONNRESET') {
      nextInvocation(onInvoke, true);
    } else {
      fatalApiError(err);
    }
  });
  req.end();
}

// ---------------------------------------------------------------------------
// Process-level listeners
// ---------------------------------------------------------------------------

let fatalInProgress = false;
let errorCallbacks = {
  uncaughtException: (error) => fatalInit(error, 129),
  unhandledRejection: (error) => fatalInit(error, 128),
};

function fatalInit(error, code) {
  if (fatalInProgress) return;
  fatalInProgress = true;
  postInitError(error, () => process.exit(code));
}

function fatalInvoke(error, id, code) {
  if (fatalInProgress) return;
  fatalInProgress = true;
  // Own connection: the shared one may be busy with a pending /next.
  postInvocationError(error, id, () => process.exit(code), false);
}

let beforeExitListener = noop;

// ---------------------------------------------------------------------------
// Handler loading
// ---------------------------------------------------------------------------

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function resolveNested(obj, dotted) {
  return dotted.split('.').reduce((o, k) => o && o[k], obj);
}

function findModuleFile(base) {
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (fs.existsSync(base + ext)) return base + ext;
  }
  return undefined;
}

async function importUserModule(file) {
  try {
    return await import(pathToFileURL(file).href);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e != null && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const slash = fullHandler.lastIndexOf('/');
  const moduleRoot = fullHandler.slice(0, slash + 1);
  const base = fullHandler.slice(slash + 1);
  const lastDot = base.lastIndexOf('.');
  if (lastDot <= 0 || lastDot === base.length - 1) throw new MalformedHandlerName('Bad handler');

  // Primary: split on the last dot ("src/app.handler" -> src/app + handler).
  let moduleName = base.slice(0, lastDot);
  let handlerPath = base.slice(lastDot + 1);
  let file = findModuleFile(path.resolve(appRoot, moduleRoot, moduleName));

  // AWS splits on the first dot and resolves the rest as a nested property
  // ("index.a.b" -> index.js, exports.a.b); try that when the above misses.
  const firstDot = base.indexOf('.');
  if (!file && firstDot !== lastDot && firstDot > 0) {
    const alt = findModuleFile(path.resolve(appRoot, moduleRoot, base.slice(0, firstDot)));
    if (alt) {
      file = alt;
      moduleName = base.slice(0, firstDot);
      handlerPath = base.slice(firstDot + 1);
    }
  }

  // Last resort, like AWS: node-style resolution (node_modules packages).
  if (!file) {
    const awsModule = firstDot > 0 ? base.slice(0, firstDot) : moduleName;
    for (const candidate of firstDot !== lastDot ? [moduleName, awsModule] : [moduleName]) {
      if (builtinModules.includes(candidate) || candidate.startsWith('node:')) continue;
      try {
        const req = createRequire(path.join(appRoot, 'noop.js'));
        const resolved = req.resolve(candidate, {
          paths: [appRoot, path.resolve(appRoot, moduleRoot)],
        });
        if (path.isAbsolute(resolved)) {
          file = resolved;
          moduleName = candidate;
          handlerPath = base.slice(candidate.length + 1);
          break;
        }
      } catch {
        // fall through to ImportModuleError
      }
    }
  }

  if (!file) {
    const notFound = new Error(
      `Cannot find module '${firstDot > 0 ? base.slice(0, firstDot) : moduleName}'\nRequire stack:\n- /var/runtime/index.mjs`,
    );
    notFound.code = 'MODULE_NOT_FOUND';
    throw new ImportModuleError(notFound);
  }

  const mod = await importUserModule(file);
  let fn = resolveNested(mod, handlerPath);
  if (!fn && mod && mod.default != null && (typeof mod.default === 'object' || typeof mod.default === 'function')) {
    fn = resolveNested(mod.default, handlerPath);
  }
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

function isAsyncFunction(fn) {
  try {
    return fn.constructor && fn.constructor.name === 'AsyncFunction';
  } catch {
    return false;
  }
}

function streamingMode(fn) {
  const v = fn[HANDLER_STREAMING];
  if (v === undefined || v === null || v === false) return false;
  if (v === STREAM_RESPONSE) return STREAM_RESPONSE;
  throw new MalformedStreamingHandler('Only response streaming is supported.');
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

// ---------------------------------------------------------------------------
// Invocation context
// ---------------------------------------------------------------------------

const functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
const functionName = env.AWS_LAMBDA_FUNCTION_NAME;
const memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
const logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
const logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;

function parseJsonHeader(value, name) {
  if (value === undefined || value === '') return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// Adds environment and header data to ctx (in AWS's property order), forwards
// the X-Ray trace id. Throws if client context / identity are not JSON.
function attachEnvironmentData(ctx, headers, id) {
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) env._X_AMZN_TRACE_ID = traceId;
  else delete env._X_AMZN_TRACE_ID;

  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  ctx.functionVersion = functionVersion;
  ctx.functionName = functionName;
  ctx.memoryLimitInMB = memoryLimitInMB;
  ctx.logGroupName = logGroupName;
  ctx.logStreamName = logStreamName;
  ctx.clientContext = parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext');
  ctx.identity = parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
  ctx.invokedFunctionArn = headers['lambda-runtime-invoked-function-arn'];
  ctx.awsRequestId = id;
  ctx.tenantId = headers['lambda-runtime-aws-tenant-id'];
  ctx.getRemainingTimeInMillis = function () {
    return deadline - Date.now();
  };
  return ctx;
}

function parseEvent(body) {
  if (body === '') return {};
  try {
    return JSON.parse(body);
  } catch (e) {
    throw new UnmarshalError(`Unable to unmarshal input: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------
// Invocation loop
// ---------------------------------------------------------------------------

let handler;
let handlerIsAsync = false;
let handlerIsCallbackStyle = false;

function scheduleNext() {
  beforeExitListener = noop;
  nextInvocation(onInvoke);
}

function setErrorCallbacks(id) {
  errorCallbacks = {
    uncaughtException: (error) => fatalInvoke(error, id, 129),
    unhandledRejection: (error) => fatalInvoke(error, id, 128),
  };
}

function beginInvocation(headers) {
  const id = headers['lambda-runtime-aws-request-id'];
  if (!id) fatalApiError(new Error('invocation id is missing or invalid'));
  globalThis[REQUEST_ID_SYMBOL] = id;
  globalThis[TENANT_ID_SYMBOL] = headers['lambda-runtime-aws-tenant-id'];
  setErrorCallbacks(id);
  return id;
}

function onInvokeBuffered(headers, body) {
  const id = beginInvocation(headers);

  let waitForEmptyEventLoop = true;
  let finished = false; // any of callback/done/succeed/fail already called
  let completed = false; // a success response was (or is being) posted

  const postError = (err) => {
    logError('Invoke Error', err);
    postInvocationError(err, id, scheduleNext);
  };
  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    let bodyString;
    try {
      bodyString = serialize(result);
    } catch (err) {
      postError(err);
      return;
    }
    postInvocationResponse(bodyString, id, scheduleNext);
  };
  const rawDone = (err, result) => {
    beforeExitListener = noop;
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };
  const rawCallback = (err, result) => {
    beforeExitListener = noop;
    if (err !== undefined && err !== null) postError(err);
    else if (!waitForEmptyEventLoop) complete(result);
    else beforeExitListener = () => setImmediate(() => complete(result));
  };
  const once = (fn) =>
    function () {
      if (!finished) {
        finished = true;
        fn.apply(null, arguments);
      }
    };

  const callback = once(rawCallback);
  const done = once(rawDone);
  const succeed = once((result) => rawDone(null, result));
  const fail = once((err) => (err === undefined || err === null ? rawDone('handled') : rawDone(err, null)));

  const ctx = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };

  // The handler returned without answering and the event loop drained:
  // async handler -> Runtime.NodeJsExit, otherwise a null response.
  beforeExitListener = () => {
    beforeExitListener = noop;
    finished = true;
    completed = true;
    if (handlerIsAsync) {
      const e = new NodeJsExit();
      logError('Invoke Error', e);
      postInvocationError(e, id, scheduleNext);
    } else {
      postInvocationResponse('null', id, scheduleNext);
    }
  };

  try {
    const event = parseEvent(body);
    attachEnvironmentData(ctx, headers, id);
    const result = handler(event, ctx, callback);
    if (isPromise(result)) {
      result.then(succeed, fail).then(undefined, fail);
    } else if (!handlerIsCallbackStyle && result !== undefined) {
      // Synchronous handler returning a value: that value is the result.
      succeed(result);
    }
  } catch (err) {
    callback(err);
  }
}

// ---------------------------------------------------------------------------
// Response streaming (awslambda.streamifyResponse)
// ---------------------------------------------------------------------------

const METADATA_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(METADATA_PRELUDE_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function createResponseStream(id, highWaterMark) {
  let started = false;
  let responseDoneResolve;
  let responseDoneReject;
  const responseDone = new Promise((resolve, reject) => {
    responseDoneResolve = resolve;
    responseDoneReject = reject;
  });
  responseDone.catch(noop);

  const req = http.request(
    {
      host: apiHost,
      port: apiPort,
      method: 'POST',
      path: INVOCATION_PATH + encodeURIComponent(id) + '/response',
      agent,
      highWaterMark,
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
        'Content-Type': 'application/octet-stream',
        'Transfer-Encoding': 'chunked',
      },
    },
    (res) => {
      res.on('data', noop);
      res.on('end', () => responseDoneResolve());
      res.on('error', (err) => responseDoneReject(err));
    },
  );
  req.on('error', (err) => responseDoneReject(err));

  const origWrite = req.write.bind(req);
  const origEnd = req.end.bind(req);
  const beforeFirstWrite = () => {
    if (!started) {
      started = true;
      if (typeof req._onBeforeFirstWrite === 'function') req._onBeforeFirstWrite((ch) => origWrite(ch));
    }
  };
  req.setContentType = (contentType) => {
    if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    req.setHeader('Content-Type', contentType);
  };
  req.write = function (chunk, encoding, cb) {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && chunk?.constructor !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    beforeFirstWrite();
    return origWrite(chunk, encoding, cb);
  };
  req.end = function (chunk, encoding, cb) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (chunk !== undefined && chunk !== null && !req.writableEnded) req.write(chunk, encoding);
    else beforeFirstWrite();
    return origEnd(cb);
  };

  // Expose only the Writable surface, like AWS.
  const stream = {};
  for (const fn of [
    'cork', 'destroy', 'end', 'uncork', 'write',
    'addListener', 'emit', 'eventNames', 'getMaxListeners', 'listenerCount', 'listeners',
    'off', 'on', 'once', 'prependListener', 'prependOnceListener', 'rawListeners',
    'removeAllListeners', 'removeListener', 'setMaxListeners', 'setContentType',
  ]) {
    stream[fn] = req[fn].bind(req);
  }
  for (const prop of ['destroyed', 'writable', '_onBeforeFirstWrite']) {
    Object.defineProperty(stream, prop, {
      get: () => req[prop],
      set: (v) => {
        req[prop] = v;
      },
    });
  }
  for (const prop of [
    'writableFinished', 'writableObjectMode', 'writableBuffer', 'writableEnded',
    'writableNeedDrain', 'writableHighWaterMark', 'writableCorked', 'writableLength',
  ]) {
    Object.defineProperty(stream, prop, { get: () => req[prop] });
  }

  const fail = (err, cb) => {
    logError('Invoke Error', err);
    const error = toRapidResponse(err);
    if (!req.writableEnded) {
      req.addTrailers({
        'Lambda-Runtime-Function-Error-Type': headerSafe(error.errorType),
        'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(error)).toString('base64'),
      });
      origEnd(() => cb());
    } else {
      cb();
    }
  };

  return { stream, responseDone, fail };
}

function onInvokeStreaming(headers, body) {
  const id = beginInvocation(headers);
  let waitForEmptyEventLoop = true;
  let scheduled = false;

  const next = () => {
    if (scheduled) return;
    scheduled = true;
    beforeExitListener = noop;
    if (!waitForEmptyEventLoop) scheduleNext();
    else beforeExitListener = () => setImmediate(scheduleNext);
  };

  const ctx = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
  };

  const { stream, responseDone, fail } = createResponseStream(id, handler[HANDLER_HIGHWATERMARK]);
  const failAndNext = (err) => fail(err, next);

  // Event loop drained without the stream being finished.
  beforeExitListener = () => {
    beforeExitListener = noop;
    if (!stream.writableFinished) failAndNext('Response stream is not finished.');
    else next();
  };

  let handlerResult;
  try {
    const event = parseEvent(body);
    attachEnvironmentData(ctx, headers, id);
    handlerResult = handler(event, stream, ctx);
  } catch (err) {
    failAndNext(err);
    return;
  }
  if (!isPromise(handlerResult)) {
    failAndNext('Streaming does not support non-async handlers.');
    return;
  }
  handlerResult
    .then(async (result) => {
      if (result !== undefined) console.warn('Streaming handlers ignore return values.');
      await responseDone;
      if (!stream.writableFinished) {
        failAndNext('Response stream is not finished.');
        return;
      }
      next();
    })
    .then(undefined, failAndNext);
}

let onInvoke = onInvokeBuffered;

// ---------------------------------------------------------------------------
// Pre-init mode
// ---------------------------------------------------------------------------

function preinitFail(msg) {
  fs.writeSync(2, `[nimbus-runtime] pre-init: ${msg}\n`);
  process.exit(1);
}

// The first line on fd 0 without its newline, or null at EOF before one.
// Reads the descriptor synchronously (nothing else has to run meanwhile); a
// non-blocking one (nimbus passes a blocking pipe) is polled every 1 ms.
function readAssignmentLine() {
  const buf = Buffer.allocUnsafe(65536);
  const chunks = [];
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if (err.code === 'EINTR') continue;
      if (err.code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      throw err;
    }
    if (n === 0) return null;
    const i = buf.subarray(0, n).indexOf(10);
    if (i >= 0) {
      chunks.push(Buffer.from(buf.subarray(0, i)));
      return Buffer.concat(chunks).toString('utf8');
    }
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

function parseAssignment(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    throw new Error(`the assignment line is not JSON: ${err.message}`);
  }
  const vars = msg !== null && typeof msg === 'object' && !Array.isArray(msg) ? msg.env : undefined;
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
    throw new Error('the assignment line is not a JSON object with an "env" object');
  }
  const entries = Object.entries(vars);
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw new Error(`variable ${JSON.stringify(name)}: the value is not a string`);
    if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
      throw new Error(`variable ${JSON.stringify(name)}: invalid name or value`);
    }
  }
  return entries;
}

// Pre-init mode: blocks until the function's environment arrives on stdin,
// then makes the process look as if it had been started with it.
async function awaitAssignment() {
  // Compile the module loader's CommonJS and ES module paths on modules of
  // the runtime's own (warm.cjs, warm.mjs next to this file).
  for (const name of ['warm.cjs', 'warm.mjs']) {
    try {
      await import(new URL(name, import.meta.url).href);
    } catch {
      // only an optimisation
    }
  }
  // Tell the server this process is ready to be given a function; the
  // request also runs the HTTP client's code, with a keep-alive agent like
  // the one that asks for invocations, once before the first /next.
  const warmAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await new Promise((resolve) => {
    const [host, port] = (env.AWS_LAMBDA_RUNTIME_API || '').split(':');
    const req = http.request({ host, port, agent: warmAgent, method: 'POST', path: '/2018-06-01/nimbus/preinit/ready' }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', resolve);
    });
    req.on('error', resolve); // only an optimisation: the server may take it before it is ready
    req.end();
  });
  warmAgent.destroy();
  let line;
  try {
    line = readAssignmentLine();
  } catch (err) {
    preinitFail(`cannot read stdin: ${err.message}`);
  }
  if (line === null) process.exit(0);
  let entries;
  try {
    entries = parseAssignment(line);
  } catch (err) {
    preinitFail(err.message);
  }
  for (const [name, value] of entries) env[name] = value;
  delete env._NIMBUS_PREINIT;
  try {
    // The task root was mounted over after the start: the old cwd is stale.
    process.chdir(env.LAMBDA_TASK_ROOT || process.cwd());
  } catch (err) {
    preinitFail(err.message);
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

patchConsole();

process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  errorCallbacks.uncaughtException(error);
});
process.on('unhandledRejection', (reason, promise) => {
  const error = new UnhandledPromiseRejection(reason, promise);
  logError('Unhandled Promise Rejection', error);
  errorCallbacks.unhandledRejection(error);
});
process.on('beforeExit', () => beforeExitListener());

if (env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA !== '1' && env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA !== 'true') {
  globalThis.awslambda = {
    streamifyResponse: (fn, options) => {
      fn[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        fn[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
      }
      return fn;
    },
    HttpResponseStream,
  };
}

try {
  const appRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  handler = await loadHandler(appRoot, env._HANDLER || '');
  handlerIsAsync = isAsyncFunction(handler);
  handlerIsCallbackStyle = handler.length >= 3;
  if (streamingMode(handler) === STREAM_RESPONSE) {
    onInvoke = onInvokeStreaming;
  } else if (
    env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined &&
    handler.length === 3 &&
    !handlerIsAsync
  ) {
    console.warn(
      'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or later. For more information and to provide feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.',
    );
  }
} catch (err) {
  // AWS surfaces init failures through its uncaughtException listener.
  logError('Uncaught Exception', err);
  fatalInit(err, 129);
}

if (handler && !fatalInProgress) scheduleNext();
