/// The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`.
///
/// Hand-written to match the routes in `APIRoutes`; `OpenAPITests` sends real requests to every
/// route and checks each answer's status and required fields against this document, so the two
/// cannot drift apart unnoticed.
enum OpenAPIDocument {
    /// The document, as minified-or-not JSON text (served as it is).
    static let json: String = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Spool",
    "version": "1.0.0",
    "description": "Spool's job server. Field names are snake_case; times are RFC 3339 UTC. With SPOOL_ADMIN_TOKEN or SPOOL_READ_TOKEN configured, send `Authorization: Bearer TOKEN`: reads (GET) take either token, writes only the admin token. Errors are application/problem+json (RFC 9457)."
  },
  "servers": [{"url": "http://127.0.0.1:8080"}],
  "security": [{"bearer": []}],
  "paths": {
    "/v1/jobs": {
      "post": {
        "operationId": "enqueueJob",
        "summary": "Enqueue one job",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnqueueRequest"}}}},
        "responses": {
          "202": {"description": "Stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Enqueued"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "409": {"description": "A live job already holds the unique key; nothing was stored. `id` names that job.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/QueueFull"}
        }
      },
      "get": {
        "operationId": "listJobs",
        "summary": "List jobs, newest first",
        "parameters": [
          {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "One or more states, comma-separated"},
          {"name": "queue", "in": "query", "schema": {"type": "string"}},
          {"name": "kind", "in": "query", "schema": {"type": "string"}},
          {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "The next_cursor of the previous page"},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}
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
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
        "responses": {
          "202": {"description": "One entry per job, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResponse"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/QueueFull"}
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
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      },
      "delete": {
        "operationId": "deleteJob",
        "summary": "Delete a job in any state (a running job's worker loses its lease)",
        "responses": {
          "204": {"description": "Deleted"},
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
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/StateConflict"}
        }
      }
    },
    "/v1/queues": {
      "get": {
        "operationId": "listQueues",
        "summary": "Every queue with jobs or paused: counts by state and paused flag",
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
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"}
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
    },
    "/v1/worker/claim": {
      "post": {
        "operationId": "workerClaim",
        "summary": "Worker protocol: claim up to `limit` jobs of the given queues, leased to `worker`; long-polls up to `wait_s`",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerClaimRequest"}}}},
        "responses": {
          "200": {"description": "The claimed jobs (none after the wait)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerClaimResponse"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"}
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
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"}
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
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"}
        }
      }
    },
    "/healthz": {
      "get": {
        "operationId": "health",
        "summary": "Liveness, and whether the job store answers",
        "security": [],
        "responses": {
          "200": {"description": "Healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
          "503": {"description": "The job store does not answer", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
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
  },
  "components": {
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer", "description": "SPOOL_ADMIN_TOKEN (everything) or SPOOL_READ_TOKEN (GET only)"}
    },
    "parameters": {
      "JobID": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{26}$"}, "description": "A job id: 26 Crockford base-32 characters"},
      "QueueName": {"name": "name", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
    },
    "responses": {
      "BadRequest": {"description": "Malformed JSON, or a bad field (named in `field`) or query parameter (named in `parameter`)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Unauthorized": {"description": "No token, or an unknown one (tokens are configured)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Forbidden": {"description": "The read-only token on a write", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "NotFound": {"description": "No job has this id", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "StateConflict": {"description": "The job's state does not allow this", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}},
      "TooLarge": {"description": "The body exceeds the server's limit (1 MiB by default)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "QueueFull": {
        "description": "A bounded queue is full; try again after Retry-After seconds. For a batch, `stored` lists the jobs that were stored before the queue filled.",
        "headers": {"Retry-After": {"required": true, "schema": {"type": "integer"}}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/QueueFullProblem"}}}
      }
    },
    "schemas": {
      "State": {"type": "string", "enum": ["scheduled", "available", "running", "succeeded", "dead", "cancelled"]},
      "EnqueueRequest": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": false,
        "properties": {
          "kind": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The registered job name"},
          "payload": {"description": "Any JSON value, stored as sent; default {}"},
          "queue": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Default: the kind's registered queue, else `default`"},
          "priority": {"type": "integer", "description": "Higher runs first within a queue"},
          "run_at": {"type": "string", "format": "date-time", "description": "Run no earlier than this time; not with delay_s"},
          "delay_s": {"type": "number", "minimum": 0, "description": "Run no earlier than this many seconds from now; not with run_at"},
          "unique_key": {"type": "string", "minLength": 1, "maxLength": 255, "description": "While a live job holds this key, the enqueue answers 409 with that job's id"},
          "max_attempts": {"type": "integer", "minimum": 1},
          "timeout_s": {"type": "number", "exclusiveMinimum": 0, "description": "Per-attempt time limit in seconds"}
        }
      },
      "WorkerClaimRequest": {
        "type": "object",
        "required": ["worker", "queues"],
        "additionalProperties": false,
        "properties": {
          "worker": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The worker's name, unique among running workers (e.g. host:pid); leases are held in this name"},
          "queues": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 255}},
          "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 1},
          "lease_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 30, "description": "How long the lease lasts without a heartbeat"},
          "wait_s": {"type": "number", "minimum": 0, "maximum": 60, "default": 0, "description": "Long-poll: answer as soon as a job is claimed, or empty after this many seconds"}
        }
      },
      "ClaimedJob": {
        "type": "object",
        "required": ["id", "kind", "queue", "payload", "attempt", "max_attempts", "priority", "created_at", "lease_expires_at"],
        "properties": {
          "id": {"type": "string"},
          "kind": {"type": "string"},
          "queue": {"type": "string"},
          "payload": {"description": "The job's JSON payload, as enqueued"},
          "attempt": {"type": "integer", "description": "This run's attempt number, 1 for the first"},
          "max_attempts": {"type": "integer"},
          "priority": {"type": "integer"},
          "created_at": {"type": "string", "format": "date-time"},
          "lease_expires_at": {"type": "string", "format": "date-time"},
          "timeout_s": {"type": ["number", "null"]}
        }
      },
      "WorkerClaimResponse": {
        "type": "object",
        "required": ["jobs"],
        "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/ClaimedJob"}}}
      },
      "WorkerHeartbeatRequest": {
        "type": "object",
        "required": ["worker", "ids"],
        "additionalProperties": false,
        "properties": {
          "worker": {"type": "string", "minLength": 1, "maxLength": 255},
          "ids": {"type": "array", "maxItems": 1000, "items": {"type": "string"}},
          "lease_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 30}
        }
      },
      "WorkerHeartbeatResponse": {
        "type": "object",
        "required": ["extended", "lost"],
        "properties": {"extended": {"type": "array", "items": {"type": "string"}}, "lost": {"type": "array", "items": {"type": "string"}}}
      },
      "WorkerResult": {
        "type": "object",
        "required": ["id", "status"],
        "additionalProperties": false,
        "properties": {
          "id": {"type": "string"},
          "status": {"type": "string", "enum": ["succeeded", "failed"]},
          "result": {"description": "Any JSON value, stored as the job's result (succeeded)"},
          "error": {"type": "string", "description": "What went wrong (failed)"},
          "retry_in_s": {"type": "number", "minimum": 0, "description": "Retry after this many seconds (failed; default: exponential backoff)"},
          "permanent": {"type": "boolean", "default": false, "description": "Do not retry: the job is dead at once (failed)"}
        }
      },
      "WorkerFinishRequest": {
        "type": "object",
        "required": ["worker", "results"],
        "additionalProperties": false,
        "properties": {
          "worker": {"type": "string", "minLength": 1, "maxLength": 255},
          "results": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/WorkerResult"}}
        }
      },
      "WorkerFinishResponse": {
        "type": "object",
        "required": ["stored", "lost"],
        "properties": {"stored": {"type": "array", "items": {"type": "string"}}, "lost": {"type": "array", "items": {"type": "string"}}}
      },
      "Enqueued": {
        "type": "object",
        "required": ["id", "state"],
        "properties": {"id": {"type": "string"}, "state": {"$ref": "#/components/schemas/State"}}
      },
      "BatchRequest": {
        "type": "object",
        "required": ["jobs"],
        "additionalProperties": false,
        "properties": {"jobs": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/EnqueueRequest"}}}
      },
      "BatchEntry": {
        "type": "object",
        "required": ["id", "state", "existing"],
        "properties": {
          "id": {"type": "string"},
          "state": {"$ref": "#/components/schemas/State"},
          "existing": {"type": "boolean", "description": "True when a live job already held the unique key: `id` is that job and nothing was stored"}
        }
      },
      "BatchResponse": {
        "type": "object",
        "required": ["jobs"],
        "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/BatchEntry"}}}
      },
      "AttemptError": {
        "type": "object",
        "required": ["attempt", "at", "message", "reason"],
        "properties": {
          "attempt": {"type": "integer"},
          "at": {"type": "string", "format": "date-time"},
          "message": {"type": "string"},
          "reason": {"type": "string", "description": "error, timeout, permanent, unknown_kind, undecodable_payload, lease_expired, poison"}
        }
      },
      "Progress": {
        "type": "object",
        "required": ["fraction", "message"],
        "properties": {"fraction": {"type": "number", "minimum": 0, "maximum": 1}, "message": {"type": ["string", "null"]}}
      },
      "Job": {
        "type": "object",
        "required": ["id", "queue", "kind", "state", "priority", "attempt", "max_attempts", "payload", "run_at", "created_at", "attempted_at", "finished_at", "lease_owner", "lease_expires_at", "errors", "unique_key", "timeout_s", "result", "progress", "metadata"],
        "properties": {
          "id": {"type": "string"},
          "queue": {"type": "string"},
          "kind": {"type": "string"},
          "state": {"$ref": "#/components/schemas/State"},
          "priority": {"type": "integer"},
          "attempt": {"type": "integer", "description": "How many times the job has been claimed"},
          "max_attempts": {"type": "integer"},
          "payload": {"description": "The payload as stored (JSON)"},
          "run_at": {"type": "string", "format": "date-time"},
          "created_at": {"type": "string", "format": "date-time"},
          "attempted_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "lease_owner": {"type": ["string", "null"]},
          "lease_expires_at": {"type": ["string", "null"], "format": "date-time"},
          "errors": {"type": "array", "items": {"$ref": "#/components/schemas/AttemptError"}, "description": "The error of each failed attempt, oldest first (the last 20)"},
          "unique_key": {"type": ["string", "null"]},
          "timeout_s": {"type": ["number", "null"]},
          "result": {"description": "The handler's result (JSON), or null"},
          "progress": {"oneOf": [{"$ref": "#/components/schemas/Progress"}, {"type": "null"}]},
          "metadata": {"type": "object", "additionalProperties": {"type": "string"}}
        }
      },
      "JobSummary": {
        "type": "object",
        "required": ["id", "queue", "kind", "state", "priority", "attempt", "max_attempts", "run_at", "created_at", "attempted_at", "finished_at", "unique_key", "last_error"],
        "properties": {
          "id": {"type": "string"},
          "queue": {"type": "string"},
          "kind": {"type": "string"},
          "state": {"$ref": "#/components/schemas/State"},
          "priority": {"type": "integer"},
          "attempt": {"type": "integer"},
          "max_attempts": {"type": "integer"},
          "run_at": {"type": "string", "format": "date-time"},
          "created_at": {"type": "string", "format": "date-time"},
          "attempted_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "unique_key": {"type": ["string", "null"]},
          "last_error": {"oneOf": [{"$ref": "#/components/schemas/AttemptError"}, {"type": "null"}]}
        }
      },
      "JobPage": {
        "type": "object",
        "required": ["jobs", "next_cursor"],
        "properties": {
          "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/JobSummary"}},
          "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last page"}
        }
      },
      "Counts": {
        "type": "object",
        "required": ["scheduled", "available", "running", "succeeded", "dead", "cancelled"],
        "properties": {
          "scheduled": {"type": "integer"}, "available": {"type": "integer"}, "running": {"type": "integer"},
          "succeeded": {"type": "integer"}, "dead": {"type": "integer"}, "cancelled": {"type": "integer"}
        }
      },
      "Queue": {
        "type": "object",
        "required": ["name", "paused", "limits", "counts", "total"],
        "properties": {
          "name": {"type": "string"},
          "paused": {"type": "boolean"},
          "limits": {"$ref": "#/components/schemas/QueueLimits"},
          "counts": {"$ref": "#/components/schemas/Counts"},
          "total": {"type": "integer"}
        }
      },
      "QueueList": {
        "type": "object",
        "required": ["queues"],
        "properties": {"queues": {"type": "array", "items": {"$ref": "#/components/schemas/Queue"}}}
      },
      "QueueLimits": {
        "type": "object",
        "description": "Null or absent: no such limit. {} removes both.",
        "properties": {
          "max_running": {"type": ["integer", "null"], "minimum": 1, "description": "At most this many of the queue's jobs running at once, cluster-wide"},
          "rate": {"type": ["string", "null"], "example": "100/1m", "description": "COUNT/PERIOD (units ms, s, m, h, d): at most COUNT starts in any window of PERIOD"}
        }
      },
      "QueueLimitsSet": {
        "type": "object",
        "required": ["name", "limits"],
        "properties": {"name": {"type": "string"}, "limits": {"$ref": "#/components/schemas/QueueLimits"}}
      },
      "QueuePaused": {
        "type": "object",
        "required": ["name", "paused"],
        "properties": {"name": {"type": "string"}, "paused": {"type": "boolean"}}
      },
      "Stats": {
        "type": "object",
        "required": ["total", "counts", "queues", "paused_queues"],
        "properties": {
          "total": {"type": "integer"},
          "counts": {"$ref": "#/components/schemas/Counts"},
          "queues": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Counts"}},
          "paused_queues": {"type": "array", "items": {"type": "string"}}
        }
      },
      "Health": {
        "type": "object",
        "required": ["status", "storage"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "storage": {"type": "string", "enum": ["ok"]}}
      },
      "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
          "type": {"type": "string", "description": "urn:spool:problem:SLUG"},
          "title": {"type": "string"},
          "status": {"type": "integer"},
          "detail": {"type": "string"},
          "field": {"type": "string", "description": "The request field at fault (400), e.g. jobs[2].priority"},
          "parameter": {"type": "string", "description": "The query parameter at fault (400)"},
          "limit_bytes": {"type": "integer", "description": "The body limit (413)"}
        }
      },
      "Conflict": {
        "allOf": [
          {"$ref": "#/components/schemas/Problem"},
          {"type": "object", "required": ["id", "state"], "properties": {"id": {"type": "string"}, "state": {"$ref": "#/components/schemas/State"}}}
        ]
      },
      "QueueFullProblem": {
        "allOf": [
          {"$ref": "#/components/schemas/Problem"},
          {
            "type": "object",
            "required": ["retry_after_s"],
            "properties": {
              "retry_after_s": {"type": "integer"},
              "stored": {
                "type": "array",
                "items": {"type": "object", "required": ["index", "id", "state"], "properties": {"index": {"type": "integer"}, "id": {"type": "string"}, "state": {"$ref": "#/components/schemas/State"}}}
              }
            }
          }
        ]
      }
    }
  }
}
"""#
}
