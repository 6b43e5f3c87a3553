import Foundation
import Spool
import Testing

@Suite("README")
struct ReadmeExampleTests {
    @Test func theLibraryExampleRuns() async throws {
        #expect(try await welcomeNewUser() == .succeeded)
    }

    @Test func theReadmeShowsTheCompiledExample() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let root = tests.deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: tests.appendingPathComponent("ReadmeExample.swift"), encoding: .utf8)
        let begin = try #require(source.range(of: "// README:begin\n"))
        let end = try #require(source.range(of: "// README:end"))
        let example = String(source[begin.upperBound..<end.lowerBound])
        #expect(readme.contains("```swift\n" + example + "```"), "README.md must show ReadmeExample.swift's code verbatim")
    }
}
