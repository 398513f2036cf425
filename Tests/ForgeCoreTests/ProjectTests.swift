import XCTest

@testable import ForgeCore

final class ProjectTests: XCTestCase {
  private let procfileText = "web: ./web\nworker: ./worker\n"

  private func settings(_ options: [(String, String)] = [], env: [(String, String)] = []) throws -> Settings {
    var values = OptionValues()
    for (name, value) in options { values.add(name, value) }
    return try Settings.resolve(options: values, environment: env.map { ($0.0, $0.1) }, workingDirectory: "/app")
  }

  /// Loads with an in-memory file system: paths not in `files` are missing.
  private func load(
    _ settings: Settings, _ files: [String: String], failing: [String: String] = [:], procfileOptional: Bool = false
  ) throws -> Project {
    try Project.load(settings, procfileOptional: procfileOptional) { path in
      if let reason = failing[path] { return .failed(reason) }
      return files[path].map { .ok(bytes($0)) } ?? .missing
    }
  }

  private func environment(_ project: Project) -> [String: String] {
    var result: [String: String] = [:]
    for (key, value) in project.environment { result[key] = value }
    return result
  }

  // Env files.

  func testLaterEnvFilesOverrideEarlierOnes() throws {
    let project = try load(
      try settings([("env", "a.env,b.env")]),
      ["Procfile": procfileText, "a.env": "A=1\nB=1\n", "b.env": "B=2\nC=2\n"])
    let env = environment(project)
    XCTAssertEqual(env["A"], "1")
    XCTAssertEqual(env["B"], "2")
    XCTAssertEqual(env["C"], "2")
  }

  func testExpansionInALaterFileSeesEarlierKeys() throws {
    let project = try load(
      try settings([("env", "a.env,b.env")], env: [("HOST", "process-host"), ("USER", "deploy")]),
      ["Procfile": procfileText, "a.env": "HOST=file-host\n", "b.env": "URL=http://$HOST/~$USER\n"])
    // Earlier files come before the process environment for expansion (rule 6), even though
    // the process environment wins the final value of HOST.
    XCTAssertEqual(environment(project)["URL"], "http://file-host/~deploy")
    XCTAssertEqual(environment(project)["HOST"], "process-host")
  }

  func testProcessEnvironmentWinsOverFiles() throws {
    let files = ["Procfile": procfileText, ".env": "A=file\nB=file\n"]
    let env = environment(try load(try settings(env: [("A", "process"), ("Z", "z")]), files))
    XCTAssertEqual(env["A"], "process")
    XCTAssertEqual(env["B"], "file")
    XCTAssertEqual(env["Z"], "z", "the rest of forge's environment is passed on")
  }

  func testEnvOverrideLetsFilesWin() throws {
    let files = ["Procfile": procfileText, ".env": "A=file\n"]
    let env = environment(try load(try settings([("env-override", "")], env: [("A", "process")]), files))
    XCTAssertEqual(env["A"], "file")
  }

  func testEnvironmentIsSortedByKey() throws {
    let project = try load(
      try settings(env: [("Z", "1"), ("B", "2")]), ["Procfile": procfileText, ".env": "M=3\nA=4\n"])
    XCTAssertEqual(project.environment.map(\.key), ["A", "B", "M", "Z"])
  }

  func testFileEnvironmentHoldsOnlyWhatTheFilesDefine() throws {
    let project = try load(
      try settings([("env", "a.env,b.env")], env: [("A", "process"), ("P", "p")]),
      ["Procfile": procfileText, "a.env": "A=1\nB=1\n", "b.env": "B=2\n"])
    XCTAssertEqual(project.fileEnvironment.map { "\($0.key)=\($0.value)" }, ["A=1", "B=2"])
  }

  func testMissingDefaultEnvFileIsFine() throws {
    let project = try load(try settings(env: [("A", "1")]), ["Procfile": procfileText])
    XCTAssertEqual(environment(project), ["A": "1"])
  }

  func testMissingExplicitEnvFileIsAnError() throws {
    assertConfigError(
      try load(try settings([("env", "a.env,b.env")]), ["Procfile": procfileText, "a.env": "A=1\n"]), line: 0,
      path: "b.env", mentioning: "no such file")
    assertConfigError(
      try load(try settings(env: [("FORGE_ENV", "c.env")]), ["Procfile": procfileText]), line: 0, path: "c.env")
  }

  func testUnreadableEnvFileIsAnError() throws {
    assertConfigError(
      try load(try settings(), ["Procfile": procfileText], failing: [".env": "Permission denied"]), line: 0,
      path: ".env", mentioning: "Permission denied")
  }

  func testEnvFileSyntaxErrorKeepsPathAndLine() throws {
    assertConfigError(
      try load(try settings([("env", "a.env,b.env")]), ["Procfile": procfileText, "a.env": "", "b.env": "A=1\nbad\n"]),
      line: 2, path: "b.env")
  }

  // Procfile.

  func testProcfileIsParsed() throws {
    let project = try load(try settings(), ["Procfile": procfileText])
    XCTAssertEqual(project.procfile.names, ["web", "worker"])
    XCTAssertEqual(project.procfileText, bytes(procfileText))
    XCTAssertEqual(project.counts, [1, 1])
  }

