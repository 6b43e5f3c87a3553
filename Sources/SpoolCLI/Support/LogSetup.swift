import ArgumentParser
import Foundation
import Logging
import Spool
import SpoolServer

/// Process-wide logging for long-running commands: every log line goes to standard error
/// (standard output stays for results), as text or as one JSON object per line.
enum LogSetup {
    /// Sends swift-log's output to standard error at `level`. Call once, first thing in a
    /// command's `run()` (after ``TraceExport/bootstrap(environment:)``, whose metadata
    /// provider adds the current trace and span ids to each line).
    static func bootstrap(level: Logger.Level, json: Bool = false, metadataProvider: Logger.MetadataProvider? = nil) {
        LoggingSystem.bootstrap(
            { label, provider in
                if json {
                    var handler = JSONLogHandler(label: label)
                    handler.logLevel = level
                    handler.metadataProvider = provider
                    return handler
                }
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }, metadataProvider: metadataProvider)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A log handler writing one JSON object per line to standard error:
/// `{"time", "level", "label", "message", ...metadata}` (metadata keys as given, values as
/// strings).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        var members: [(String, JSONValue)] = [
            ("time", .time(Date())), ("level", .string(event.level.rawValue)), ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            members.append((key, .string(value.description)))
        }
        Terminal.printError(JSONValue.object(members).rendered)
    }
}
