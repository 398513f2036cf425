import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `.forge` in the current directory: FORGE_* settings in the .env grammar, below flags and
/// the environment, and any other key, or a bad value, reported as `.forge:LINE`.
final class SettingsFileTests: ForgeControlTestCase {
  private let procfile = "web: echo \"port=$PORT\"; exec ./service.sh\nworker: exec ./service.sh\n"

  /// Starts forge, waits for `ready` lines of `instances`, and returns the forge.
  private func start(
    _ project: ForgeProject, _ arguments: [String] = [], environment: [String: String] = [:], ready instances: [String]
  ) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "3"] + arguments, in: project, environment: environment)
    for instance in instances { try forge.waitForLine(containing: "ready pid=", from: instance) }
    return forge
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  private func assertBadInput(
    _ arguments: [String], in project: ForgeProject, directory: String? = nil, environment: [String: String] = [:],
    _ message: String, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let result = try runForge(arguments, in: project, directory: directory, environment: environment)
    XCTAssertEqual(result.status, 2, "forge \(arguments): \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderr, "forge: \(message)\n", "forge \(arguments)", file: file, line: line)
    XCTAssertEqual(result.stdout, "", file: file, line: line)
  }

  // MARK: - Precedence

  func testSettingsFileIsBelowTheEnvironmentAndTheFlags() throws {
    let project = try makeProject([
      "Procfile": procfile,
      "service.sh": HelperScripts.service,
      ".forge": """
      # project defaults
      FORGE_FORMATION=web=2,worker=1
      export FORGE_PORT=7100
      FORGE_READY = web=log:ready pid
      FORGE_SOCKET: ctl.sock

      """,
    ])
    // .forge alone: its formation, port, readiness and control socket.
    var forge = try start(project, ready: ["web.1", "web.2", "worker.1"])
    try forge.waitForLine(containing: "port=7100", from: "web.1")
    try forge.waitForLine(containing: "port=7101", from: "web.2")
    try forge.waitForLine(containing: "ready after", from: "web.2")
    XCTAssertTrue(forge.lines(of: "web.1").contains { $0.hasSuffix(" s (log:ready pid)") }, forge.transcript())
    XCTAssertTrue(FileStatus.isSocket(project.path("ctl.sock")), "FORGE_SOCKET from .forge")
    XCTAssertFalse(project.exists(".forge.sock"))
    // Client commands read it too, so they find the socket.
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "web.2", "worker.1"])
    XCTAssertEqual(try control(["wait", "web"], in: project), "ready: web.1, web.2\n")
    try stop(forge)

    // The environment beats .forge; what it does not set still comes from .forge.
    forge = try start(project, environment: ["FORGE_PORT": "7200"], ready: ["web.1", "web.2", "worker.1"])
    try forge.waitForLine(containing: "port=7200", from: "web.1")
    try forge.waitForLine(containing: "port=7201", from: "web.2")
    try stop(forge)

    // Flags beat both.
    forge = try start(
      project, ["-p", "7300", "-m", "web=1,worker=1", "--ready", "web=none"], environment: ["FORGE_PORT": "7200"],
      ready: ["web.1", "worker.1"])
    try forge.waitForLine(containing: "port=7300", from: "web.1")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "worker.1"])
    XCTAssertFalse(forge.stdout.text.contains("ready after"), "--ready web=none wins\n\(forge.transcript())")
    try stop(forge)
  }

  func testSettingsFileIsReadFromTheCurrentDirectory() throws {
    let project = try makeProject([
      "app/Procfile": procfile,
      "app/service.sh": HelperScripts.service,
      "app/.forge": "FORGE_PORTT=6000\n",
      ".forge": "FORGE_FORMATION=worker=1\n",
    ])
    // From the project directory: its .forge applies, app/.forge is not read.
    let check = try runForge(["check", "-f", "app/Procfile"], in: project)
    XCTAssertEqual(check.status, 0, check.stderr)
    let forge = try start(project, ["-f", "app/Procfile"], ready: ["worker.1"])
    XCTAssertEqual(try processTable(in: project, arguments: ["-f", "app/Procfile"]).names, ["worker.1"])
    try stop(forge)
    // From app/: its .forge is read, and is wrong.
    try assertBadInput(["check"], in: project, directory: "app", ".forge:1: unknown setting FORGE_PORTT")
  }

  // MARK: - Errors

  func testKeysOtherThanKnownSettingsAreBadInputWithTheirLine() throws {
    let project = try makeProject(["Procfile": procfile, "service.sh": HelperScripts.service])
    let cases: [(String, String)] = [
      ("FORGE_PORT=6000\n\nFORGE_READY_TIMEOUTS=5\n", ".forge:3: unknown setting FORGE_READY_TIMEOUTS"),
      (
        "# settings\nDATABASE_URL=postgres://localhost/app\n",
        ".forge:2: expected a FORGE_ setting, got DATABASE_URL (the processes' variables belong in .env)"
      ),
      ("FORGE_TIMEOUT=1\nexport FORGE_COLOUR=true\n", ".forge:2: unknown setting FORGE_COLOUR"),
      ("FORGE_TIMEOUT=1\nFORGE_SOCKET = x.sock\nFORGE_ENV_FILE = a.env\n", ".forge:3: unknown setting FORGE_ENV_FILE"),
    ]
    for (contents, message) in cases {
      try project.write(".forge", contents)
      for command in [["check"], ["start"], ["ps"], ["wait"]] {
        try assertBadInput(command, in: project, message)
      }
    }
    // The .env grammar's own errors carry the line too.
    try project.write(".forge", "FORGE_TIMEOUT=1\nFORGE_PORT=\"6000\n")
    let unterminated = try runForge(["check"], in: project)
    XCTAssertEqual(unterminated.status, 2)
    XCTAssertTrue(unterminated.stderr.hasPrefix("forge: .forge:2: "), unterminated.stderr)
  }

  func testYAMLStyleAssignmentsNameTheirLineToo() throws {
    let project = try makeProject(["Procfile": procfile, "service.sh": HelperScripts.service])
    try project.write(".forge", "FORGE_TIMEOUT=1\nFORGE_HEALTHZ: web=port\n")
    try assertBadInput(["check"], in: project, ".forge:2: unknown setting FORGE_HEALTHZ")
    try project.write(".forge", "FORGE_PORT=6000\nFORGE_TIMEOUT: soon\n")
    try assertBadInput(["check"], in: project, ".forge:2: expected seconds (a number from 0), got \"soon\"")
  }

  func testBadValuesInTheSettingsFileNameTheirLine() throws {
    let project = try makeProject(["Procfile": procfile, "service.sh": HelperScripts.service])
    try project.write(".forge", "FORGE_PORT=6000\nFORGE_TIMEOUT=soon\n")
    try assertBadInput(["check"], in: project, ".forge:2: expected seconds (a number from 0), got \"soon\"")
    try assertBadInput(["start"], in: project, ".forge:2: expected seconds (a number from 0), got \"soon\"")
    // A good value from the environment or a flag replaces the bad one.
    XCTAssertEqual(try runForge(["check"], in: project, environment: ["FORGE_TIMEOUT": "2"]).status, 0)
    XCTAssertEqual(try runForge(["check", "-t", "2"], in: project).status, 0)

    try project.write(".forge", "FORGE_READY_TIMEOUT=10\nFORGE_AFTER=web=worker,worker=web\n")
    try assertBadInput(["check"], in: project, ".forge:2: start order has a cycle: web → worker → web")
    try project.write(".forge", "FORGE_READY=web=bogus\n")
    try assertBadInput(
      ["check"], in: project,
      ".forge:1: expected port, http:PATH, exec:COMMAND, log:TEXT, notify or none, got \"bogus\"")
    try project.write(".forge", "\nFORGE_HEALTH=web=notify\n")
    try assertBadInput(["check"], in: project, ".forge:2: expected port, http:PATH or exec:COMMAND, got \"notify\"")
    try project.write(".forge", "FORGE_READY_TIMEOUT=0\n")
    try assertBadInput(["check"], in: project, ".forge:1: expected seconds above 0, got \"0\"")
    try project.write(".forge", "FORGE_AFTER=web=nope\n")
    try assertBadInput(["start"], in: project, ".forge:1: unknown process type \"nope\"")

    try project.write(".forge", "FORGE_AFTER=web=worker\nFORGE_READY=worker=log:ready pid\n")
    let check = try runForge(["check"], in: project)
    XCTAssertEqual(check.status, 0, check.stderr)
    XCTAssertEqual(check.stdout, "valid procfile detected (web, worker)\n")
    let forge = try start(project, ready: ["worker.1", "web.1"])
    XCTAssertTrue(forge.lines(of: "web.1").contains("waiting for worker (ready)"), forge.transcript())
    try stop(forge)
  }
}

