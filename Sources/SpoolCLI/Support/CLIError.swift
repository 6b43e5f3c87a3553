import Foundation
import ArgumentParser
import Spool

/// A failure the CLI reports to the operator: one sentence, printed as one `error:` line on
/// standard error, with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    /// What went wrong and, where it helps, what to do about it.
    let message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }

    /// Runs `make`, turning a driver's ``SpoolError`` (a malformed URL, an unknown option) into
    /// a `CLIError` with the same sentence.
    static func rewording<T>(_ make: () throws -> T) throws -> T {
        do {
            return try make()
        } catch let error as SpoolError {
            throw CLIError(error.message)
        }
    }
}

/// Runs a command's body and turns any failure into one `error: …` line on standard error
/// and exit code 1 (an `ExitCode` thrown by the body passes through unchanged).
///
/// Every command's `run()` goes through here, so no failure prints a stack of nested
/// descriptions or a usage text: argument-parser's own usage errors are the only multi-line
/// errors, and they happen before `run()`.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        Terminal.printError("error: \(oneLine(describe(error)))")
        throw ExitCode.failure
    }
}

/// The operator-facing sentence for `error`.
func describe(_ error: any Error) -> String {
    switch error {
    case let error as CLIError: return error.message
    case let error as SpoolError: return error.description
    case is CancellationError: return "interrupted"
    default: return String(describing: error)
    }
}

/// `text` on one line: newlines and tabs become spaces, runs of spaces collapse.
func oneLine(_ text: String) -> String {
    var out = ""
    var lastWasSpace = false
    for character in text {
        let isSpace = character.isWhitespace
        if isSpace {
            if !lastWasSpace { out.append(" ") }
        } else {
            out.append(character)
        }
        lastWasSpace = isSpace
    }
    return out.trimmingCharacters(in: .whitespaces)
}