  func testMissingProcfile() throws {
    assertConfigError(try load(try settings(), [:]), line: 0, path: "Procfile", mentioning: "no such file")
    let project = try load(try settings(), [:], procfileOptional: true)
    XCTAssertEqual(project.procfile.entries, [])
    XCTAssertEqual(project.counts, [])
  }

  func testUnreadableProcfile() throws {
    assertConfigError(
      try load(try settings(), [:], failing: ["Procfile": "Is a directory"]), line: 0, path: "Procfile",
      mentioning: "Is a directory")
  }

  func testProcfileSyntaxError() throws {
    assertConfigError(try load(try settings(), ["Procfile": "web: a\nweb: b\n"]), line: 2, path: "Procfile")
  }

  func testFormationIsResolvedAgainstTheProcfile() throws {
    XCTAssertEqual(try load(try settings([("formation", "worker=3")]), ["Procfile": procfileText]).counts, [0, 3])
    assertConfigError(
      try load(try settings([("formation", "clock=1")]), ["Procfile": procfileText]), line: 0, path: "--formation",
      mentioning: "clock")
  }

  // PORT.

  func testBasePortDefaultsTo5000() throws {
    XCTAssertEqual(try load(try settings(), ["Procfile": procfileText]).basePort, 5000)
  }

  func testBasePortFromTheEnvironment() throws {
    XCTAssertEqual(try load(try settings(env: [("PORT", "7000")]), ["Procfile": procfileText]).basePort, 7000)
    XCTAssertEqual(try load(try settings(), ["Procfile": procfileText, ".env": "PORT=8000\n"]).basePort, 8000)
    XCTAssertEqual(
      try load(try settings(env: [("PORT", "7000")]), ["Procfile": procfileText, ".env": "PORT=8000\n"]).basePort,
      7000, "the process environment wins over the file for PORT too")
  }

  func testPortOptionWinsOverPORT() throws {
    let project = try load(
      try settings([("port", "6000")], env: [("PORT", "7000")]), ["Procfile": procfileText, ".env": "PORT=8000\n"])
    XCTAssertEqual(project.basePort, 6000)
  }

  func testInvalidPORT() throws {
    for bad in ["abc", "0", "65536"] {
      assertConfigError(
        try load(try settings(env: [("PORT", bad)]), ["Procfile": procfileText]), line: 0, path: "PORT", bad)
    }
  }

  // What an instance gets.

  func testInstanceEnvironment() throws {
    let project = try load(
      try settings(env: [("PORT", "7000"), ("PS", "old"), ("HOME", "/root")]),
      ["Procfile": procfileText, ".env": "DYNO=x\nFORGE_RELEASE=y\nA=1\n"])
    let entries = project.environment(for: "web.2", port: 7001)
    XCTAssertEqual(
      entries, ["A=1", "HOME=/root", "PORT=7001", "PS=web.2", "DYNO=web.2", "FORGE_RELEASE=\(project.releaseID)"])
  }

  // Release id.

  func testReleaseIDIsStableAndFollowsProcfileAndEnvironment() throws {
    let files = ["Procfile": procfileText, ".env": "A=1\n"]
    let first = try load(try settings(), files).releaseID
    XCTAssertEqual(first.count, 8)
    XCTAssertTrue(first.allSatisfy { $0.isHexDigit && !$0.isUppercase }, first)
    XCTAssertEqual(try load(try settings(), files).releaseID, first)
    XCTAssertNotEqual(try load(try settings(), ["Procfile": procfileText, ".env": "A=2\n"]).releaseID, first)
    XCTAssertNotEqual(try load(try settings(env: [("B", "")]), files).releaseID, first)
    XCTAssertNotEqual(try load(try settings(), ["Procfile": procfileText + "\n", ".env": "A=1\n"]).releaseID, first)
  }

  func testReleaseSeparatesKeysFromValues() {
    XCTAssertNotEqual(
      Project.release(procfileText: [], environment: [("AB", "C")]),
      Project.release(procfileText: [], environment: [("A", "BC")]))
  }

  func testFNV1aKnownValues() {
    var hash = FNV1a()
    XCTAssertEqual(hash.hex(digits: 16), "cbf29ce484222325")
    hash.add(bytes("a"))
    XCTAssertEqual(hash.hex(digits: 16), "af63dc4c8601ec8c")
    var foobar = FNV1a()
    foobar.add(bytes("foo"))
    foobar.add(bytes("bar"))
    XCTAssertEqual(foobar.hex(digits: 16), "85944171f73967e8")
    XCTAssertEqual(foobar.hex(digits: 8), "85944171")
  }

  func testMerge() {
    let merged = Project.merge(process: [("A", "p"), ("C", "p")], files: [("A", "f"), ("B", "f")], filesWin: false)
    XCTAssertEqual(merged.map { "\($0.key)=\($0.value)" }, ["A=p", "B=f", "C=p"])
    let filesWin = Project.merge(process: [("A", "p"), ("C", "p")], files: [("A", "f"), ("B", "f")], filesWin: true)
    XCTAssertEqual(filesWin.map { "\($0.key)=\($0.value)" }, ["A=f", "B=f", "C=p"])
  }
}
