import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Spool

/// What every dashboard page needs to know about the request it answers.
struct PageContext: Sendable {
    /// What the viewer may do: read-only viewers get no action buttons.
    var access: Access
    /// The per-process token every form carries (the CSRF check).
    var formToken: String
    /// The page's own path and query (below the mount path, if any), where an action returns to.
    var location: String
    /// A message to show once (the outcome of an action), from the `notice` query parameter.
    var notice: String?
    var now: Date
}

/// The dashboard's page frame, shared pieces and error pages.
enum DashboardPage {
    /// Seconds between self-refreshes of pages that show changing counts.
    static let refreshSeconds = 5

    /// A complete page: the frame, navigation, `body`, and, when `refresh`, a small script that
    /// reloads the page every ``refreshSeconds`` unless a form field has focus (so typing in
    /// the search box is never lost). Without JavaScript everything works but the refresh.
    static func response(
        title: String, body: HTML, refresh: Bool, status: HTTPResponse.Status = .ok, context: PageContext? = nil
    ) -> Response {
        let nonce = randomHex(bytes: 16)
        let script: HTML = """
            <script nonce="\(nonce)">setInterval(function () { var a = document.activeElement; if (!a || a === document.body) { location.reload(); } }, \(refreshSeconds * 1000));</script>
            """
        let notice: HTML = context?.notice.map { "<p class=\"notice\" role=\"status\">\($0)</p>" } ?? .empty
        let readOnly = HTML.when(
            context?.access == .read, "<p class=\"muted\">Signed in with the read-only token: actions need the admin token.</p>"
        )
        let footer = refresh ? "This page refreshes itself every \(refreshSeconds) s." : "Reload for fresh figures."
        let page: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · Spool</title><style>\(HTML(trusted: style))</style></head>
            <body><header><a class="brand" href="\(DashboardURL.make("/"))">Spool</a><nav>\(navigation)</nav></header>
            <main>\(notice)\(readOnly)\(body)</main>
            <footer>\(footer)</footer>\(HTML.when(refresh, script))</body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-\(nonce)'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.text)))
    }

    /// An error as a page (same status and headers as the API's problem): a sign-in form for
    /// 401 on the dashboard, otherwise the problem's title and detail.
    static func problem(_ problem: Problem, signIn: Bool = false) -> Response {
        let form: HTML = """
            <form method="get" action="\(DashboardURL.make("/"))" class="signin"><label>Token <input type="password" name="token" autocomplete="current-password" required></label> <button type="submit">Sign in</button></form>
            <p class="muted">The admin token (SPOOL_ADMIN_TOKEN) may act; the read-only token (SPOOL_READ_TOKEN) may look. The browser keeps it in a cookie for this session.</p>
            """
        let body: HTML = """
            <h1>\(problem.title)</h1><p>\(problem.detail)</p>\(HTML.when(signIn, form))<p><a href="\(DashboardURL.make("/"))">Overview</a></p>
            """
        var response = Self.response(title: problem.title, body: body, refresh: false, status: problem.status)
        for field in problem.headers where field.name != .contentType {
            response.headers.append(field)
        }
        return response
    }

    /// A form that POSTs one action and comes back to `context.location` (or `back`); nothing
    /// for read-only viewers.
    static func action(
        _ path: String, label: String, cssClass: String, fields: [(String, String)] = [], back: String? = nil, context: PageContext
    ) -> HTML {
        guard context.access == .admin else { return .empty }
        let hidden: [HTML] = ([("csrf", context.formToken), ("back", back ?? context.location)] + fields).map { name, value in
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(value)\">"
        }
        return
            "<form method=\"post\" action=\"\(DashboardURL.make(path))\" class=\"action \(cssClass)\">\(hidden)<button type=\"submit\">\(label)</button></form>"
    }

    /// A state name as a coloured badge.
    static func badge(_ state: JobState) -> HTML {
        "<span class=\"badge \(state.rawValue)\">\(state.rawValue)</span>"
    }

    /// `date` as UTC to the second, with how long ago (or ahead) it is.
    static func time(_ date: Date?, now: Date) -> HTML {
        guard let date else { return "<span class=\"muted\">–</span>" }
        let text = RFC3339.format(date)
        let shown = text.prefix(19).replacingOccurrences(of: "T", with: " ")
        return "<time datetime=\"\(text)\" title=\"\(text)\">\(shown)</time> <span class=\"muted\">\(relative(date, now: now))</span>"
    }