// MARK: - Support shared by ReadinessTests, StartOrderTests and SettingsFileTests

/// Real servers and children for readiness tests, and small checks on ports and `forge ps`.
enum Readiness {
  /// Skips the test without python3 (the servers are `python3 -m http.server`).
  @discardableResult
  static func requirePython() throws -> String {
    guard let python = ForgeHarness.which("python3") else { throw XCTSkip("python3 is not installed") }
    return python
  }

  /// Serves the root on 127.0.0.1:$PORT; prints `Serving HTTP on …` and one line per request.
  static let httpServer = "exec python3 -u -m http.server --bind 127.0.0.1 $PORT"

  /// Shell that blocks until the file `name` exists in the root: the test decides when a
  /// process goes on, instead of a sleep.
  static func gate(_ name: String) -> String {
    "until [ -e \(name) ]; do sleep 0.01; done"
  }

  /// sd_notify by hand: sends `STATUS=warming up`, waits for the file `go` (or `go-outsider`
  /// when run as `notify.py outsider`), then sends `READY=1` with a new status and idles.
  static let notifyScript = """
    import os, socket, sys, time
    outsider = len(sys.argv) > 1
    path = os.environ["NOTIFY_SOCKET"]
    print("socket=" + path)
    target = "\\0" + path[1:] if path.startswith("@") else path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(b"READY=1\\nSTATUS=hijacked" if outsider else b"STATUS=warming up", target)
    print("sent ready" if outsider else "sent status")
    gate = "go-outsider" if outsider else "go"
    while not os.path.exists(gate):
        time.sleep(0.01)
    if outsider:
        sys.exit(0)
    sock.sendto(b"READY=1\\nSTATUS=serving 3 requests", target)
    print("sent ready")
    while True:
        time.sleep(60)

    """

