import Foundation
import XCTest

@testable import ForgeCore

/// The shell tests that Compose healthchecks and systemd units run for forge's probes, run here
/// by /bin/sh against a real HTTP server on 127.0.0.1: with the tools on PATH, and with only
/// bash and curl (the fallbacks), so the fallback chain is proved, not just written.
final class ExportProbeTests: ExportTestCase {
  private var server: Process?

  override func tearDown() {
    server?.terminate()
    server?.waitUntilExit()
    super.tearDown()
  }

  /// Starts `python3 -m http.server`'s handler on a free port, serving a directory holding
  /// `health`; returns the port.
  private func startServer() throws -> Int {
    let root = try written([ExportFile("health", "ok\n")])
    let script = """
      import http.server, functools, sys
      handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
      server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
      print(server.server_address[1], flush=True)
      server.serve_forever()
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, root]
    let output = Foundation.Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { throw XCTSkip("python3 is not available: \(error)") }
    server = process
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { throw XCTSkip("python3 could not start an HTTP server") }
      line += chunk
    }
    return try XCTUnwrap(Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
  }

  /// A port nothing listens on: one the kernel just handed out and that was closed again.
  private func closedPort() throws -> Int {
    let result = try XCTUnwrap(
      try runTool([
        "python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
      ]))
    return try XCTUnwrap(Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)))
  }

  /// PATH values to run the tests with: as it is, and a directory with only bash and curl.
  private func paths() throws -> [String] {
    let onlyFallbacks = try temporaryDirectory()
    for tool in ["bash", "curl"] {
      guard let found = try runTool(["sh", "-c", "command -v \(tool)"]), found.status == 0 else {
        throw XCTSkip("\(tool) is not installed")
      }
      try FileManager.default.createSymbolicLink(
        atPath: onlyFallbacks + "/" + tool,
        withDestinationPath: found.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    return [ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", onlyFallbacks]
  }

  private func passes(_ test: String, path: String, port: Int? = nil) throws -> Bool {
    var environment = ["PATH": path]
    if let port { environment["PORT"] = String(port) }
    let result = try XCTUnwrap(try runTool(["/bin/sh", "-c", test], environment: environment))
    return result.status == 0
  }

  func testPortAndHTTPTestsPassOnlyWhenTheServerAnswers() throws {
    let port = try startServer()
    let closed = try closedPort()
    for path in try paths() {
      let test = { (probe: Probe, port: Int) in try XCTUnwrap(ExportProbes.shellTest(probe, port: String(port))) }
      XCTAssertTrue(try passes(try test(.port, port), path: path), path)
      XCTAssertFalse(try passes(try test(.port, closed), path: path), path)
      XCTAssertTrue(try passes(try test(.http(path: "/health"), port), path: path), path)
      XCTAssertFalse(try passes(try test(.http(path: "/missing"), port), path: path), "404: \(path)")
      XCTAssertFalse(try passes(try test(.http(path: "/health"), closed), path: path), path)
      // Quoted paths reach the server as written ("/a b" is not there: 404, not a shell error).
      XCTAssertFalse(try passes(try test(.http(path: "/health 'x' $HOME"), port), path: path), path)
    }
    XCTAssertTrue(try passes(try XCTUnwrap(ExportProbes.shellTest(.exec(command: "test 1 = 1"), port: "1")), path: ""))
    XCTAssertNil(ExportProbes.shellTest(.log(text: "x"), port: "1"))
    XCTAssertNil(ExportProbes.shellTest(.notify, port: "1"))
  }

  func testSystemdStartPostLoopEndsOnceTheProbePasses() throws {
    let port = try startServer()
    let project = try exportProject(procfile: "web: ./web\nworker: ./w\n", options: [("formation", "all=1")])
    let plan = try exportPlan(project, probes: [("ready", #"web=http:/health,worker=exec:test "$PORT" -gt 0"#)])
    let files = try ExportFormat.systemd.files(plan)
    for type in ["web", "worker"] {
      let unit = UnitFile(try exportFile(files, "example-\(type)@.service").text)
      let loop = try XCTUnwrap(SystemdReader.shellCommand(try XCTUnwrap(unit.value("Service", "ExecStartPost"))))
      // systemd gives the loop the unit's environment, PORT from the instance's drop-in.
      XCTAssertTrue(try passes(loop, path: ProcessInfo.processInfo.environment["PATH"] ?? "", port: port), loop)
    }
  }

  func testComposeHealthcheckPassesAgainstTheServer() throws {
    let port = try startServer()
    let project = try exportProject(
      procfile: "web: ./web\nworker: ./w\n", options: [("formation", "all=1"), ("port", String(port))])
    let plan = try exportPlan(project, probes: [("ready", "web=http:/health"), ("health", "worker=exec:true")])
    let services = dig(
      try YAMLReader.loadOne(try exportFile(try ExportFormat.compose.files(plan), "compose.yaml").text), "services")
    let test = try XCTUnwrap(dig(services, "web", "healthcheck", "test") as? [String])
    XCTAssertEqual(test.first, "CMD-SHELL")
    XCTAssertTrue(try passes(try XCTUnwrap(test.last), path: ProcessInfo.processInfo.environment["PATH"] ?? ""))
  }
}
