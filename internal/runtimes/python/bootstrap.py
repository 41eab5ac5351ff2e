"""nimbus Python runtime bootstrap.

An AWS Lambda Runtime API client for Python 3.11 / 3.12 that uses only the
standard library. Its behaviour follows AWS's official Python runtime
interface client (awslambdaric): handler loading and init errors, the
LambdaContext object, error payloads, stdout error records and the root
logging handler.

nimbus runs it as ``python3.X -S -u bootstrap.py`` with the working directory set
to the function's code directory and with the usual Lambda environment
(AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_*,
AWS_LAMBDA_LOG_*, AWS_REGION, ...).

Pre-init mode (``_NIMBUS_PREINIT=1``): the process is started before any
function is assigned to it, with generic variables only and an empty task
root. It imports its modules, POSTs /2018-06-01/nimbus/preinit/ready to the
Runtime API (the server then knows it is ready to be given a function), then
blocks reading one line from stdin (a pipe): ``{"env": {"NAME": "value", ...}}`` and a newline. It sets those
variables (they win over what was there), removes ``_NIMBUS_PREINIT``, chdirs
to LAMBDA_TASK_ROOT (the code was mounted over it after the start), puts
/dev/null on fd 0, redoes the little import-time work that reads the
environment (the JSON encoder) and then starts exactly as a normal start does.
Variables read only when the interpreter starts (TZ, LANG, PYTHON*...) are not
re-applied: nimbus starts functions that set them in a process of their own.
EOF before a full line: exit 0 silently (the server discarded the process); a
malformed line: a message on stderr and exit 1.
"""

import decimal
import http.client
import importlib
import json
import logging
import math
import os
import socket
import sys
import time
import traceback

_THIS_FILE = __file__

_API_PREFIX = "/2018-06-01/runtime"
_NEXT_PATH = _API_PREFIX + "/invocation/next"
_INIT_ERROR_PATH = _API_PREFIX + "/init/error"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_USER_AGENT = "aws-lambda-python/%d.%d.%d-nimbus" % sys.version_info[:3]

ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE, as awslambdaric indents traces

_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_LAMBDA_WARNING_MESSAGE = (
    "LAMBDA_WARNING: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return "<unprintable %s object>" % type(value).__name__


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _is_bootstrap_frame(filename):
    return filename == _THIS_FILE or "/bootstrap.py" in filename


def _user_frames(tb):
    """(filename, lineno, name, line) tuples, leading bootstrap frames removed.

    Plain tuples (as awslambdaric uses) carry no column info, so
    traceback.format_list renders them without '^^^^' marker lines.
    """
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if not _is_bootstrap_frame(frame[0]):
            return frames[i:]
    return frames


def build_fault_result(exc_info, invoke_id=None):
    etype, value, tb = exc_info
    return make_error(
        _safe_str(value),
        etype.__name__,
        traceback.format_list(_user_frames(tb)),
        invoke_id,
    )


# --------------------------------------------------------------------------
# JSON (de)serialisation
# --------------------------------------------------------------------------


class Encoder(json.JSONEncoder):
    """JSON encoder for responses and error payloads.

    awslambdaric uses simplejson; the stdlib cannot emit a Decimal verbatim,
    so Decimals become int (when integral) or float.
    """

    def __init__(self):
        # As awslambdaric: the python3.12 runtime emits raw UTF-8
        # (ensure_ascii=False); python3.11 escapes non-ASCII characters. The
        # runtime is read from AWS_EXECUTION_ENV (so python3.12 functions run
        # on a 3.11 interpreter still behave as 3.12), else the interpreter.
        execution_env = os.environ.get("AWS_EXECUTION_ENV")
        if execution_env:
            ensure_ascii = execution_env != "AWS_Lambda_python3.12"
        else:
            ensure_ascii = sys.version_info < (3, 12)
        super().__init__(ensure_ascii=ensure_ascii, allow_nan=True)

    def default(self, obj):
        if isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return math.nan
            if obj.is_finite() and obj == obj.to_integral_value():
                return int(obj)
            return float(obj)
        return super().default(obj)


def _init_encoder():
    # Depends on AWS_EXECUTION_ENV: rebuilt once a pre-init assignment arrives.
    global _ENCODER, _encode
    _ENCODER = Encoder()
    _encode = _ENCODER.encode


_init_encoder()


def to_json(obj):
    return _encode(obj)


def unmarshal_request(body):
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR,
            "Unable to unmarshal input: {}".format(_safe_str(e)),
            None,
        )


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return _encode(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR,
            "Unable to marshal response: {}".format(_safe_str(e)),
            None,
        )


