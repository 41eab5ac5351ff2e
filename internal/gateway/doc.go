// Package gateway is the HTTP gateway: user routes declared by deployed APIs,
// turned into API Gateway proxy events, invoked through the one invocation
// front door (an Invoker, in production invoke.Service), and answered the way
// Amazon API Gateway answers them.
//
// # Configuration
//
// An API (id, protocol, stage, routes → Lambda integrations, CORS) is plain
// data with JSON tags, so it can be persisted as it is. Gateway.SetAPIs
// validates a whole set and swaps it in atomically (copy on write); requests
// read the current snapshot without locks, so a request is routed entirely by
// one snapshot. An invalid set is refused as a whole and the old one stays.
//
// # Addressing several APIs
//
// The gateway listens on one address and serves every API two ways:
//
//   - By host, exactly like AWS: http://<api-id>.execute-api.<anything>[:port]/[<stage>/]<path>.
//     The stage segment is present unless the API's stage is $default (the
//     default for HTTP APIs); a wrong stage is an unknown route. Names under
//     .localhost resolve to loopback in curl and browsers, so
//     http://abc123.execute-api.localhost:8080/Prod/hello works as is;
//     otherwise send the Host header (curl -H 'Host: abc123.execute-api.localhost').
//   - By plain address (any other Host, e.g. http://127.0.0.1:8080/hello):
//     the routes of all APIs are served together at the root with no stage
//     segment, like `sam local start-api`. Where two APIs declare the same
//     route, the API given first to SetAPIs wins (the conflict is logged);
//     unmatched requests go to the first API with a $default route.
//
// rawPath and requestContext.http.path are the path as requested (with the
// stage segment when addressed by host with a named stage, as on AWS); the 1.0
// `path` never has the stage, requestContext.path does. domainName is the Host
// header as received, port included, so URLs built from it work.
//
// # Routing
//
// Route keys are "METHOD /path" (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS,
// or ANY) or "$default" (HTTP APIs only). A path segment is a literal, a
// parameter {name}, or, as the last segment, a greedy parameter {name+} that
// matches one or more segments. The most specific path wins, compared segment
// by segment from the left: a literal beats a parameter, which beats a greedy
// parameter. For the same path, a route for the request's method beats ANY.
// $default is used only when nothing else matches. Literal segments match the
// percent-decoded path segment, case-sensitively; parameter values are decoded.
//
// # Events (payload format versions)
//
// HTTP APIs send payload format 2.0 unless the integration asks for "1.0";
// REST APIs always send 1.0. Differences from AWS that a function can observe:
// accountId is Config.AccountID ("000000000000"); 1.0 header names arrive in
// Go's canonical form (Content-Type, X-Custom-Header) because net/http does
// not keep the client's spelling (2.0 lower-cases them anyway); there is no
// requestContext.authentication (no mutual TLS). Request bodies are base64
// encoded (isBase64Encoded true) for HTTP APIs unless the content type is
// text/*, application/json, application/javascript, application/xml or a
// +json/+xml type; for REST APIs when the content type matches one of the
// API's BinaryMediaTypes.
//
// # Responses
//
// 2.0: a JSON object with a statusCode is a structured response (statusCode,
// headers, cookies → one Set-Cookie each, body, isBase64Encoded); any other
// valid JSON is inferred as 200, content-type application/json, with the JSON
// itself as the body (a returned string keeps its quotes). 1.0: statusCode is
// required; headers and multiValueHeaders are merged (multiValueHeaders wins
// for the same name). Without a content-type header the answer is
// application/json. Structured responses must have an integer statusCode
// 100–599, string header values (numbers and booleans are accepted and
// printed), and a string body; anything else is malformed.
//
// # Errors (what API Gateway answers; never internal detail)
//
//	case                                     HTTP API                                    REST API
//	no route (or wrong stage)                404 {"message":"Not Found"}                 403 {"message":"Missing Authentication Token"}
//	function error, malformed response       500 {"message":"Internal Server Error"}     502 {"message":"Internal server error"}
//	integration misconfigured (no function)  500 {"message":"Internal Server Error"}     500 {"message":"Internal server error"}
//	throttled (invoke answered 429)          429 {"message":"Too Many Requests"}         429 {"message":"Too Many Requests"}
//	integration timeout (30 s / 29 s)        503 {"message":"Service Unavailable"}       504 {"message":"Endpoint request timed out"}
//	body over 10 MB, or event over 6 MB      413 {"message":"Request Entity Too Large"}  413 {"message":"Request Too Long"}
//	JWT authorizer: no or invalid token      401 {"message":"Unauthorized"}              -
//	JWT authorizer: none of the scopes       403 {"message":"Forbidden"}                 -
//	Lambda authorizer: identity missing      401 {"message":"Unauthorized"}              -
//	Lambda authorizer: denied                403 {"message":"Forbidden"}                 -
//	Lambda authorizer: error or bad answer   500 {"message":"Internal Server Error"}     -
//	route or stage rate exceeded             429 {"message":"Too Many Requests"}         429 {"message":"Too Many Requests"}
//	API key missing or unknown               -                                           403 {"message":"Forbidden"}
//	API key's usage plan rate exceeded       -                                           429 {"message":"Too Many Requests"}
//	service integration: service error       the service's status, {"__type","message"}  -
//	service integration: service not run     500 {"message":"<type> is not available…"}  -
//
// Every answer carries the request id: apigw-requestid (HTTP API) or
// x-amzn-RequestId and x-amz-apigw-id (REST). The reason for a gateway error
// is in the access log, not in the response.
//
// # CORS
//
// An API with a CORS configuration (AllowOrigins non-empty) has preflight
// requests (OPTIONS with Origin and Access-Control-Request-Method) answered by
// the gateway with 204 and no invocation, whatever the routes; CORS headers
// are sent only when the origin and the requested method are allowed. Other
// requests with an allowed Origin get Access-Control-Allow-Origin (and
// -Credentials, -Expose-Headers) added to the answer, replacing any
// Access-Control-* headers the function set, as HTTP APIs do.
//
// # JWT authorizers
//
// A route of an HTTP API may name a JWT authorizer (issuer, audiences, an
// inline JWKS or one fetched from a URL, an identity source). As on AWS: the token (a "Bearer " prefix
// is removed) must be a JWS signed by a key of the set (matched by kid;
// RS256/384/512 and, beyond AWS's RSA-only support, ES256/384; never none or
// HMAC); iss must equal the issuer; aud, or else client_id, must be one of
// the audiences; exp must be in the future; nbf and iat, when present, in the
// past; and when the route lists scopes, the token's scope (or scp) claim must
// hold at least one. Refusals are 401 (with WWW-Authenticate: Bearer
// error="invalid_token" and a description) or 403 (error="insufficient_scope").
// The claims reach the function as requestContext.authorizer.jwt {claims,
// scopes} (2.0) or requestContext.authorizer {claims, scopes} (1.0), claim
// values flattened to strings (numbers as JSON text, arrays as "[a b]").
// Verified tokens are remembered per authorizer (bounded); claims are
// checked on every request. Preflight requests are never authorized.
//
// # Service integrations, Lambda authorizers, JWKS URLs, throttling
//
// A route's integration may be an AWS service action instead of a function
// (SQS-SendMessage, SNS-Publish, StepFunctions-StartExecution,
// StepFunctions-StartSyncExecution) with request parameters mapped from the
// request (integration.go, mapping.go); an HTTP API route may name a Lambda
// authorizer (type REQUEST, lambdaauth.go); a JWT authorizer may fetch its
// keys from a URL (jwks.go); routes are throttled by token buckets and REST
// routes may require API keys (throttle.go). Each file's comment is the
// contract.
//
// # Function URLs
//
// With SetFunctionURLs the gateway also serves Lambda function URLs
// (funcurl.go), addressed two ways on the same listener:
//
//   - By host, exactly like AWS: http://<url-id>.lambda-url.<anything>[:port]/<path>,
//     e.g. curl http://<url-id>.lambda-url.localhost:8080/hello (names under
//     .localhost resolve to loopback). The url-id is 32 lower-case letters and
//     digits (lambda.FunctionURLID of the function name and qualifier).
//   - By path on any other host: http://127.0.0.1:8080/lambda-url/<url-id>/<path>;
//     the function sees /<path>.
//
// The event is payload 2.0 as Lambda sends it for function URLs: routeKey
// and stage "$default", no stage segment, apiId and domainPrefix the url-id,
// domainName the Host as received, accountId "anonymous" for AuthType NONE,
// no pathParameters or stageVariables. CORS comes from the URL's config.
// AuthType AWS_IAM requires a request SigV4-signed with one of the server's
// access keys (RequestVerifier); a server without access keys refuses every
// AWS_IAM request. Answers of its own: unknown url-id 404 {"Message":null};
// AWS_IAM refused 403 {"Message":"Forbidden"}; function error or malformed
// response 502; throttled 429 {"Message":"Rate Exceeded."}. There is no
// integration timeout (the function's own timeout ends it). InvokeMode
// RESPONSE_STREAM streams through the Invoker's InvokeStream when it has one
// (StreamInvoker): a response of content type
// application/vnd.awslambda.http-integration-response starts with a prelude
// (status, headers, cookies; ParseStreamingPrelude), any other content type is
// sent as it comes with status 200; bytes are flushed to the client as they
// arrive. Once the status is sent a later failure can only end the body.
//
// # Observability
//
// One access log line per request at level Info (message "gateway", keys api,
// route, method, path, status, latency, request_id, source_ip, protocol,
// response_length, integration_latency once the integration ran,
// lambda_request_id once invoked, and error for gateway-made errors; status
// 499 when the client left before the answer; function URLs log api
// "lambda-url"), and per-route counters by status class, a latency histogram,
// integration and Lambda authorizer latency summaries and a throttle counter,
// written in the Prometheus text format by WriteMetrics.
//
// # Concurrency
//
// A Gateway is safe for concurrent use. Writers (SetAPIs, PutAPI, DeleteAPI)
// are serialised by a mutex and never block readers. Each request's
// invocation runs on a goroutine owned by the Gateway, so that the gateway can
// answer an integration timeout while the function keeps running (as Lambda
// does); it ends when the Invoker returns. Wait blocks until all have ended.
package gateway
