import Foundation
import XCTest

@testable import ForgeCore

/// Runs every case of the shared conformance files (copied into Tests/Fixtures) against the
/// Procfile and .env parsers. A failing case is a bug in forge: the cases are the spec.
final class ConformanceTests: XCTestCase {
  private static let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

  private func loadCases(_ name: String) throws -> [[String: Any]] {
    let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
    let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]], "\(name) is not a list")
    XCTAssertFalse(cases.isEmpty, "\(name) has no cases")
    return cases
  }

  /// Which line an error is expected on, or nil when the case expects a result.
  private func expectedErrorLine(_ expect: [String: Any]) -> Int? {
    (expect["error"] as? [String: Any])?["line"] as? Int
  }

  func testProcfileCases() throws {
    let cases = try loadCases("procfile.json")
    var failures: [String] = []
    for testCase in cases {
      let id = testCase["id"] as? String ?? "?"
      guard let text = testCase["procfile"] as? String, let expect = testCase["expect"] as? [String: Any] else {
        XCTFail("[\(id)] malformed case")
        continue
      }
      let actual: String
      do {
        let procfile = try Procfile.parse(Array(text.utf8), path: "Procfile")
        actual = "processes \(procfile.entries.map { [$0.name, $0.command] })"
      } catch {
        actual = "error on line \(error.line) (\(error.message))"
      }
      let expected: String
      if let line = expectedErrorLine(expect) {
        expected = "error on line \(line)"
        if actual.hasPrefix(expected + " (") { continue }
      } else {
        let processes = try XCTUnwrap(expect["processes"] as? [[String]], "[\(id)] bad expect")
        expected = "processes \(processes)"
        if actual == expected { continue }
      }
      failures.append(id)
      XCTFail("procfile case [\(id)]: expected \(expected), got \(actual); input \(String(reflecting: text))")
    }
    XCTAssertEqual(failures, [], "failing procfile cases")
  }

  func testDotEnvCases() throws {
    let cases = try loadCases("dotenv.json")
    var failures: [String] = []
    for testCase in cases {
      let id = testCase["id"] as? String ?? "?"
      guard let text = testCase["env_text"] as? String, let expect = testCase["expect"] as? [String: Any],
        let processEnv = testCase["process_env"] as? [String: String]
      else {
        XCTFail("[\(id)] malformed case")
        continue
      }
      var actualEnv: [String: String]? = nil
      var actualError: ConfigError? = nil
      do {
        let pairs = try DotEnv.parse(Array(text.utf8), path: ".env") { processEnv[$0] }
        var env: [String: String] = [:]
        for (key, value) in pairs {
          XCTAssertNil(env[key], "[\(id)] key \(key) returned twice")
          env[key] = value
        }
        actualEnv = env
      } catch {
        actualError = error
      }
      let ok: Bool
      let expected: String
      if let line = expectedErrorLine(expect) {
        ok = actualError?.line == line
        expected = "error on line \(line)"
      } else {
        let env = try XCTUnwrap(expect["env"] as? [String: String], "[\(id)] bad expect")
        ok = actualEnv == env
        expected = "env \(env.sorted { $0.key < $1.key })"
      }
      if ok { continue }
      let actual =
        actualError.map { "error on line \($0.line) (\($0.message))" }
        ?? "env \(actualEnv!.sorted { $0.key < $1.key })"
      failures.append(id)
      XCTFail("dotenv case [\(id)]: expected \(expected), got \(actual); input \(String(reflecting: text))")
    }
    XCTAssertEqual(failures, [], "failing dotenv cases")
  }
}