# --------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------


class LambdaContext(object):
    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(
                Client, self.client_context.client
            )

        self.identity = make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get(
                "cognitoIdentityId"
            )
            self.identity.cognito_identity_pool_id = cognito_identity.get(
                "cognitoIdentityPoolId"
            )

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        epoch_now_in_ms = int(time.time() * 1000)
        delta_ms = self._epoch_deadline_time_in_ms - epoch_now_in_ms
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"custom={self.custom},"
            f"env={self.env},"
            f"client={self.client}"
            "])"
        )


def make_obj_from_dict(_class, _dict):
    if _dict is None:
        return None
    obj = _class()
    for field in _class.__slots__:
        setattr(obj, field, _dict.get(field, None))
    return obj


def _parse_json_header(header, name):
    try:
        value = json.loads(header)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, _safe_str(e)),
            None,
        )


def create_lambda_context(
    client_context_json,
    cognito_identity_json,
    epoch_deadline_time_in_ms,
    invoke_id,
    invoked_function_arn,
    tenant_id,
):
    client_context = None
    if client_context_json:
        client_context = _parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = _parse_json_header(cognito_identity_json, "Cognito Identity")
    return LambdaContext(
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn,
        tenant_id,
    )


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------


class Unbuffered(object):
    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None

# Filled in by _setup_logging.
_LOG_FORMAT_JSON = False
_ERROR_INDENT = ERROR_LOG_IDENT


def _get_log_level_from_env_var(log_level):
    return {None: "", "TRACE": "DEBUG"}.get(log_level, log_level).upper()


def _one_line(msg):
    """A log record as exactly one line: inner newlines become '\\r'."""
    if msg.endswith("\n"):
        msg = msg[:-1]
    return msg.replace("\n", ERROR_LOG_LINE_TERMINATE) + "\n"


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        try:
            msg = self.format(record)
            sys.stdout.write(_one_line(msg))
        except Exception:
            self.handleError(record)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        record.tenant_id = _GLOBAL_TENANT_ID
        return True


_RESERVED_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
    "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
    "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "taskName", "aws_request_id", "tenant_id",
    "_frame_type",
}


def _format_log_level(record):
    return min(50, max(0, record.levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    """AWS_LAMBDA_LOG_FORMAT=JSON record format (as awslambdaric)."""

    _encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def __init__(self):
        super().__init__(datefmt=_DATETIME_FORMAT)

    def formatTime(self, record, datefmt=None):
        ct = time.gmtime(record.created)
        return "%s.%03dZ" % (time.strftime(_DATETIME_FORMAT, ct), int(record.msecs))

    def format(self, record):
        record.levelno = _format_log_level(record)
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info else None,
            "errorMessage": _safe_str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": (
                f"{record.pathname}:{record.funcName}:{record.lineno}"
                if exc_info
                else None
            ),
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        result.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _RESERVED_FIELDS and key not in result
        )
        result = {k: v for k, v in result.items() if v is not None}
        return self._encode_json(result) + "\n"


