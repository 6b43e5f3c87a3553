/// How long a failed job waits before its next attempt.
///
/// Strategies are values: `.exponential()` (the default), `.fixed(.seconds(30))`, `.none`, or
/// `.custom { attempt in ... }`. Whether another attempt happens at all is decided by the job's
/// max attempts; the strategy only picks the delay.
public struct RetryStrategy: Sendable {
    enum Kind: Sendable {
        case exponential(base: Duration, factor: Double, maximum: Duration, jitter: Double)
        case fixed(Duration)
        case none
        case custom(@Sendable (Int) -> Duration?)
    }

    let kind: Kind

    /// Waits `base × factor^(attempt−1)`, capped at `maximum`, then spread by ±`jitter`
    /// (a fraction; 0.1 = ±10%) so many failing jobs do not retry in lockstep.
    ///
    /// The defaults (1 s, ×2, at most 1 hour, ±10%) retry 20 attempts over about a day.
    public static func exponential(
        base: Duration = .seconds(1), factor: Double = 2, maximum: Duration = .seconds(3600), jitter: Double = 0.1
    ) -> RetryStrategy {
        RetryStrategy(kind: .exponential(base: base, factor: max(1, factor), maximum: maximum, jitter: min(1, max(0, jitter))))
    }

    /// Waits the same `delay` before every retry.
    public static func fixed(_ delay: Duration) -> RetryStrategy {
        RetryStrategy(kind: .fixed(delay))
    }

    /// Never retries: the first failure sends the job to `dead`, whatever its max attempts.
    public static let none = RetryStrategy(kind: .none)

    /// Asks `delay(attempt)` for the wait after failed attempt `attempt` (1-based); nil means do
    /// not retry (the job goes to `dead`).
    public static func custom(_ delay: @escaping @Sendable (Int) -> Duration?) -> RetryStrategy {
        RetryStrategy(kind: .custom(delay))
    }

    /// The default: `.exponential()`.
    public static let `default` = RetryStrategy.exponential()

    /// The wait after failed attempt `attempt` (1-based), or nil for no retry.
    /// - Parameters:
    ///   - attempt: the attempt that failed, counting from 1.
    ///   - random: a number in 0..<1 that picks the jitter (injected so tests are exact).
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0..<1)) -> Duration? {
        switch kind {
        case .none:
            return nil
        case .fixed(let delay):
            return delay
        case .custom(let pick):
            return pick(attempt)
        case .exponential(let base, let factor, let maximum, let jitter):
            let exponent = Double(max(0, attempt - 1))
            let raw = min(maximum.seconds, base.seconds * pow(factor, exponent))
            let spread = raw * jitter * (random * 2 - 1)
            return Duration(saturatingSeconds: max(0, raw + spread))
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
