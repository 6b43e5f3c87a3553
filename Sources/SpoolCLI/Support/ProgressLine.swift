/// A one-line progress counter on standard error (`label: 523,000 / 1,000,000`), redrawn in
/// place with carriage returns while a phase of a workload runs.
///
/// It draws only when standard error is a terminal; otherwise ``track(_:total:count:_:)`` just
/// runs its body, so logs and pipes stay quiet. The counter is read every 100 ms from a child
/// task: it reports progress and never decides when a workload is done.
struct ProgressLine: Sendable {
    /// Whether anything is drawn.
    let enabled: Bool

    init(enabled: Bool = Terminal.stderrIsTerminal) {
        self.enabled = enabled
    }

    /// Runs `body` while the line shows `label` and `count()` out of `total`, then clears it.
    func track<T>(
        _ label: String, total: Int, count: @escaping @Sendable () -> Int,
        _ body: () async throws -> T
    ) async throws -> T {
        guard enabled else { return try await body() }
        defer { Terminal.writeError("\r\u{1B}[2K") }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    Terminal.writeError("\r\u{1B}[2K\(label): \(Format.grouped(count())) / \(Format.grouped(total))")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let result = try await body()
            group.cancelAll()
            return result
        }
    }
}