def _setup_logging():
    global _LOG_FORMAT_JSON, _ERROR_INDENT

    log_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT")
    _LOG_FORMAT_JSON = bool(log_format) and log_format.upper() == "JSON"
    log_level = _get_log_level_from_env_var(os.environ.get("AWS_LAMBDA_LOG_LEVEL"))

    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    _ERROR_INDENT = ERROR_LOG_IDENT if encoding in ("utf8", "utf_8") else " "

    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler()
    if _LOG_FORMAT_JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                _DATETIME_FORMAT,
            )
        )
    if log_level in logging._nameToLevel:
        logger.setLevel(log_level)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


def _replace_line_indentation(line, indent_char, new_indent_char):
    count = 0
    for c in line:
        if c != indent_char:
            break
        count += 1
    return (new_indent_char * count) + line[count:]


def log_error(error_result):
    """Write the AWS-style '[ERROR] Type: message' record as one stdout line."""
    if _LOG_FORMAT_JSON:
        record = {
            "timestamp": time.strftime(_DATETIME_FORMAT, time.gmtime()),
            "level": "ERROR",
        }
        record.update(error_result)
        sys.stdout.write(to_json(record) + "\n")
        return

    error_description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        error_description += " " + error_type
    error_message = error_result.get("errorMessage")
    if error_message:
        if error_type:
            error_description += ":"
        error_description += " " + error_message

    lines = [error_description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for line in element.splitlines():
                    lines.append(_replace_line_indentation(line, " ", _ERROR_INDENT))

    # Newlines inside the message itself must not split the record either.
    record = ERROR_LOG_LINE_TERMINATE.join(lines).replace("\n", ERROR_LOG_LINE_TERMINATE)
    try:
        sys.stdout.write(record + "\n")
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        sys.stdout.write(record.encode(encoding, "backslashreplace").decode(encoding) + "\n")


# --------------------------------------------------------------------------
# Runtime API client
# --------------------------------------------------------------------------


class RuntimeAPIError(Exception):
    pass


class _Connection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass


def _header_value(value):
    # Header values are sent as UTF-8 bytes (http.client would use latin-1).
    return value.replace("\r", " ").replace("\n", " ").encode("utf-8")


class LambdaRuntimeClient(object):
    def __init__(self, address):
        self.address = address
        self.conn = _Connection(address)  # no timeout: /next long-polls

    def _request(self, method, path, body=None, headers=None):
        hdrs = {"User-Agent": _USER_AGENT}
        if headers:
            hdrs.update(headers)
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp, data
            except (OSError, http.client.HTTPException):
                # Typically a keep-alive connection closed by the server while
                # idle (e.g. during a long handler). The request was not
                # processed, so retry once on a fresh connection.
                self.conn.close()
                if attempt:
                    raise

    def wait_next_invocation(self):
        resp, body = self._request("GET", _NEXT_PATH)
        if resp.status != 200:
            raise RuntimeAPIError(
                "Failed to get next invocation: HTTP %d: %r" % (resp.status, body[:1024])
            )
        return resp, body

    def _post(self, path, body, headers):
        resp, data = self._request("POST", path, body, headers)
        if resp.status != 202:
            sys.stderr.write(
                "[nimbus-runtime] POST %s returned HTTP %d: %s\n"
                % (path, resp.status, data[:1024].decode("utf-8", "replace").strip())
            )
        return resp.status

    def post_invocation_result(self, invoke_id, result, content_type):
        return self._post(
            "%s/invocation/%s/response" % (_API_PREFIX, invoke_id),
            result,
            {"Content-Type": content_type},
        )

    def post_invocation_error(self, invoke_id, error_result):
        return self._post(
            "%s/invocation/%s/error" % (_API_PREFIX, invoke_id),
            to_json(error_result).encode("utf-8"),
            {
                "Content-Type": "application/json",
                _ERROR_TYPE_HEADER: _header_value(error_result["errorType"]),
            },
        )

    def post_init_error(self, error_result):
        return self._post(
            _INIT_ERROR_PATH,
            to_json(error_result).encode("utf-8"),
            {
                "Content-Type": "application/json",
                _ERROR_TYPE_HEADER: _header_value(error_result["errorType"]),
            },
        )


# --------------------------------------------------------------------------
# Handler loading
# --------------------------------------------------------------------------


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            FaultException.MALFORMED_HANDLER_NAME,
            "Bad handler '{}': {}".format(handler, str(e)),
        )

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR,
            "Unable to import module '{}': {}".format(modname, _safe_str(e)),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, _safe_str(e)),
            trace,
        )

    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )


