import Foundation
import XCTest

/// Faults found in review, each once able to crash, hang or spin forge.
final class RobustnessTests: ForgeControlTestCase {
  /// A scaled-away instance whose pipe is still held by a process that left its group with
  /// setsid: the pipe's late output is printed under the old name, and forge does not trap.
  func testOutputOfAScaledAwayInstanceAfterItIsGone() throws {
    let project = try makeProject([
      "Procfile": """
      web: setsid sh -c 'until [ -e go ]; do sleep 0.01; done; echo late' & echo ready; exec sleep 1000
      other: exec sleep 1000

      """
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let scaled = try runForge(["scale", "web=0"], in: project)
    XCTAssertEqual(scaled.status, 0, scaled.stderr)
    try forge.waitForLine(containing: "terminated by SIGTERM", from: "web.1")
    try project.write("go", "")
    try forge.waitForLine(containing: "late", from: "web.1")
    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// Timeouts far beyond any use are bad input (they once overflowed forge's clock).
  func testTimeoutsBeyondTheLimitAreRefused() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 1000\n"])
    for arguments in [["-t", "1e11"], ["--restart-window", "1e11"], ["-t", "inf"], ["-t", "nan"]] {
      let result = try runForge(["start"] + arguments, in: project)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("forge: "), result.stderr)
    }
  }

  /// The last member of a group whose leader is gone can be reaped by a parent that left the
  /// group, so no SIGCHLD reaches forge: forge still notices the group is empty and exits
  /// long before its escapee does.
  func testGroupEmptiedWithoutSIGCHLDDoesNotHangShutdown() throws {
    let project = try makeProject([
      "Procfile": "web: python3 -u escape.py & sleep 0.3; exit 0\n",
      "escape.py": """
      import os, time
      child = os.fork()
      if child == 0:
          time.sleep(1.0)
          os._exit(0)
      os.setsid()
      print("escaped", flush=True)
      os.waitpid(child, 0)
      time.sleep(60)

      """,
    ])
    let forge = try launch(["start", "-t", "5"], in: project)
    try forge.waitForLine(containing: "escaped", from: "web.1")
    let started = Date()
    XCTAssertEqual(try forge.waitForExit(timeout: 20), 0, forge.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(started), 4.5, forge.transcript())
  }

  /// Client commands do not supervise anything: Ctrl-C ends a waiting `forge stop`.
  func testInterruptEndsAWaitingStopClient() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./ignores.sh\n",
      "ignores.sh": HelperScripts.ignoresTerm,
    ])
    let forge = try launch(["start", "-t", "30"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let stop = try launch(["stop"], in: project)
    try forge.waitForLine(containing: "stop request received")
    stop.send(SIGINT)
    XCTAssertEqual(try stop.waitForExit(timeout: 5), 128 + SIGINT)
    forge.send(SIGTERM)  // the second stop request: SIGKILL at once
    XCTAssertEqual(try forge.waitForExit(), 137, forge.transcript())
  }

  /// Out of descriptors, accepting a control connection fails: forge says so once and stops
  /// watching the socket for a while instead of spinning on it.
  func testAcceptFailureIsReportedOnceWithoutSpinning() throws {
    guard ForgeHarness.which("prlimit") != nil else { throw XCTSkip("prlimit is not installed") }
    let project = try makeProject(["Procfile": "web: echo ready; exec sleep 1000\n"])
    let forge = try launch(["start", "--socket", "ctl.sock"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(forge.pid)/fd").count
    let limit = "--nofile=\(open + 1):\(open + 1)"
    XCTAssertEqual(try runCommand("prlimit", "--pid", "\(forge.pid)", limit), 0)
    let cpuBefore = try cpuTicks(forge.pid)
    var clients: [Int32] = []
    defer { for fd in clients { close(fd) } }
    for _ in 0..<10 { clients.append(try RawSocket.connect(project.path("ctl.sock"))) }
    try forge.waitForLine(containing: "not accepting connections for a second", from: "forge")
    // A window long enough for two pauses to end: each retry fails again, quietly.
    Thread.sleep(forTimeInterval: 2.5)
    let cpu = try cpuTicks(forge.pid) - cpuBefore
    XCTAssertLessThan(cpu, 50, "forge spun: \(cpu) ticks of CPU in 2.5 s")
    XCTAssertEqual(forge.lines(of: "forge").filter { $0.contains("control socket:") }.count, 1, forge.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// forge started with SIGCHLD ignored (a careless parent): it resets the disposition, so
  /// exits are still seen and the formation ends with the exiting process's status.
  func testInheritedIgnoredSIGCHLDIsReset() throws {
    let project = try makeProject(["Procfile": "web: sleep 0.2; exit 3\nother: exec sleep 100\n"])
    let python = try XCTUnwrap(ForgeHarness.which("python3"))
    let ignoring =
      "import signal, os, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])"
    let forge = try launchProgram(
      python, ["-c", ignoring, try ForgeHarness.forgeBinary(), "start", "-t", "1"], in: project)
    XCTAssertEqual(try forge.waitForExit(timeout: 10), 3, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("exited with code 3"), forge.transcript())
  }

  /// A second `forge stop` while the first is under way does not escalate to SIGKILL: only a
  /// second signal does.
  func testRepeatedStopRequestStaysGraceful() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./slow.sh\n",
      "slow.sh": """
      #!/bin/sh
      trap 'sleep 0.5; echo clean; exit 0' TERM
      \(HelperScripts.idleSetup)
      echo ready
      \(HelperScripts.idleLoop)

      """,
    ])
    let forge = try launch(["start", "-t", "10"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let first = try launch(["stop"], in: project)
    try forge.waitForLine(containing: "stop request received")
    let second = try runForge(["stop"], in: project)
    XCTAssertEqual(second.status, 0, second.stderr)
    XCTAssertEqual(try first.waitForExit(), 0)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("clean"), forge.transcript())
  }

  /// A request ended by end of file rather than a newline still gets its reply.
  func testRequestWithoutNewlineIsAnswered() throws {
    let project = try makeProject(["Procfile": "web: echo ready; exec sleep 100\n"])
    let forge = try launch(["start", "--socket", "ctl.sock"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let fd = try RawSocket.connect(project.path("ctl.sock"))
    defer { close(fd) }
    let request = Array(#"{"command":"ps"}"#.utf8)
    XCTAssertEqual(request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, request.count)
    shutdown(fd, Int32(SHUT_WR))
    let reply = String(decoding: RawSocket.readToEnd(fd) ?? [], as: UTF8.self)
    XCTAssertTrue(reply.hasPrefix(#"{"ok":true,"processes":["#), reply)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  private func cpuTicks(_ pid: pid_t) throws -> Int {
    let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    let fields = text[text.range(of: ")")!.upperBound...].split(separator: " ")
    return Int(fields[11])! + Int(fields[12])!  // utime and stime, fields 14 and 15
  }

  private func runCommand(_ arguments: String...) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ForgeHarness.which(arguments[0])!)
    process.arguments = Array(arguments.dropFirst())
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
  }
}
