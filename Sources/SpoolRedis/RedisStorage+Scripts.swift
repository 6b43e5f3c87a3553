// RedisStorage: loading and running the Lua scripts, sending plain commands, and mapping errors.

import Spool
import Synchronization

extension RedisStorage {
    // MARK: Scripts

    func load(_ script: RedisScript, on connection: RESPConnection) async throws -> String {
        let reply = try checked(try await connection.send("SCRIPT", "LOAD", script.source))
        guard let sha = reply.string else { throw RedisCoding.corrupt("SCRIPT LOAD answered \(reply)") }
        scripts.withLock { $0[script] = sha }
        return sha
    }

    /// Runs a script with `EVALSHA`, loading it first when the server does not know it.
    func evaluate(_ script: RedisScript, _ arguments: [[UInt8]], on connection: RESPConnection) async throws -> RESPValue {
        let sha: String
        if let known = scripts.withLock({ $0[script] }) {
            sha = known
        } else {
            sha = try await load(script, on: connection)
        }
        var command: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha.utf8), Array("0".utf8), Array(prefix.utf8)] + arguments
        var reply = try await connection.send(command)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            command[1] = Array(try await load(script, on: connection).utf8)
            reply = try await connection.send(command)
        }
        return try checked(reply)
    }

    /// Runs a script on a pooled connection once the storage is ready; errors become
    /// ``SpoolError``s naming `operation`.
    func perform(_ script: RedisScript, _ arguments: [[UInt8]], _ operation: @autoclosure () -> String) async throws -> RESPValue {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try await evaluate(script, arguments, on: try await pool.connection())
        } catch {
            throw wrap(error, operation())
        }
    }

    /// Sends a plain command on a pooled connection once the storage is ready.
    func command(_ arguments: [[UInt8]], _ operation: @autoclosure () -> String) async throws -> RESPValue {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try checked(try await pool.send(arguments))
        } catch {
            throw wrap(error, operation())
        }
    }

    func checked(_ reply: RESPValue) throws -> RESPValue {
        if case .error(let message) = reply { throw RedisReplyError(message: message) }
        return reply
    }

    func wrap(_ error: any Error, _ operation: String) -> any Error {
        if error is SpoolError || error is CancellationError { return error }
        if let reply = error as? RedisReplyError, reply.code == "DUPLICATE" {
            return SpoolError(code: .invalidArgument, message: String(reply.message.dropFirst("DUPLICATE ".count)))
        }
        // `UNPROCESSABLE JOBID MESSAGE` (`-` for no job): a workflow the store refuses.
        if let reply = error as? RedisReplyError, reply.code == "UNPROCESSABLE" {
            let rest = reply.message.dropFirst("UNPROCESSABLE ".count)
            let job = rest.prefix { $0 != " " }
            return SpoolError(code: .unprocessable, message: String(rest.dropFirst(job.count + 1)), job: JobID(String(job)))
        }
        return SpoolError(code: .storageUnavailable, message: "Redis job store \(target): \(operation) failed: \(error)")
    }
}
