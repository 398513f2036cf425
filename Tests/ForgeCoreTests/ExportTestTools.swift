import Foundation
import XCTest

@testable import ForgeCore

// What the export test classes share: their fixtures, files on disk, YAML read by PyYAML, and
// the real tools (validators) that read what forge writes.

/// Fixtures and file helpers for the export tests.
class ExportTestCase: XCTestCase {
  let procfile = "web: ./server --port $PORT\nworker: ./work\nclock: ./tick\n"

  /// Values that break naive quoting, for every env file format.
  let trickyEnv = """
    DATABASE_URL=postgres://app:secret@db/app
    QUOTES="say \\"hi\\" and it's 100% \\$5 `x`"
    BACKSLASH="ends in \\\\"
    MULTILINE="line one
    line two"
    NO=no
    NUMBER=0123
    UNICODE='größe ✓'
    PORT=6000
    PS=web.9

    """

  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  func dictionary(_ pairs: [(key: String, value: String)]) -> [String: String] {
    var result: [String: String] = [:]
    for (key, value) in pairs { result[key] = value }
    return result
  }

  func temporaryDirectory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-export-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
  }

  func write(_ file: ExportFile, in directory: String) throws {
    let url = URL(fileURLWithPath: directory).appendingPathComponent(file.path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(file.text.utf8).write(to: url)
  }

  /// `files` written to a new temporary directory, which is returned.
  func written(_ files: [ExportFile]) throws -> String {
    let directory = try temporaryDirectory()
    for file in files { try write(file, in: directory) }
    return directory
  }

  /// Every file below `directory`, as sorted relative paths.
  func listFiles(_ directory: String) throws -> [String] {
    let enumerator = try XCTUnwrap(FileManager.default.enumerator(atPath: directory))
    var paths: [String] = []
    while let path = enumerator.nextObject() as? String {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory),
        !isDirectory.boolValue
      {
        paths.append(path)
      }
    }
    return paths.sorted()
  }
}

// MARK: - Validators

/// A missing validator under CI: the test fails with this.
struct ValidatorMissing: Error, CustomStringConvertible {
  let description: String
}

/// The real tools that check what `forge export` writes, found in `.build/tools/bin` (where
/// `make validators` installs them) or on PATH. A test never passes silently without its tool:
/// it says so on stderr, then fails under CI (`CI=true`) and is skipped elsewhere.
enum Validator {
  static let installed = ExportTestCase.repository.appendingPathComponent(".build/tools/bin").path

  static func kubernetesValidate() throws -> [String] {
    try require(
      "kubernetes-validate", candidates: [[installed + "/kubernetes-validate"], ["kubernetes-validate"]],
      check: ["--version"])
  }

  /// Compose v2: v1 (docker-compose 1.x) rejects the top-level `name` every Compose file has now.
  static func dockerCompose() throws -> [String] {
    try require(
      "docker-compose (Compose v2)",
      candidates: [[installed + "/docker-compose"], ["docker-compose"], ["docker", "compose"]],
      check: ["version", "--short"]
    ) { output in
      let version = output.trimmingCharacters(in: .whitespacesAndNewlines)
      return Int(version.drop { $0 == "v" }.prefix { $0.isNumber }).map { $0 >= 2 } ?? false
    }
  }

  static func systemdAnalyze() throws -> [String] {
    try require("systemd-analyze", candidates: [["systemd-analyze"]], check: ["--version"])
  }

  /// The first of `candidates` that runs `check` with status 0 and output `accept` takes.
  static func require(
    _ name: String, candidates: [[String]], check: [String], accept: (String) -> Bool = { _ in true }
  ) throws -> [String] {
    for command in candidates {
      if let result = try? runTool(command + check), result.status == 0, accept(result.output) { return command }
    }
    let message = "VALIDATOR MISSING: \(name) — export not validated (`make validators` installs it)"
    FileHandle.standardError.write(Data("\n\(message)\n".utf8))
    if ProcessInfo.processInfo.environment["CI"] == "true" { throw ValidatorMissing(description: message) }
    throw XCTSkip(message)
  }
}

// MARK: - YAML

enum YAMLReader {
  /// Parses each document with PyYAML (`yaml.safe_load`, YAML 1.1: the strictest reading of
  /// `no`, `on` and friends) and returns them as Foundation objects; skips the test when
  /// python3 or PyYAML is missing.
  static func load(_ documents: [String]) throws -> [Any] {
    let script = "import sys, json, yaml; json.dump([yaml.safe_load(d) for d in json.load(sys.stdin)], sys.stdout)"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let input = Foundation.Pipe()
    let output = Foundation.Pipe()
    let errors = Foundation.Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    do {
      try process.run()
    } catch {
      throw XCTSkip("python3 is not available: \(error)")
    }
    input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: documents))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    if message.contains("No module named 'yaml'") { throw XCTSkip("PyYAML is not installed") }
    guard process.terminationStatus == 0 else {
      XCTFail("YAML did not parse: \(message)")
      return []
    }
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [Any])
  }

  static func loadOne(_ document: String) throws -> [String: Any] {
    try XCTUnwrap(try load([document]).first as? [String: Any], "not a mapping: \(document)")
  }
}

/// `value[keys…]` through nested mappings and lists (an Int key indexes a list).
func dig(_ value: Any?, _ keys: Any...) -> Any? {
  var current = value
  for key in keys {
    if let name = key as? String {
      current = (current as? [String: Any])?[name]
    } else if let index = key as? Int, let list = current as? [Any], index < list.count {
      current = list[index]
    } else {
      return nil
    }
  }
  return current
}

/// Runs a program, returning its status and combined output; nil when it is not installed.
func runTool(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String)? {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = arguments
  var merged = ProcessInfo.processInfo.environment
  for (key, value) in environment { merged[key] = value }
  process.environment = merged
  let output = Foundation.Pipe()
  process.standardOutput = output
  process.standardError = output
  try process.run()
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let text = String(decoding: data, as: UTF8.self)
  if process.terminationStatus == 127 && text.contains("No such file") { return nil }
  return (process.terminationStatus, text)
}
