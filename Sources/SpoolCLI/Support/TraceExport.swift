import Logging
import OTel
import ServiceLifecycle
import Tracing

/// OTLP trace export for the long-running commands (`spool serve`, `spool work`), through
/// swift-otel, configured by OpenTelemetry's standard environment variables.
///
/// Export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
/// set and `OTEL_TRACES_EXPORTER` is not `none`; otherwise nothing is bootstrapped and tracing
/// costs nothing (the jobs' ``TracingMiddleware`` stays out of the path). The protocol is
/// OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf`, the default, or `http/json`); the
/// service name is `spool` unless `OTEL_SERVICE_NAME` says otherwise; every other `OTEL_*`
/// variable swift-otel knows applies (sampler, batch delay, headers). Only traces are exported:
/// logs stay on standard error, with the current trace and span ids in their metadata
/// (`trace_id`, `span_id`), and metrics stay on `/metrics`.
struct TraceExport {
    /// The exporter's background work (batching, sending, flushing at shutdown): run it in the
    /// command's service group, first, so that it stops last and sends the final spans.
    let service: any Service
    /// Adds the current span's ids to every log line.
    let metadataProvider: Logger.MetadataProvider

    /// Bootstraps the process's tracer when `environment` asks for export, else returns nil.
    /// Call once, before logging is set up and before any client, worker or server is made
    /// (they pick the bootstrapped tracer when they are made).
    /// - Throws: `CLIError` naming the variable for a protocol other than OTLP/HTTP (`grpc`
    ///   included), or when swift-otel refuses the configuration.
    static func bootstrap(environment: [String: String]) throws -> TraceExport? {
        guard isRequested(environment) else { return nil }
        // swift-otel is built with OTLP/HTTP only: a gRPC exporter would trap when made, and an
        // unknown value would silently fall back. Refuse both, naming the variable.
        for variable in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            guard let value = environment[variable], !value.isEmpty else { continue }
            guard ["http/protobuf", "http/json"].contains(value) else {
                throw CLIError("\(variable) must be http/protobuf or http/json (got '\(value.prefix(40))'): Spool exports OTLP over HTTP")
            }
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "spool"
        // swift-otel's own notes (each variable it read) only at warning and above.
        configuration.diagnosticLogLevel = .warning
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        let backend: (factory: any Tracer, service: any Service)
        do {
            let made = try OTel.makeTracingBackend(configuration: configuration)
            backend = (made.factory, made.service)
        } catch {
            throw CLIError(
                "OpenTelemetry trace export (OTEL_EXPORTER_OTLP_* variables) could not be set up: \(error)")
        }
        InstrumentationSystem.bootstrap(backend.factory)
        return TraceExport(service: backend.service, metadataProvider: OTel.makeLoggingMetadataProvider())
    }

    /// Whether the OpenTelemetry variables in `environment` ask for trace export.
    static func isRequested(_ environment: [String: String]) -> Bool {
        if environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none" { return false }
        let endpoints = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        return endpoints.contains { !(environment[$0] ?? "").isEmpty }
    }
}
