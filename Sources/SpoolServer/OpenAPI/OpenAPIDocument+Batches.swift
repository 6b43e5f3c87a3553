extension OpenAPIDocument {
    /// The batch routes (``BatchRoutes``).
    static let batchPaths = #"""
            "/v1/batches": {
              "post": {
                "operationId": "createBatch",
                "summary": "Enqueue jobs as one batch with callbacks (all stored or none)",
                "parameters": [{"$ref": "#/components/parameters/TraceParent"}, {"$ref": "#/components/parameters/TraceState"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchCreate"}}}},
                "responses": {
                  "202": {"description": "Stored: the batch's id and one entry per job, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchCreated"}}}},
                  "422": {"$ref": "#/components/responses/Unprocessable"},
                  "503": {"$ref": "#/components/responses/QueueFull"},
        \#(writeResponses)
                }
              },
              "get": {
                "operationId": "listBatches",
                "summary": "List batches, newest first",
                "parameters": [
                  {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^$|\#(idPattern)"}, "description": "The next_cursor of the previous page (empty: the first page)"},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": \#(APIRoutes.maximumPageSize), "default": \#(APIRoutes.defaultPageSize)}}
                ],
                "responses": {
                  "200": {"description": "A page of batches", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchPage"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/v1/batches/{id}": {
              "parameters": [{"$ref": "#/components/parameters/BatchID"}],
              "get": {
                "operationId": "getBatch",
                "summary": "A batch: state, counts of its jobs by state, and its callbacks' job ids once fired",
                "responses": {
                  "200": {"description": "The batch", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/BatchNotFound"}
                }
              }
            },
            "/v1/batches/{id}/cancel": {
              "parameters": [{"$ref": "#/components/parameters/BatchID"}],
              "post": {
                "operationId": "cancelBatch",
                "summary": "Cancel every job of the batch that has not finished (on_complete fires, on_success never)",
                "responses": {
                  "200": {"description": "The ids of the jobs cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchCancelled"}}}},
                  "400": {"$ref": "#/components/responses/BadPathParameter"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/BatchNotFound"}
                }
              }
            }
        """#
}
