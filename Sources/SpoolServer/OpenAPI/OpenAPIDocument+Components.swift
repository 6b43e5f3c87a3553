import Spool

extension OpenAPIDocument {
    /// The security scheme, the reusable parameters and responses, and the schemas of names,
    /// ids and problems.
    static let components = #"""
            "securitySchemes": {
              "bearer": {"type": "http", "scheme": "bearer", "description": "SPOOL_ADMIN_TOKEN (everything) or SPOOL_READ_TOKEN (GET only). With neither configured the server takes no token and allows every request (loopback only)."}
            },
            "parameters": {
              "JobID": {"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/JobID"}, "description": "A job id. A well-formed id no job has is a 404, and so is anything that is not an id."},
              "BatchID": {"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/JobID"}, "description": "A batch id (written like a job id)"},
              "QueueName": {"name": "name", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/Name"}, "description": "A queue name, percent-encoded in the path"},
              "TraceParent": {"name": "traceparent", "in": "header", "schema": {"$ref": "#/components/schemas/TraceParent"}, "description": "The caller's W3C trace context: it becomes the `traceparent` metadata of every job without a `traceparent` or `tracestate` of its own, so the jobs' runs continue the caller's trace. Malformed or repeated: 400 naming `traceparent`."},
              "TraceState": {"name": "tracestate", "in": "header", "schema": {"$ref": "#/components/schemas/TraceState"}, "description": "The W3C tracestate going with `traceparent`, copied beside it (ignored without a `traceparent`). Several headers are one comma-separated list."}
            },
            "responses": {
              "BadRequest": {"description": "Malformed JSON, a member given twice, or a bad field (named in `field`) or query parameter (named in `parameter`)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "BadPathParameter": {"description": "A path parameter (named in `parameter`) is not valid percent-encoded UTF-8, or not a valid name", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "Unauthorized": {"description": "No token, or an unknown one (tokens are configured)", "headers": {"WWW-Authenticate": {"required": true, "schema": {"type": "string"}}}, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "Forbidden": {"description": "The read-only token on a write; or, with no token configured, a write from a web page of another site", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "NotFound": {"description": "No job has this id", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "BatchNotFound": {"description": "No batch has this id", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "Unprocessable": {"description": "Well-formed, but it names what cannot take it: an unknown dependency or batch, a dependency cycle, a finished batch, or a driver that does not keep batches and dependencies yet", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "StateConflict": {"description": "The job's state does not allow this", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}},
              "TooLarge": {"description": "The body exceeds the server's limit (1 MiB unless configured otherwise; `limit_bytes` says it)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "UnsupportedMediaType": {"description": "A body whose Content-Type is not application/json (or application/*+json), or a body without one", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "QueueFull": {
                "description": "A bounded queue is full; try again after Retry-After seconds. For a batch, `stored` lists the jobs that were stored before the queue filled.",
                "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}}},
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/QueueFullProblem"}}}
              }
            }
        """#

    /// Every schema, as the members of `components`.
    static let schemas = #"""
            "schemas": {
              "Name": {\#(nameRules), "description": "1 to \#(JobInput.maximumNameLength) Unicode code points (counted as sent, and again after Unicode NFC normalisation, the form it is stored in), without control characters (U+0000-U+001F, U+007F-U+009F)"},
              "JobID": {"type": "string", "pattern": "\#(idPattern)", "description": "26 Crockford base-32 digits (any case), the first at most 7"},
              "RunAt": {
                "type": "string", "format": "date-time", "pattern": "\#(runAtPattern)",
                "description": "An RFC 3339 time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z: a real calendar date, `T` or `t`, seconds 00-59 (no leap second), an optional fraction of any length (cut to milliseconds), then `Z`, `z` or a `+hh:mm`/`-hh:mm` offset. The written year must be 1970-9999 too, and on 1970-01-01 and 9999-12-31 the offset must not carry the time out of range (write it in UTC)."
              },
              "Seconds": {"type": "number", "minimum": 0, "maximum": \#(year), "description": "Seconds, at most a year (366 days), kept to the millisecond"},
              "State": {"type": "string", "enum": [\#(JobState.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))]},
        \#(jobSchemas),
        \#(workerSchemas),
        \#(viewSchemas),
              "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                  "type": {"type": "string", "description": "urn:spool:problem:SLUG"},
                  "title": {"type": "string"},
                  "status": {"type": "integer"},
                  "detail": {"type": "string"},
                  "field": {"type": "string", "description": "The request member at fault (400), as a path such as jobs[2].priority"},
                  "parameter": {"type": "string", "description": "The query or path parameter at fault (400)"},
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
        """#
}
