import Foundation

/// Inline SVG bar charts for the dashboard: no script, no external files.
enum Charts {
    /// A bar chart of one count per minute (oldest first), with a y axis from 0 to a round
    /// maximum, x labels for the hour, and a `<title>` per bar (its minute and count) for hover.
    ///
    /// - Parameters:
    ///   - label: what is counted ("succeeded"), for the accessible name and titles.
    ///   - cssClass: the bars' class (their colour comes from the page's CSS).
    static func perMinute(_ buckets: [(minute: Int64, count: Int)], label: String, cssClass: String) -> HTML {
        let width = 540.0, height = 150.0
        let left = 40.0, right = 8.0, top = 10.0, bottom = 22.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maximum = roundedMaximum(buckets.map(\.count).max() ?? 0)
        let slot = plotWidth / Double(max(1, buckets.count))
        let total = buckets.reduce(0) { $0 + $1.count }

        var bars: [HTML] = []
        for (index, bucket) in buckets.enumerated() where bucket.count > 0 {
            let barHeight = max(1, plotHeight * Double(bucket.count) / Double(maximum))
            let x = left + Double(index) * slot + 1
            let y = top + plotHeight - barHeight
            let title = "\(minuteLabel(bucket.minute)) UTC: \(bucket.count) \(label)"
            bars.append(
                "<rect class=\"\(cssClass)\" x=\"\(number(x))\" y=\"\(number(y))\" width=\"\(number(max(1, slot - 2)))\" height=\"\(number(barHeight))\"><title>\(title)</title></rect>"
            )
        }
        let baseline = top + plotHeight
        let ticks: [HTML] = (maximum.isMultiple(of: 2) ? [0, maximum / 2, maximum] : [0, maximum]).map { value in
            let y = top + plotHeight - plotHeight * Double(value) / Double(maximum)
            return
                "<line class=\"grid\" x1=\"\(number(left))\" y1=\"\(number(y))\" x2=\"\(number(width - right))\" y2=\"\(number(y))\"/><text class=\"axis\" x=\"\(number(left - 4))\" y=\"\(number(y + 4))\" text-anchor=\"end\">\(value)</text>"
        }
        let xLabels: [HTML] = [(0, "-60 min"), (buckets.count / 2, "-30 min"), (buckets.count, "now")].map { index, text in
            let anchor = index == 0 ? "start" : index == buckets.count ? "end" : "middle"
            return
                "<text class=\"axis\" x=\"\(number(left + Double(index) * slot))\" y=\"\(number(height - 6))\" text-anchor=\"\(anchor)\">\(text)</text>"
        }
        let name = "\(label) per minute, last hour: \(total) in all"
        return """
            <svg class="chart" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="\(name)"><title>\(name)</title>\(ticks)<line class="axisline" x1="\(number(left))" y1="\(number(baseline))" x2="\(number(width - right))" y2="\(number(baseline))"/>\(bars)\(xLabels)</svg>
            """
    }

    /// The smallest of 1, 2, 5 × 10ⁿ (and at least 1) at or above `value`, so ticks are round.
    static func roundedMaximum(_ value: Int) -> Int {
        var scale = 1
        while true {
            for step in [1, 2, 5] where step * scale >= value { return step * scale }
            scale *= 10
        }
    }

    /// `HH:MM` of a minute since the epoch, in UTC.
    static func minuteLabel(_ minute: Int64) -> String {
        let minuteOfDay = ((minute % 1440) + 1440) % 1440
        let hours = minuteOfDay / 60, minutes = minuteOfDay % 60
        return (hours < 10 ? "0" : "") + String(hours) + ":" + (minutes < 10 ? "0" : "") + String(minutes)
    }

    /// A coordinate with at most one decimal.
    private static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
