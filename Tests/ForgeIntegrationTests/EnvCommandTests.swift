import Foundation
import XCTest

/// `forge env`: the merged environment, its precedence rules and its two output forms.
final class EnvCommandTests: ForgeTestCase {
  /// Runs `forge env` and returns its stdout lines, asserting success.
  private func env(
    _ project: ForgeProject, _ arguments: [String] = [], environment: [String: String] = [:],
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> [String] {
    let result = try runForge(["env"] + arguments, in: project, environment: environment)
    XCTAssertEqual(result.status, 0, "stderr: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderr, "", file: file, line: line)
    return result.stdoutLines
  }

  /// The value printed for `key` (the text after `KEY=`), or nil.
  private func value(_ key: String, in lines: [String]) -> String? {
    lines.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
  }

  func testPrintsSortedAndShellQuoted() throws {
    let project = try makeProject([
      "Procfile": "web: run\n",
      ".env": "ZED=last\nAPP_NAME=demo\nGREETING='hello world'\nQUOTE=\"it's\"\nEMPTY=\nURL=http://x.test/a?b\n",
    ])
    let lines = try env(project)
    let keys = lines.map { String($0.prefix { $0 != "=" }) }
    XCTAssertEqual(keys, keys.sorted(), "keys are sorted: \(lines)")
    XCTAssertEqual(value("APP_NAME", in: lines), "demo")
    XCTAssertEqual(value("ZED", in: lines), "last")
    XCTAssertEqual(value("GREETING", in: lines), "'hello world'")
    XCTAssertEqual(value("QUOTE", in: lines), #"'it'\''s'"#)
    XCTAssertEqual(value("EMPTY", in: lines), "''")
    XCTAssertEqual(value("URL", in: lines), "'http://x.test/a?b'")
    // forge's own environment is part of it.
    XCTAssertEqual(value("PATH", in: lines), ForgeHarness.path)
    // PORT, PS and DYNO are per process, not part of `forge env`.
    XCTAssertNil(value("PS", in: lines))
    XCTAssertNil(value("DYNO", in: lines))
  }

  func testQuotedOutputRoundTripsThroughTheShell() throws {
    let project = try makeProject([
      "Procfile": "web: run\n",
      ".env": "TRICKY=\"a 'b' \\\"c\\\" $ \\\\ d\"\n",
    ])
    let lines = try env(project)
    let printed = try XCTUnwrap(lines.first { $0.hasPrefix("TRICKY=") })
    let result = try runShell("\(printed); printf '%s' \"$TRICKY\"")
    XCTAssertEqual(result, #"a 'b' "c" $ \ d"#)
  }

  func testJSONIsOneObject() throws {
    let project = try makeProject([
      "Procfile": "web: run\n",
      ".env": "A=1\nMULTI=\"line1\\nline2\"\nUNI=caf\u{e9}\n",
    ])
    let lines = try env(project, ["--json"])
    XCTAssertEqual(lines.count, 1, "one line: \(lines)")
    let object = try XCTUnwrap(
      JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String], "an object of strings")
    XCTAssertEqual(object["A"], "1")
    XCTAssertEqual(object["MULTI"], "line1\nline2")
    XCTAssertEqual(object["UNI"], "caf\u{e9}")
    XCTAssertEqual(object["HOME"], project.directory)
  }

  func testForgeEnvironmentWinsOverDotEnv() throws {
    let project = try makeProject(["Procfile": "web: run\n", ".env": "FOO=from-file\nONLY_FILE=f\n"])
    let lines = try env(project, environment: ["FOO": "from-env"])
    XCTAssertEqual(value("FOO", in: lines), "from-env")
    XCTAssertEqual(value("ONLY_FILE", in: lines), "f")
  }

  func testEnvOverrideLetsFilesWin() throws {
    let project = try makeProject(["Procfile": "web: run\n", ".env": "FOO=from-file\n"])
    XCTAssertEqual(
      value("FOO", in: try env(project, ["--env-override"], environment: ["FOO": "from-env"])), "from-file")
    XCTAssertEqual(
      value("FOO", in: try env(project, environment: ["FOO": "from-env", "FORGE_ENV_OVERRIDE": "1"])),
      "from-file")
  }

  func testLaterEnvFileOverridesEarlier() throws {
    let project = try makeProject([
      "Procfile": "web: run\n",
      "a.env": "SHARED=a\nONLY_A=a\n",
      "b.env": "SHARED=b\nONLY_B=b\nFROM_A=${ONLY_A}-seen\n",
    ])
    let lines = try env(project, ["-e", "a.env,b.env"])
    XCTAssertEqual(value("SHARED", in: lines), "b")
    XCTAssertEqual(value("ONLY_A", in: lines), "a")
    XCTAssertEqual(value("ONLY_B", in: lines), "b")
    XCTAssertEqual(value("FROM_A", in: lines), "a-seen")
    let reversed = try env(project, ["-e", "b.env,a.env"])
    XCTAssertEqual(value("SHARED", in: reversed), "a")
  }

  func testProcessEnvironmentStillWinsOverSeveralFiles() throws {
    let project = try makeProject(["Procfile": "web: run\n", "a.env": "K=a\n", "b.env": "K=b\n"])
    XCTAssertEqual(value("K", in: try env(project, ["-e", "a.env,b.env"], environment: ["K": "env"])), "env")
  }

  func testMissingNamedEnvFileFails() throws {
    let project = try makeProject(["Procfile": "web: run\n"])
    let result = try runForge(["env", "-e", "nope.env"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(result.stderr, "forge: nope.env: no such file\n")
  }

  /// Runs `script` with /bin/sh and returns its stdout.
  private func runShell(_ script: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }
}
