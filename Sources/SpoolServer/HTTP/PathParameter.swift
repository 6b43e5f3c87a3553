import Foundation
import Hummingbird
import Spool

/// Reads the parameters of a route's path (`{name}`, `{id}`) as the client meant them.
///
/// The router hands them over as sent, percent-encoded: `POST /v1/queues/a%20b/pause` must
/// pause the queue `a b`, not one named `a%20b`.
enum PathParameter {
    /// The parameter `name`, percent-decoded (`+` stays a plus: this is a path, not a form).
    /// - Throws: ``Problem`` 400 when it is not valid percent-encoding of UTF-8 text.
    static func decoded(_ parameters: Parameters, _ name: String) throws -> String {
        try decode(try parameters.require(name), name: name)
    }

    /// `raw`, percent-decoded.
    /// - Throws: ``Problem`` 400 naming `name` when `raw` is not valid percent-encoding of UTF-8.
    static func decode(_ raw: String, name: String) throws -> String {
        guard let text = raw.removingPercentEncoding else {
            throw Problem.invalidPathParameter(
                name, detail: "path parameter '\(name)' is not valid percent-encoding of UTF-8 text (got '\(raw)')"
            )
        }
        return text
    }

    /// The queue name in parameter `name`: decoded, then checked and normalised to NFC by
    /// `JobInput.name(_:field:)`.
    /// - Throws: ``Problem`` 400 naming the parameter for bad encoding, an empty or overlong
    ///   name, or a control character.
    static func queueName(_ parameters: Parameters, _ name: String = "name") throws -> String {
        try checkedName(try decoded(parameters, name), parameter: name)
    }

    /// `text` checked and normalised as a name by `JobInput.name(_:field:)`.
    /// - Throws: ``Problem`` 400 naming `parameter`.
    static func checkedName(_ text: String, parameter: String) throws -> String {
        do {
            return try JobInput.name(text, field: parameter)
        } catch let error as SpoolError {
            throw Problem.invalidPathParameter(parameter, detail: error.message)
        }
    }
}
