/// An error from Spool itself (not from a job's handler), with the context needed to act on it.
///
/// Compare with the static members (`error.code == .queueFull`); new codes may be added, so do
/// not assume the list is closed.
public struct SpoolError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Value: String, Sendable {
            case queueFull
            case illegalTransition
            case unknownKind
            case undecodablePayload
            case unencodablePayload
            case jobNotFound
            case invalidArgument
            case unprocessable
            case storageUnavailable
            case shutdown
        }
        fileprivate let value: Value

        /// A bounded queue is full and the enqueue was asked not to wait.
        public static let queueFull = Code(value: .queueFull)
        /// A state change the job state machine refuses.
        public static let illegalTransition = Code(value: .illegalTransition)
        /// No handler is registered for a job's kind.
        public static let unknownKind = Code(value: .unknownKind)
        /// A job's payload could not be decoded into its parameters type.
        public static let undecodablePayload = Code(value: .undecodablePayload)
        /// A job's parameters could not be encoded.
        public static let unencodablePayload = Code(value: .unencodablePayload)
        /// No job has the given id.
        public static let jobNotFound = Code(value: .jobNotFound)
        /// An argument was out of range or malformed.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// A well-formed request that names something that cannot take it: an unknown dependency
        /// or batch, a dependency cycle, a batch that has finished, or a driver that does not keep
        /// batches and dependencies (the HTTP API answers 422).
        public static let unprocessable = Code(value: .unprocessable)
        /// The storage could not be reached or refused the operation.
        public static let storageUnavailable = Code(value: .storageUnavailable)
        /// The storage or worker is shutting down.
        public static let shutdown = Code(value: .shutdown)

        public var description: String { value.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence saying what went wrong, with the values involved.
    public let message: String
    /// The job concerned, when there is one.
    public let job: JobID?

    public init(code: Code, message: String, job: JobID? = nil) {
        self.code = code
        self.message = message
        self.job = job
    }

    public var description: String {
        if let job { return "\(message) (job \(job))" }
        return message
    }

    static func queueFull(queue: String, capacity: Int) -> SpoolError {
        SpoolError(code: .queueFull, message: "queue '\(queue)' is full: it holds its capacity of \(capacity) waiting jobs")
    }

    static func illegalTransition(from state: JobState, event: JobEvent, job: JobID?) -> SpoolError {
        SpoolError(code: .illegalTransition, message: "a \(state.rawValue) job cannot \(event.rawValue)", job: job)
    }

    static func notFound(_ id: JobID) -> SpoolError {
        SpoolError(code: .jobNotFound, message: "no job has id \(id)", job: id)
    }

    static func invalid(_ message: String) -> SpoolError {
        SpoolError(code: .invalidArgument, message: message)
    }
}
