import Foundation
import XCTest

@testable import ForgeCore

/// Runs every case of the shared conformance files (copied into Tests/Fixtures) against the
/// Procfile and .env parsers. A failing case is a bug in forge: the cases are the spec.
final class ConformanceTests: XCTestCase {
  private struct Expectation: Decodable {
    struct Failure: Decodable { let line: Int }
    let processes: [[String]]?
    let env: [String: String]?
    let error: Failure?
  }

  private struct ProcfileCase: Decodable {
    let id: String
    let procfile: String
    let expect: Expectation
  }

  private struct DotEnvCase: Decodable {
    let id: String
    let envText: String
    let processEnv: [String: String]
    let expect: Expectation

    enum CodingKeys: String, CodingKey {
      case id, expect
      case envText = "env_text"
      case processEnv = "process_env"
    }
  }

  private static let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

  /// JSONDecoder, not JSONSerialization: on Linux the latter drops a U+FEFF that starts a
  /// string, which would hide the BOM cases.
  private func load<Case: Decodable>(_ name: String, as type: Case.Type) throws -> [Case] {
    let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
    let cases = try JSONDecoder().decode([Case].self, from: data)
    XCTAssertFalse(cases.isEmpty, "\(name) has no cases")
    return cases
  }

  func testProcfileCases() throws {
    let cases = try load("procfile.json", as: ProcfileCase.self)
    var failures: [String] = []
    for testCase in cases {
      if testCase.id.contains("bom") {
        XCTAssertEqual(
          Array(testCase.procfile.utf8.prefix(3)), [0xEF, 0xBB, 0xBF], "[\(testCase.id)] BOM lost in loading")
      }
      let actual: String
      do {
        let procfile = try Procfile.parse(Array(testCase.procfile.utf8), path: "Procfile")
        actual = "processes \(procfile.entries.map { [$0.name, $0.command] })"
      } catch {
        actual = "error on line \(error.line) (\(error.message))"
      }
      let expected: String
      if let failure = testCase.expect.error {
        expected = "error on line \(failure.line)"
        if actual.hasPrefix(expected + " (") { continue }
      } else {
        let processes = try XCTUnwrap(testCase.expect.processes, "[\(testCase.id)] expects nothing")
        expected = "processes \(processes)"
        if actual == expected { continue }
      }
      failures.append(testCase.id)
      XCTFail(
        "procfile case [\(testCase.id)]: expected \(expected), got \(actual); "
          + "input \(String(reflecting: testCase.procfile))"
      )
    }
    XCTAssertEqual(failures, [], "failing procfile cases")
    XCTAssertGreaterThanOrEqual(cases.count, 28)
  }

  func testDotEnvCases() throws {
    let cases = try load("dotenv.json", as: DotEnvCase.self)
    var failures: [String] = []
    for testCase in cases {
      if testCase.id.contains("bom") {
        XCTAssertEqual(
          Array(testCase.envText.utf8.prefix(3)), [0xEF, 0xBB, 0xBF], "[\(testCase.id)] BOM lost in loading")
      }
      var actualEnv: [String: String]? = nil
      var actualError: ConfigError? = nil
      do {
        let pairs = try DotEnv.parse(Array(testCase.envText.utf8), path: ".env") { testCase.processEnv[$0] }
        var env: [String: String] = [:]
        for (key, value) in pairs {
          XCTAssertNil(env[key], "[\(testCase.id)] key \(key) returned twice")
          env[key] = value
        }
        actualEnv = env
      } catch {
        actualError = error
      }
      let ok: Bool
      let expected: String
      if let failure = testCase.expect.error {
        ok = actualError?.line == failure.line
        expected = "error on line \(failure.line)"
      } else {
        let env = try XCTUnwrap(testCase.expect.env, "[\(testCase.id)] expects nothing")
        ok = actualEnv == env
        expected = "env \(env.sorted { $0.key < $1.key })"
      }
      if ok { continue }
      let actual =
        actualError.map { "error on line \($0.line) (\($0.message))" }
        ?? "env \((actualEnv ?? [:]).sorted { $0.key < $1.key })"
      failures.append(testCase.id)
      XCTFail(
        "dotenv case [\(testCase.id)]: expected \(expected), got \(actual); "
          + "input \(String(reflecting: testCase.envText))"
      )
    }
    XCTAssertEqual(failures, [], "failing dotenv cases")
    XCTAssertGreaterThanOrEqual(cases.count, 65)
  }
}