def _setup_sys_path(task_root):
    # Running as a script put this file's directory at sys.path[0]; user code
    # must not resolve imports against the runtime's directory.
    script_dirs = {
        os.path.dirname(os.path.abspath(_THIS_FILE)),
        os.path.dirname(os.path.realpath(_THIS_FILE)),
    }
    if sys.path and sys.path[0] in script_dirs and sys.path[0] != task_root:
        del sys.path[0]
    if task_root:
        sys.path.insert(0, task_root)
    # The interpreter runs with -S: the site module's start-up work (.pth files,
    # which on many hosts import packages such as certifi on every start) is
    # skipped, as it is in Lambda's images. The interpreter's site-packages
    # directories stay importable, after the function's own code.
    import site

    for d in site.getsitepackages():
        if d not in sys.path and os.path.isdir(d):
            sys.path.append(d)


# --------------------------------------------------------------------------
# Main loop
# --------------------------------------------------------------------------


def handle_event_request(client, request_handler, resp, event_body):
    getheader = resp.getheader
    invoke_id = getheader("Lambda-Runtime-Aws-Request-Id") or ""
    error_result = None
    try:
        try:
            deadline_ms = int(getheader("Lambda-Runtime-Deadline-Ms") or 0)
        except ValueError:
            deadline_ms = 0
        lambda_context = create_lambda_context(
            getheader("Lambda-Runtime-Client-Context"),
            getheader("Lambda-Runtime-Cognito-Identity"),
            deadline_ms,
            invoke_id,
            getheader("Lambda-Runtime-Invoked-Function-Arn"),
            _GLOBAL_TENANT_ID,
        )
        event = unmarshal_request(event_body)
        response = request_handler(event, lambda_context)
        result, content_type = marshal_response(response)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        error_result = build_fault_result(sys.exc_info(), invoke_id)

    if error_result is not None:
        try:
            log_error(error_result)
        except Exception:
            pass
        client.post_invocation_error(invoke_id, error_result)
    else:
        client.post_invocation_result(invoke_id, result, content_type)


