import Spool

/// The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`.
///
/// Hand-written to match the routes in `APIRoutes`, with every limit the server enforces
/// stated as JSON Schema (lengths, patterns, ranges, closed objects, nullability), taken from
/// the constants the server checks against. `OpenAPITests` sends real requests to every route
/// and checks each answer's status and fields against this document, and that the limits are
/// stated; `scripts/test` runs Schemathesis against `spool serve` with it, so the two cannot
/// drift apart unnoticed.
///
/// The text is split by concern: the paths here, the reusable parameters and responses in
/// `OpenAPIDocument+Components.swift`, the schemas in `OpenAPIDocument+Schemas.swift`.
enum OpenAPIDocument {
    /// The document, as JSON text (served as it is).
    static let json: String = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Spool",
            "version": "1.0.0",
            "description": "Spool's job server. Field names are snake_case; times are RFC 3339 (written in UTC with milliseconds). With SPOOL_ADMIN_TOKEN or SPOOL_READ_TOKEN configured, send `Authorization: Bearer TOKEN`: reads (GET) take either token, writes only the admin token; with neither configured every request is allowed, on loopback only. Request bodies must be JSON (`Content-Type: application/json`); an object must not name a member twice. Unknown members are refused and `null` is refused wherever a schema does not allow it (leave a member out for its default). Integers may be written with a zero fraction (`5.0` is 5). Names (kind, queue, unique key, worker) are 1 to 255 Unicode code points without control characters, stored in Unicode NFC. Errors are application/problem+json (RFC 9457); a 400 names the bad member in `field` (a path such as `jobs[2].priority`) or the bad parameter in `parameter`."
          },
          "servers": [{"url": "http://127.0.0.1:8080"}],
          "security": [{"bearer": []}, {}],
          "paths": {
        """# + jobPaths + "," + batchPaths + "," + queuePaths + "," + workerPaths + "," + operationPaths + """

              },
              "components": {
            """ + components + "," + schemas + """

              }
            }

            """

    /// The length limit and pattern of a name (kind, queue, unique key, worker), as a schema's
    /// members: `JobInput.name` counts code points and refuses U+0000–U+001F and U+007F–U+009F.
    static let nameRules =
        #""type": "string", "minLength": 1, "maxLength": \#(JobInput.maximumNameLength), "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$""#

    /// The pattern of a job id: 26 Crockford base-32 digits (any case; `I`, `L` read as 1 and
    /// `O` as 0), the first at most 7 (128 bits).
    static let idPattern = "^[0-7IiLlOo][0-9A-TV-Za-tv-z]{25}$"

    /// The pattern of a run-at time (with `format: date-time`): RFC 3339 with a written year
    /// from 1970 to 9999, and on the edge days (1970-01-01, 9999-12-31) no offset that could
    /// carry it out of range (see `EnqueueRequest.runAt(_:field:)`). JSON-escaped.
    static let runAtPattern =
        #"^(?!1970-01-01[Tt][0-9:.]*\\+(?!00:00))(?!9999-12-31[Tt][0-9:.]*-(?!00:00))(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"#

    /// The pattern of the `state` filter: empty, or states separated by commas.
    static let statesPattern: String = {
        let state = "(" + JobState.allCases.map(\.rawValue).joined(separator: "|") + ")"
        return "^$|^\(state)(,\(state))*$"
    }()

    /// A year of seconds, the cap of delays, timeouts and retries.
    static let year = FieldReader.text(FieldReader.maximumSeconds)

    /// The responses every body-taking write may give besides its own.
    static let writeResponses = #"""
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "413": {"$ref": "#/components/responses/TooLarge"},
                  "415": {"$ref": "#/components/responses/UnsupportedMediaType"}
        """#

    static let jobPaths = #"""
            "/v1/jobs": {
              "post": {
                "operationId": "enqueueJob",
                "summary": "Enqueue one job",
                "parameters": [{"$ref": "#/components/parameters/TraceParent"}, {"$ref": "#/components/parameters/TraceState"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnqueueRequest"}}}},
                "responses": {
                  "202": {"description": "Stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Enqueued"}}}},
                  "409": {"description": "A live job already holds the unique key; nothing was stored. `id` names that job.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}},
                  "422": {"$ref": "#/components/responses/Unprocessable"},
                  "503": {"$ref": "#/components/responses/QueueFull"},
        \#(writeResponses)
                }
              },
              "get": {
                "operationId": "listJobs",
                "summary": "List jobs, newest first",
                "parameters": [
                  {"name": "state", "in": "query", "schema": {"type": "string", "pattern": "\#(statesPattern)"}, "description": "One or more states, comma-separated (empty: every state)"},
                  {"name": "queue", "in": "query", "schema": {"type": "string"}, "description": "Only this queue (empty: every queue)"},
                  {"name": "kind", "in": "query", "schema": {"type": "string"}, "description": "Only this kind (empty: every kind)"},
                  {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^$|\#(idPattern)"}, "description": "The next_cursor of the previous page (a job id; empty: the first page)"},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": \#(APIRoutes.maximumPageSize), "default": \#(APIRoutes.defaultPageSize)}}
                ],
                "responses": {
                  "200": {"description": "A page of jobs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobPage"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/v1/jobs/batch": {
              "post": {
                "operationId": "enqueueJobs",
                "summary": "Enqueue many jobs; every job is checked before any is stored",
                "parameters": [{"$ref": "#/components/parameters/TraceParent"}, {"$ref": "#/components/parameters/TraceState"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
                "responses": {
                  "202": {"description": "One entry per job, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResponse"}}}},
                  "422": {"$ref": "#/components/responses/Unprocessable"},
                  "503": {"$ref": "#/components/responses/QueueFull"},
        \#(writeResponses)
                }
              }
            },
            "/v1/jobs/{id}": {
              "parameters": [{"$ref": "#/components/parameters/JobID"}],
              "get": {
                "operationId": "getJob",
                "summary": "A job: state, attempts, error history, payload, result, progress",
                "responses": {
                  "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "delete": {
                "operationId": "deleteJob",
                "summary": "Delete a job in any state (a running job's worker loses its lease)",
                "responses": {
                  "204": {"description": "Deleted"},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/v1/jobs/{id}/retry": {
              "parameters": [{"$ref": "#/components/parameters/JobID"}],
              "post": {
                "operationId": "retryJob",
                "summary": "Make a dead or cancelled job available again with a fresh budget of attempts",
                "responses": {
                  "200": {"description": "The job, now available", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/StateConflict"}
                }
              }
            },
            "/v1/jobs/{id}/cancel": {
              "parameters": [{"$ref": "#/components/parameters/JobID"}],
              "post": {
                "operationId": "cancelJob",
                "summary": "Cancel a scheduled, available or running job",
                "responses": {
                  "200": {"description": "The job, now cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/StateConflict"}
                }
              }
            }
        """#

    static let queuePaths = #"""
            "/v1/queues": {
              "get": {
                "operationId": "listQueues",
                "summary": "Every queue with jobs, paused or limited: counts by state, paused flag, limits",
                "responses": {
                  "200": {"description": "The queues, by name", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueueList"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/v1/queues/{name}/pause": {
              "parameters": [{"$ref": "#/components/parameters/QueueName"}],
              "post": {
                "operationId": "pauseQueue",
                "summary": "Pause a queue: it keeps accepting jobs but hands none out",
                "responses": {
                  "200": {"description": "Paused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueuePaused"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/v1/queues/{name}/limits": {
              "parameters": [{"$ref": "#/components/parameters/QueueName"}],
              "put": {
                "operationId": "setQueueLimits",
                "summary": "Set a queue's limits across every worker: at most N running, at most N starts per sliding window",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueueLimits"}}}},
                "responses": {
                  "200": {"description": "The limits now in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueueLimitsSet"}}}},
        \#(writeResponses)
                }
              }
            },
            "/v1/queues/{name}/resume": {
              "parameters": [{"$ref": "#/components/parameters/QueueName"}],
              "post": {
                "operationId": "resumeQueue",
                "summary": "Resume a paused queue",
                "responses": {
                  "200": {"description": "Resumed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueuePaused"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/v1/stats": {
              "get": {
                "operationId": "getStats",
                "summary": "Counts of jobs by state, over every queue and per queue",
                "responses": {
                  "200": {"description": "The counts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            }
        """#

    static let workerPaths = #"""
            "/v1/worker/claim": {
              "post": {
                "operationId": "workerClaim",
                "summary": "Worker protocol: claim up to `limit` jobs of the given queues, leased to `worker`; long-polls up to `wait_s`",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerClaimRequest"}}}},
                "responses": {
                  "200": {"description": "The claimed jobs (none after the wait)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerClaimResponse"}}}},
        \#(writeResponses)
                }
              }
            },
            "/v1/worker/heartbeat": {
              "post": {
                "operationId": "workerHeartbeat",
                "summary": "Worker protocol: extend the leases of running jobs",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerHeartbeatRequest"}}}},
                "responses": {
                  "200": {"description": "`extended` leases are held for `lease_s` more; `lost` jobs were rescued, cancelled or deleted (stop running them)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerHeartbeatResponse"}}}},
        \#(writeResponses)
                }
              }
            },
            "/v1/worker/finish": {
              "post": {
                "operationId": "workerFinish",
                "summary": "Worker protocol: report how runs ended; stored only while the worker holds the lease",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerFinishRequest"}}}},
                "responses": {
                  "200": {"description": "`stored` outcomes were recorded; `lost` ones were not (the lease had expired or the job was cancelled or deleted)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerFinishResponse"}}}},
        \#(writeResponses)
                }
              }
            }
        """#

    static let operationPaths = #"""
            "/healthz": {
              "get": {
                "operationId": "health",
                "summary": "Liveness, and whether the job store answers",
                "security": [],
                "responses": {
                  "200": {"description": "Healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                  "503": {"description": "The job store does not answer", "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}}}, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                }
              }
            },
            "/metrics": {
              "get": {
                "operationId": "metrics",
                "summary": "Prometheus text: job metrics, and queue depth by state refreshed at each scrape",
                "responses": {
                  "200": {"description": "Prometheus exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/openapi.json": {
              "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                  "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}
                }
              }
            }
        """#
}
