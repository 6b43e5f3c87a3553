#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain writes to the standard streams, safe to call from any task (no shared `FILE *`).
enum Terminal {
    /// True when standard error is a terminal (progress is shown only then).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// True when standard output is a terminal (tables are redrawn in place only then).
    static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Writes `text` to standard output as it is (no newline added).
    static func writeOutput(_ text: String) {
        emit(fd: 1, text)
    }

    /// Writes `text` to standard error as it is (no newline added).
    static func writeError(_ text: String) {
        emit(fd: 2, text)
    }

    /// Writes one line to standard output, unbuffered (so it shows as soon as it is ready, even
    /// through a pipe).
    static func printOutput(_ line: String) {
        emit(fd: 1, line + "\n")
    }

    /// Writes one line to standard error.
    static func printError(_ line: String) {
        emit(fd: 2, line + "\n")
    }

    private static func emit(fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

/// Number formatting for the figures: thousands separators and fixed decimals, without
/// Foundation's locale machinery (the output must not depend on the user's locale).
enum Format {
    /// `1234567` → `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// `value` with exactly `places` decimals.
    static func fixed(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var text = String(whole)
        if places > 0 {
            let fractionText = String(fraction)
            text += "." + String(repeating: "0", count: max(0, places - fractionText.count)) + fractionText
        }
        return value < 0 && scaled != 0 ? "-" + text : text
    }
}