def run():
    global _GLOBAL_AWS_REQUEST_ID, _GLOBAL_TENANT_ID

    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)

    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("[nimbus-runtime] AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)
    client = LambdaRuntimeClient(address)

    handler_name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()

    try:
        _setup_logging()
        _setup_sys_path(task_root)
        request_handler = _get_handler(handler_name)
    except Exception as e:
        if isinstance(e, FaultException):
            error_result = make_error(e.msg, e.exception_type, e.trace)
        else:
            error_result = build_fault_result(sys.exc_info())
        try:
            logging.warning(_LAMBDA_WARNING_MESSAGE)
            log_error(error_result)
        except Exception:
            pass
        try:
            client.post_init_error(error_result)
        except Exception as post_exc:
            sys.stderr.write(
                "[nimbus-runtime] failed to report init error: %s\n" % _safe_str(post_exc)
            )
        sys.exit(1)

    environ = os.environ
    while True:
        try:
            resp, body = client.wait_next_invocation()
        except Exception as e:
            sys.stderr.write("[nimbus-runtime] %s\n" % _safe_str(e))
            sys.exit(1)

        getheader = resp.getheader
        _GLOBAL_AWS_REQUEST_ID = getheader("Lambda-Runtime-Aws-Request-Id")
        _GLOBAL_TENANT_ID = getheader("Lambda-Runtime-Aws-Tenant-Id")

        trace_id = getheader("Lambda-Runtime-Trace-Id")
        if trace_id is not None:
            environ["_X_AMZN_TRACE_ID"] = trace_id
        elif "_X_AMZN_TRACE_ID" in environ:
            del environ["_X_AMZN_TRACE_ID"]

        try:
            handle_event_request(client, request_handler, resp, body)
        except (OSError, http.client.HTTPException) as e:
            sys.stderr.write(
                "[nimbus-runtime] failed to report invocation result: %s\n" % _safe_str(e)
            )
            sys.exit(1)


# --------------------------------------------------------------------------
# Pre-init mode
# --------------------------------------------------------------------------

_PREINIT_VAR = "_NIMBUS_PREINIT"


def _preinit_fail(msg):
    sys.stderr.write("[nimbus-runtime] pre-init: %s\n" % msg)
    sys.stderr.flush()
    sys.exit(1)


def _read_assignment_line():
    """The first line on fd 0 without its newline, or None at EOF before one.

    Reads the file descriptor directly (no buffering past the line through
    sys.stdin); waits with select if the descriptor is non-blocking.
    """
    chunks = []
    while True:
        try:
            data = os.read(0, 65536)
        except BlockingIOError:
            import select

            select.select([0], [], [])
            continue
        if not data:
            return None
        i = data.find(b"\n")
        if i >= 0:
            chunks.append(data[:i])
            return b"".join(chunks)
        chunks.append(data)


def _parse_assignment(line):
    try:
        msg = json.loads(line)
    except ValueError as e:
        raise ValueError("the assignment line is not JSON: %s" % _safe_str(e))
    env = msg.get("env") if isinstance(msg, dict) else None
    if not isinstance(env, dict):
        raise ValueError('the assignment line is not a JSON object with an "env" object')
    for name, value in env.items():
        if not isinstance(value, str):
            raise ValueError("variable %r: the value is not a string" % name)
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise ValueError("variable %r: invalid name or value" % name)
    return env


def _stdin_to_devnull():
    """Puts /dev/null on fd 0. sys.stdin reads fd 0 and has read nothing (the
    line was read with os.read), so it now reads /dev/null as it is."""
    fd = os.open(os.devnull, os.O_RDONLY)
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)


def await_assignment():
    """Pre-init mode: block until the function's environment arrives on
    stdin, then make the process look as if it had been started with it."""
    # Generic work done ahead: modules otherwise first imported on the way to
    # the first /next (_setup_sys_path; the host's "idna" encoding that
    # socket.getaddrinfo uses on the first connect).
    import encodings.idna  # noqa: F401
    import site  # noqa: F401  (with -S, importing it runs nothing)

    # Tell the server this process is ready to be given a function; the
    # request also runs the HTTP client's code once before the first /next.
    try:
        conn = http.client.HTTPConnection(os.environ.get("AWS_LAMBDA_RUNTIME_API", ""), timeout=5)
        conn.request("POST", "/2018-06-01/nimbus/preinit/ready", body=b"")
        conn.getresponse().read()
        conn.close()
    except Exception:
        pass  # only an optimisation: the server may take it before it is ready

    try:
        line = _read_assignment_line()
    except OSError as e:
        _preinit_fail("cannot read stdin: %s" % _safe_str(e))
    if line is None:
        sys.exit(0)
    try:
        env = _parse_assignment(line)
    except ValueError as e:
        _preinit_fail(_safe_str(e))

    environ = os.environ
    for name, value in env.items():
        environ[name] = value
    environ.pop(_PREINIT_VAR, None)
    try:
        # The task root was mounted over after the start: the old cwd is stale.
        os.chdir(environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
        _stdin_to_devnull()
    except OSError as e:
        _preinit_fail(_safe_str(e))
    importlib.invalidate_caches()
    _init_encoder()


if __name__ == "__main__":
    if os.environ.get(_PREINIT_VAR) == "1":
        await_assignment()
    run()
