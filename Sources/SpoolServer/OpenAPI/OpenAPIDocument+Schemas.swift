import Spool

extension OpenAPIDocument {
    /// The request schemas of enqueueing and of queue limits: every limit `EnqueueRequest` and
    /// `FieldReader` enforce.
    static let jobSchemas = #"""
              "EnqueueRequest": {
                "type": "object",
                "required": ["kind"],
                "additionalProperties": false,
                "not": {"required": ["run_at", "delay_s"]},
                "description": "One job. `run_at` and `delay_s` exclude each other. `spool serve` also checks the payloads of its built-in kinds (spool.sleep, spool.fail, http) and refuses other kinds that start with `spool.` (400 naming `payload`).",
                "properties": {
                  "kind": {"$ref": "#/components/schemas/Name", "description": "The registered job name"},
                  "payload": {"description": "Any JSON value (null included), stored as sent; default {}"},
                  "queue": {"$ref": "#/components/schemas/Name", "description": "Default: the kind's registered queue, else `default`"},
                  "priority": {"type": "integer", "minimum": \#(JobInput.priorityRange.lowerBound), "maximum": \#(JobInput.priorityRange.upperBound), "description": "Higher runs first within a queue. Default: the kind's registered priority, else 0"},
                  "run_at": {"$ref": "#/components/schemas/RunAt", "description": "Run no earlier than this time; not with delay_s"},
                  "delay_s": {"$ref": "#/components/schemas/Seconds", "description": "Run no earlier than this many seconds from now (at most a year); not with run_at"},
                  "unique_key": {"$ref": "#/components/schemas/Name", "description": "While a live job holds this key, the enqueue answers 409 with that job's id"},
                  "max_attempts": {"type": "integer", "minimum": 1, "maximum": \#(JobInput.maximumAttempts), "description": "Default: the kind's registered value, else 20"},
                  "timeout_s": {"type": "number", "minimum": \#(FieldReader.text(FieldReader.minimumPositiveSeconds)), "maximum": \#(year), "description": "Per-attempt time limit in seconds: a millisecond to a year. Default: the kind's registered timeout, else none"},
                  "metadata": {"$ref": "#/components/schemas/Metadata"},
                  "depends_on": {"type": "array", "maxItems": \#(JobInput.maximumDependencies), "items": {"$ref": "#/components/schemas/JobID"}, "description": "Jobs that must succeed before this one runs; until then its state is `pending`. Unknown ids and cycles are refused (422), and so is any on a driver that does not keep dependencies yet"},
                  "on_dependency_failure": {"type": "string", "enum": ["cancel", "run"], "description": "When a dependency ends dead or cancelled: be cancelled (default, naming it), or run anyway once every dependency has ended"},
                  "batch": {"$ref": "#/components/schemas/JobID", "description": "A running batch to join (422 when unknown or finished)"}
                }
              },
              "Metadata": {
                "type": "object",
                "maxProperties": \#(TraceContext.maximumMetadataKeys),
                "propertyNames": {"minLength": 1, "maxLength": \#(TraceContext.maximumKeyLength), "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"},
                "additionalProperties": {"type": "string", "maxLength": \#(TraceContext.maximumValueLength)},
                "properties": {
                  "traceparent": {"$ref": "#/components/schemas/TraceParent"},
                  "tracestate": {"$ref": "#/components/schemas/TraceState"}
                },
                "description": "String tags carried with the job and handed to its workers (claim, GET). `traceparent` and `tracestate` are the W3C trace context its runs continue; a job with either ignores the request's headers. Keys: 1 to \#(TraceContext.maximumKeyLength) code points without control characters; values: at most \#(TraceContext.maximumValueLength) code points."
              },
              "TraceParent": {"type": "string", "pattern": "\#(TraceContext.traceParentPattern)", "examples": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], "description": "W3C Trace Context traceparent: VERSION-TRACEID-PARENTID-FLAGS in lowercase hex, ids not all zero"},
              "TraceState": {"type": "string", "maxLength": \#(TraceContext.maximumTraceStateLength), "pattern": "\#(TraceContext.traceStatePattern)", "description": "W3C Trace Context tracestate: printable ASCII; meaningful only beside a traceparent"},
              "BatchRequest": {
                "type": "object",
                "required": ["jobs"],
                "additionalProperties": false,
                "properties": {"jobs": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/EnqueueRequest"}, "description": "At most the server's batch size (1000 unless configured otherwise); a bad job refuses the batch, naming it as jobs[INDEX].FIELD"}}
              },
              "QueueLimits": {
                "type": "object",
                "additionalProperties": false,
                "description": "Null or absent: no such limit. {} removes both.",
                "properties": {
                  "max_running": {"type": ["integer", "null"], "minimum": 1, "maximum": \#(QueueLimits.maximum), "description": "At most this many of the queue's jobs running at once, cluster-wide"},
                  "rate": {"type": ["string", "null"], "pattern": "\#(FieldReader.ratePattern)", "examples": ["100/1m"], "description": "COUNT/PERIOD: at most COUNT (1 to 999999999) starts in any window of PERIOD (an optional 1 to 99999, then ms, s, m, h or d)"}
                }
              }
        """#

    /// The request and response schemas of the worker protocol (`WorkerRoutes`).
    static let workerSchemas = #"""
              "WorkerClaimRequest": {
                "type": "object",
                "required": ["worker", "queues"],
                "additionalProperties": false,
                "properties": {
                  "worker": {"$ref": "#/components/schemas/Name", "description": "The worker's name, unique among running workers (e.g. host:pid); leases are held in this name"},
                  "queues": {"type": "array", "minItems": 1, "maxItems": \#(WorkerRoutes.maximumQueues), "items": {"$ref": "#/components/schemas/Name"}},
                  "limit": {"type": "integer", "minimum": 1, "maximum": \#(WorkerRoutes.maximumClaim), "default": 1},
                  "lease_s": {"type": "number", "minimum": \#(FieldReader.text(FieldReader.minimumPositiveSeconds)), "maximum": \#(FieldReader.text(WorkerRoutes.maximumLease)), "default": 30, "description": "How long the lease lasts without a heartbeat: a millisecond to a day"},
                  "wait_s": {"type": "number", "minimum": 0, "maximum": \#(FieldReader.text(WorkerRoutes.maximumWait)), "default": 0, "description": "Long-poll: answer as soon as a job is claimed, or empty after this many seconds"}
                }
              },
              "ClaimedJob": {
                "type": "object",
                "required": ["id", "kind", "queue", "payload", "attempt", "max_attempts", "priority", "created_at", "lease_expires_at", "timeout_s", "metadata"],
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
                  "timeout_s": {"type": ["number", "null"]},
                  "metadata": {"type": "object", "additionalProperties": {"type": "string"}, "description": "The job's metadata as enqueued: continue the trace in `traceparent` (and `tracestate`) when present"}
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
                  "worker": {"$ref": "#/components/schemas/Name"},
                  "ids": {"type": "array", "maxItems": \#(WorkerRoutes.maximumIDs), "items": {"$ref": "#/components/schemas/JobID"}},
                  "lease_s": {"type": "number", "minimum": \#(FieldReader.text(FieldReader.minimumPositiveSeconds)), "maximum": \#(FieldReader.text(WorkerRoutes.maximumLease)), "default": 30}
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
                  "id": {"$ref": "#/components/schemas/JobID"},
                  "status": {"type": "string", "enum": ["succeeded", "failed"]},
                  "result": {"description": "Any JSON value, stored as the job's result (succeeded); null or absent: no result"},
                  "error": {"type": "string", "description": "What went wrong (failed)"},
                  "retry_in_s": {"$ref": "#/components/schemas/Seconds", "description": "Retry after this many seconds, at most a year (failed; default: exponential backoff)"},
                  "permanent": {"type": "boolean", "default": false, "description": "Do not retry: the job is dead at once (failed)"}
                }
              },
              "WorkerFinishRequest": {
                "type": "object",
                "required": ["worker", "results"],
                "additionalProperties": false,
                "properties": {
                  "worker": {"$ref": "#/components/schemas/Name"},
                  "results": {"type": "array", "maxItems": \#(WorkerRoutes.maximumIDs), "items": {"$ref": "#/components/schemas/WorkerResult"}}
                }
              },
              "WorkerFinishResponse": {
                "type": "object",
                "required": ["stored", "lost"],
                "properties": {"stored": {"type": "array", "items": {"type": "string"}}, "lost": {"type": "array", "items": {"type": "string"}}}
              }
        """#

    /// The schemas of what the server answers: jobs, pages, queues, counts.
    static let viewSchemas = #"""
              "Enqueued": {
                "type": "object",
                "required": ["id", "state"],
                "properties": {"id": {"type": "string"}, "state": {"$ref": "#/components/schemas/State"}}
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
                  "reason": {"type": "string", "description": "error, timeout, permanent, unknown_kind, undecodable_payload, lease_expired, poison, cancelled, unreadable"}
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
                  "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                  "batch": {"type": ["string", "null"], "description": "The batch the job belongs to"},
                  "depends_on": {"type": "array", "items": {"type": "string"}, "description": "The jobs it waits for"},
                  "on_dependency_failure": {"type": "string", "enum": ["cancel", "run"]}
                }
              },
              "BatchCreate": {
                "type": "object",
                "required": ["jobs"],
                "additionalProperties": false,
                "description": "A batch: its jobs and the callbacks the store enqueues once each, when the batch first finishes (on_complete; on_success too when every job succeeded) or at its first dead job (on_dead)",
                "properties": {
                  "jobs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/EnqueueRequest"}},
                  "on_success": {"$ref": "#/components/schemas/EnqueueRequest"},
                  "on_complete": {"$ref": "#/components/schemas/EnqueueRequest"},
                  "on_dead": {"$ref": "#/components/schemas/EnqueueRequest"}
                }
              },
              "BatchCreated": {
                "type": "object",
                "required": ["id", "jobs"],
                "properties": {"id": {"type": "string"}, "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/BatchEntry"}}}
              },
              "Batch": {
                "type": "object",
                "required": ["id", "state", "total", "counts", "created_at", "finished_at", "cancelled_at", "callbacks"],
                "properties": {
                  "id": {"type": "string"},
                  "state": {"type": "string", "enum": [\#(BatchState.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))]},
                  "total": {"type": "integer"},
                  "counts": {"$ref": "#/components/schemas/Counts"},
                  "created_at": {"type": "string", "format": "date-time"},
                  "finished_at": {"type": ["string", "null"], "format": "date-time", "description": "When every job first reached a final state"},
                  "cancelled_at": {"type": ["string", "null"], "format": "date-time"},
                  "callbacks": {"type": "object", "additionalProperties": {"type": ["string", "null"]}, "description": "For each callback the batch has (on_success, on_complete, on_dead): its job's id once it fired, else null"}
                }
              },
              "BatchPage": {
                "type": "object",
                "required": ["batches", "next_cursor"],
                "properties": {
                  "batches": {"type": "array", "items": {"$ref": "#/components/schemas/Batch"}},
                  "next_cursor": {"type": ["string", "null"]}
                }
              },
              "BatchCancelled": {
                "type": "object",
                "required": ["cancelled"],
                "properties": {"cancelled": {"type": "array", "items": {"type": "string"}}}
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
                "required": ["pending", "scheduled", "available", "running", "succeeded", "dead", "cancelled"],
                "properties": {
                  "pending": {"type": "integer"}, "scheduled": {"type": "integer"}, "available": {"type": "integer"}, "running": {"type": "integer"},
                  "succeeded": {"type": "integer"}, "dead": {"type": "integer"}, "cancelled": {"type": "integer"}
                }
              },
              "Queue": {
                "type": "object",
                "required": ["name", "paused", "limits", "counts", "total"],
                "properties": {
                  "name": {"type": "string"},
                  "paused": {"type": "boolean"},
                  "limits": {"$ref": "#/components/schemas/QueueLimitsView"},
                  "counts": {"$ref": "#/components/schemas/Counts"},
                  "total": {"type": "integer"}
                }
              },
              "QueueList": {
                "type": "object",
                "required": ["queues"],
                "properties": {"queues": {"type": "array", "items": {"$ref": "#/components/schemas/Queue"}}}
              },
              "QueueLimitsView": {
                "type": "object",
                "required": ["max_running", "rate"],
                "description": "A queue's limits in force; null: no such limit",
                "properties": {
                  "max_running": {"type": ["integer", "null"], "minimum": 1},
                  "rate": {"type": ["string", "null"], "description": "COUNT/PERIOD, the period in its largest whole unit (90000ms is 90s)"}
                }
              },
              "QueueLimitsSet": {
                "type": "object",
                "required": ["name", "limits"],
                "properties": {"name": {"type": "string"}, "limits": {"$ref": "#/components/schemas/QueueLimitsView"}}
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
              }
        """#
}