    /// "3 min ago", "in 20 s".
    static func relative(_ date: Date, now: Date) -> String {
        // Saturating: a stored time is read in 1970...9999, but this must never trap.
        let seconds = Int64(saturating: date.timeIntervalSince(now).rounded())
        let magnitude = seconds.magnitude
        let amount: String
        switch magnitude {
        case ..<60: amount = "\(magnitude) s"
        case ..<3600: amount = "\(magnitude / 60) min"
        case ..<86_400: amount = "\(magnitude / 3600) h"
        default: amount = "\(magnitude / 86_400) d"
        }
        return seconds > 0 ? "in \(amount)" : "\(amount) ago"
    }

    /// `bytes` random bytes from the system generator, as hex.
    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    private static var navigation: HTML {
        let tabs: [HTML] = [("/", "Overview"), ("/jobs", "Jobs"), ("/batches", "Batches")].map { path, label in
            "<a href=\"\(DashboardURL.make(path))\">\(label)</a>"
        }
        let states: [HTML] = [JobState.available, .running, .scheduled, .dead].map { state in
            "<a href=\"\(DashboardURL.make("/jobs", [("state", state.rawValue)]))\">\(state.rawValue.capitalized)</a>"
        }
        return HTML.join(tabs + states, separator: " ")
    }

    private static let style = """
        :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --line: #d9dde5; --bg: #fff; --head: #f4f6f9; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e6e8ec; --muted: #9aa1ad; --line: #39404c; --bg: #15181d; --head: #1e2229; } }
        body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: var(--fg); background: var(--bg); }
        header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1.2em; background: var(--head); border-bottom: 1px solid var(--line); }
        header nav a { margin-right: .9em; } .brand { font-weight: 700; font-size: 1.15em; }
        main { padding: 1em 1.2em; max-width: 1200px; } footer { padding: 1em 1.2em; color: var(--muted); font-size: .85em; }
        a { color: #2a62c9; text-decoration: none; } a:hover { text-decoration: underline; }
        h1 { font-size: 1.35em; margin: .2em 0 .6em; } h2 { font-size: 1.1em; margin: 1.4em 0 .5em; }
        table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--head); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .muted { color: var(--muted); } .mono, td.id { font-family: ui-monospace, monospace; font-size: .92em; }
        pre { background: var(--head); border: 1px solid var(--line); padding: .7em; overflow: auto; max-height: 28em; white-space: pre-wrap; word-break: break-word; }
        .badge { display: inline-block; padding: 0 .5em; border-radius: .8em; font-size: .85em; background: #e5e7eb; color: #111; }
        .badge.available { background: #dbeafe; } .badge.running { background: #fef3c7; } .badge.scheduled { background: #ede9fe; }
        .badge.succeeded { background: #d1fae5; } .badge.dead { background: #fee2e2; } .badge.cancelled { background: #e5e7eb; }
        .badge.paused { background: #fde68a; } .badge.pending { background: #e0e7ff; }
        form.action { display: inline; margin-right: .3em; } button { font: inherit; padding: .15em .7em; cursor: pointer; }
        form.delete button, form.retry-dead button { color: #b91c1c; }
        .notice { background: #ecfdf5; color: #065f46; border: 1px solid #a7f3d0; padding: .5em .8em; }
        .tabs a { margin-right: .8em; } .tabs a.current { font-weight: 700; text-decoration: underline; }
        .filters { margin: .8em 0; } .filters input, .filters select { font: inherit; margin-right: .6em; }
        ul.counts { list-style: none; display: flex; flex-wrap: wrap; gap: 1em; padding: 0; }
        .charts { display: flex; flex-wrap: wrap; gap: 1.5em; } .charts figure { margin: 0; }
        svg.chart { max-width: 100%; height: auto; } svg .succeeded { fill: #10b981; } svg .dead { fill: #ef4444; }
        svg .axis { font-size: 10px; fill: var(--muted); } svg .grid { stroke: var(--line); stroke-dasharray: 2 3; } svg .axisline { stroke: var(--muted); }
        dl.fields { display: grid; grid-template-columns: max-content auto; gap: .25em 1.2em; } dl.fields dt { color: var(--muted); } dl.fields dd { margin: 0; }
        """
}
