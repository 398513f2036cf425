import XCTest

/// `forge check`: the real binary on good and bad Procfiles and env files.
final class CheckCommandTests: ForgeTestCase {
  private func check(
    _ files: [String: String], _ arguments: [String] = [], environment: [String: String] = [:]
  ) throws -> ForgeResult {
    let project = try makeProject(files)
    return try runForge(["check"] + arguments, in: project, environment: environment)
  }

  /// Asserts exit status 2 and exactly `message` (one line) on stderr, nothing on stdout.
  private func assertConfigError(
    _ result: ForgeResult, _ message: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(result.status, 2, "exit status; stderr: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderr, message + "\n", file: file, line: line)
    XCTAssertEqual(result.stdout, "", file: file, line: line)
  }

  func testValidProcfile() throws {
    let result = try check(["Procfile": "web: python3 -m http.server $PORT\nworker: sleep 600\n"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "valid procfile detected (web, worker)\n")
    XCTAssertEqual(result.stderr, "")
  }

  func testValidProcfileWithCommentsBlankLinesCRLFAndContinuation() throws {
    let procfile = "# comment\r\n\r\nweb: echo a \\\r\n  b\r\n  worker-2: x\r\nclock: date # not a comment\r\n"
    let result = try check(["Procfile": procfile])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "valid procfile detected (web, worker-2, clock)\n")
  }

  func testValidEnvFileIsAccepted() throws {
    let result = try check([
      "Procfile": "web: run\n",
      ".env": "A=1\nexport B='two words'\nC=\"x\\ny\" # comment\n\n# c\nD: yaml\n",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "valid procfile detected (web)\n")
  }

  func testBadLineReportsFileAndLine() throws {
    let result = try check(["Procfile": "web: run\n\nthis line has no colon\n"])
    assertConfigError(
      result, "forge: Procfile:3: expected \"name: command\" with a name of letters, digits, '_' or '-'")
  }

  func testSpaceBeforeColonIsABadLine() throws {
    let result = try check(["Procfile": "web : run\n"])
    assertConfigError(
      result, "forge: Procfile:1: expected \"name: command\" with a name of letters, digits, '_' or '-'")
  }

  func testDuplicateProcessType() throws {
    let result = try check(["Procfile": "web: a\nworker: b\nweb: c\n"])
    assertConfigError(result, "forge: Procfile:3: duplicate process type \"web\" (first defined on line 1)")
  }

  func testEmptyCommand() throws {
    let result = try check(["Procfile": "web: a\nworker:   \n"])
    assertConfigError(result, "forge: Procfile:2: empty command for \"worker\"")
  }

  func testNoProcessTypes() throws {
    let result = try check(["Procfile": "# only a comment\n\n"])
    assertConfigError(result, "forge: Procfile: no process types defined")
  }

  func testMissingProcfile() throws {
    let result = try check([:])
    assertConfigError(result, "forge: Procfile: no such file")
  }

  func testProcfileGivenWithFlagIsNamedInErrors() throws {
    let result = try check(["config/Procfile.dev": "web: a\nbad line\n"], ["-f", "config/Procfile.dev"])
    assertConfigError(
      result,
      "forge: config/Procfile.dev:2: expected \"name: command\" with a name of letters, digits, '_' or '-'")
  }

  func testBadEnvLine() throws {
    let result = try check(["Procfile": "web: a\n", ".env": "GOOD=1\n\nthis is not an assignment\n"])
    assertConfigError(result, "forge: .env:3: expected '=' after this")
  }

  func testUnterminatedDoubleQuoteReportsTheLineItStarts() throws {
    let result = try check(["Procfile": "web: a\n", ".env": "A=1\nB=\"never closed\nC=3\n"])
    assertConfigError(result, "forge: .env:2: unterminated double-quoted value")
  }

  func testUnterminatedSingleQuote() throws {
    let result = try check(["Procfile": "web: a\n", ".env": "A='open\n"])
    assertConfigError(result, "forge: .env:1: unterminated single-quoted value")
  }

  func testTextAfterClosingQuote() throws {
    let result = try check(["Procfile": "web: a\n", ".env": "A=1\nB=\"x\" y\n"])
    assertConfigError(result, "forge: .env:2: unexpected text after the closing quote")
  }

  func testMissingExplicitEnvFileIsAnError() throws {
    let result = try check(["Procfile": "web: a\n", "a.env": "A=1\n"], ["-e", "a.env,missing.env"])
    assertConfigError(result, "forge: missing.env: no such file")
  }

  func testMissingEnvFileFromVariableIsAnError() throws {
    let result = try check(["Procfile": "web: a\n"], environment: ["FORGE_ENV": "nope.env"])
    assertConfigError(result, "forge: nope.env: no such file")
  }

  func testMissingDefaultEnvFileIsFine() throws {
    let result = try check(["Procfile": "web: a\n"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "valid procfile detected (web)\n")
    XCTAssertEqual(result.stderr, "")
  }

  func testErrorInSecondEnvFileNamesThatFile() throws {
    let result = try check(
      ["Procfile": "web: a\n", "a.env": "A=1\n", "b.env": "B=2\n=3\n"], ["-e", "a.env,b.env"])
    assertConfigError(
      result, "forge: b.env:2: expected KEY=value, where KEY is letters, digits, '_', '.' or '-'")
  }

  func testUnknownOptionIsAUsageError() throws {
    let result = try check(["Procfile": "web: a\n"], ["--bogus"])
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(
      result.stderr, "forge: unknown option --bogus\nTry 'forge help check' for more information.\n")
  }
}
