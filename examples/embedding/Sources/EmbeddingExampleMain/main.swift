import EmbeddingExample
import Logging

/// Prints instead of mailing.
struct ConsoleMailer: Mailer {
    func sendWelcome(to address: String, userID: Int) async throws {
        print("welcome mail to \(address) (user \(userID))")
    }
}

// swift run spool-example-embedding, then:
//   curl -s -X POST localhost:8080/signup -d '{"user_id": 1, "address": "ada@example.com"}'
try await SignupApp(mailer: ConsoleMailer()).run(port: 8080)
