import Foundation
import Spool

/// An aligned plain-text table: a header, a rule, and rows, columns separated by two spaces.
struct TextTable {
    /// The column titles.
    var header: [String]
    /// Columns (by index) whose cells are right-aligned (numbers).
    var rightAligned: Set<Int> = []
    /// The rows, each with one cell per column.
    var rows: [[String]] = []

    /// The table as lines joined by newlines, with no trailing spaces.
    var rendered: String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (column, text) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], text.count)
            }
        }
        func line(_ row: [String]) -> String {
            let cells = widths.indices.map { column -> String in
                let text = column < row.count ? row[column] : ""
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return rightAligned.contains(column) ? pad + text : text + pad
            }
            return cells.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Times as the CLI shows them in tables (details use the API's ``RFC3339`` format).
enum TimeText {
    private static let withSeconds = Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt)

    /// `2026-11-22T18:01:02Z`, for tables.
    static func short(_ date: Date) -> String {
        withSeconds.format(date)
    }

    /// `5 s`, `1.5 s`, `250 ms`.
    static func duration(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds == seconds.rounded() { return "\(Int(seconds)) s" }
        return "\(Format.fixed(seconds, 3)) s"
    }
}

/// Shortens `text` to at most `limit` characters, ending with `…` when cut, on one line.
func truncated(_ text: String, _ limit: Int) -> String {
    let flat = oneLine(text)
    guard flat.count > limit else { return flat }
    return String(flat.prefix(max(0, limit - 1))) + "…"
}

/// `name  value` lines, the values aligned after the longest name.
func alignedFields(_ fields: [(String, String)]) -> [String] {
    let width = fields.map(\.0.count).max() ?? 0
    return fields.map { name, value in name + String(repeating: " ", count: width - name.count) + "  " + value }
}