  /// A health check that passes until the file `sick` appears (holding a count, 0 at first),
  /// then fails three times, removing `sick` on the third, and passes again.
  static let flakyCheck = """
    #!/bin/sh
    [ -e sick ] || exit 0
    n=$(($(cat sick) + 1))
    if [ "$n" -ge 3 ]; then rm -f sick; else echo "$n" > sick; fi
    exit 1

    """

  /// A base port, a random multiple of 100 from 20000, with `base + offset` free on 127.0.0.1
  /// for every offset (ports of other tests and other programs are not taken by mistake).
  static func freePortBase(offsets: [Int] = [0, 1, 2, 100, 101, 200]) throws -> Int {
    for _ in 0..<100 {
      let base = Int.random(in: 200..<600) * 100
      if offsets.allSatisfy({ isFree(base + $0) }) { return base }
    }
    throw HarnessError("no free range of ports found")
  }

  /// Whether a TCP connection to 127.0.0.1:`port` is accepted.
  static func connects(_ port: Int) -> Bool {
    withSocket(port) { fd, address in
      Glibc.connect(fd, address, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
  }

  /// Whether 127.0.0.1:`port` can be bound (nothing listens or lingers there).
  static func isFree(_ port: Int) -> Bool {
    withSocket(port) { fd, address in
      bind(fd, address, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
  }

  /// Calls `body` with a new TCP socket and the address 127.0.0.1:`port` (glibc's transparent
  /// union under _GNU_SOURCE).
  private static func withSocket(_ port: Int, _ body: (Int32, __CONST_SOCKADDR_ARG) -> Bool) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return withUnsafePointer(to: &address) { body(fd, __CONST_SOCKADDR_ARG(__sockaddr_in__: $0)) }
  }

  /// A boolean field of a `forge ps --json` row (`ready`, `healthy`); nil if absent or null.
  static func flag(_ row: PSTable.Row?, _ key: String) -> Bool? {
    row?.fields[key] as? Bool
  }

  /// The index of the first stdout line of `process` whose text starts with `prefix`.
  static func index(of prefix: String, from process: String, in forge: ForgeProcess) -> Int? {
    forge.stdout.lines.firstIndex { line in
      guard let parsed = LogLine(line) else { return false }
      return parsed.process == process && parsed.text.hasPrefix(prefix)
    }
  }
}
