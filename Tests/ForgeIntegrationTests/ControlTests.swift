import Foundation
import XCTest

/// Live control of a running `forge start` through its control socket: `forge scale`, `ps`,
/// `restart` and `stop`, and the socket itself (its mode, stale and live sockets, other users,
/// idle clients, long paths, no forge at all).
final class ControlTests: ForgeControlTestCase {
  /// `web` prints its PORT, then runs the well-behaved service; `worker` is the service.
  private let formation = [
    "Procfile": "web: echo \"port=$PORT\"; exec ./service.sh\nworker: exec ./service.sh\n",
    "service.sh": HelperScripts.service,
  ]

  /// Starts the formation and waits until every named instance is ready.
  private func startFormation(
    _ project: ForgeProject, _ arguments: [String] = [], ready instances: [String] = ["web.1", "worker.1"],
    environment: [String: String] = [:]
  ) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "1"] + arguments, in: project, environment: environment)
    for instance in instances { try forge.waitForLine(containing: "ready", from: instance) }
    return forge
  }

  private func stopAndExpectSuccess(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  private func startCount(_ instance: String, in forge: ForgeProcess) -> Int {
    forge.lines(of: instance).filter { $0.hasPrefix("started with pid ") }.count
  }

  // MARK: - scale

  func testScaleUpStartsNextInstancesWithTheirPortsAndLeavesOthersAlone() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let before = try processTable(in: project)
    XCTAssertEqual(before.names, ["web.1", "worker.1"])

    XCTAssertEqual(try control(["scale", "web=3"], in: project), "web=3 worker=1\n")
    // PORT = base + 100 × type index + instance − 1.
    try forge.waitForLine(containing: "port=5001", from: "web.2")
    try forge.waitForLine(containing: "port=5002", from: "web.3")
    try forge.waitForLine(containing: "ready", from: "web.2")
    try forge.waitForLine(containing: "ready", from: "web.3")

    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "web.2", "web.3", "worker.1"], after.text)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"), "web.1 kept running")
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"), "worker.1 kept running")
    XCTAssertEqual(after["web.2"]?.port, 5001)
    XCTAssertEqual(after["web.3"]?.port, 5002)
    XCTAssertEqual(after["worker.1"]?.port, 5100)
    for name in ["web.2", "web.3"] {
      XCTAssertEqual(after[name]?.state, "running", after.text)
      XCTAssertTrue(ProcFS.isAlive(try after.pid(name)), "\(name) is alive")
    }
    XCTAssertEqual(startCount("web.1", in: forge), 1, forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("got TERM"), forge.transcript())
    try stopAndExpectSuccess(forge)
  }

  func testScaleDownStopsTheHighestNumberedGracefully() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project, ["-m", "web=3,worker=1"], ready: ["web.1", "web.2", "web.3", "worker.1"])
    let before = try processTable(in: project)
    let web2 = try before.pid("web.2")
    let web3 = try before.pid("web.3")

    XCTAssertEqual(try control(["scale", "web=1"], in: project), "web=1 worker=1\n")
    for name in ["web.2", "web.3"] {
      try forge.waitForLine(containing: "got TERM", from: name)
      try forge.waitForLine(containing: "exited with code 0", from: name)
    }
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(web2) && !ProcFS.isAlive(web3) })

    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "worker.1"], after.text)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"))
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"))
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.contains("got TERM") }, [], "web.1 was left alone")
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), "stopped gracefully\n\(forge.transcript())")
    XCTAssertTrue(forge.isRunning, "scaling down does not end the formation")
    XCTAssertEqual(try control(["scale"], in: project), "web=1 worker=1\n")
    try stopAndExpectSuccess(forge)
  }

  func testScaleWithoutArgumentsAndRelativeForms() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project, ["-m", "web=2,worker=1"], ready: ["web.1", "web.2", "worker.1"])
    XCTAssertEqual(try control(["scale"], in: project), "web=2 worker=1\n")
    XCTAssertEqual(try control(["scale", "--json"], in: project), "{\"web\":2,\"worker\":1}\n")

    XCTAssertEqual(try control(["scale", "web+1"], in: project), "web=3 worker=1\n")
    try forge.waitForLine(containing: "port=5002", from: "web.3")
    try forge.waitForLine(containing: "ready", from: "web.3")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "web.2", "web.3", "worker.1"])

    XCTAssertEqual(try control(["scale", "web-1"], in: project), "web=2 worker=1\n")
    try forge.waitForLine(containing: "exited with code 0", from: "web.3")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "web.2", "worker.1"])

    // A count never goes below 0.
    XCTAssertEqual(try control(["scale", "worker-5"], in: project), "web=2 worker=0\n")
    try forge.waitForLine(containing: "exited with code 0", from: "worker.1")
    XCTAssertEqual(try control(["scale"], in: project), "web=2 worker=0\n")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "web.2"])
    try stopAndExpectSuccess(forge)
  }

  func testScaleToZeroAndBack() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let before = try processTable(in: project)
    let oldWeb = try before.pid("web.1")

    XCTAssertEqual(try control(["scale", "web=0"], in: project), "web=0 worker=1\n")
    try forge.waitForLine(containing: "got TERM", from: "web.1")
    try forge.waitForLine(containing: "exited with code 0", from: "web.1")
    XCTAssertEqual(try processTable(in: project).names, ["worker.1"])
    XCTAssertTrue(forge.isRunning, "a type scaled to 0 does not end the formation")

    XCTAssertEqual(try control(["scale", "web=1"], in: project), "web=1 worker=1\n")
    try forge.waitForLine(containing: "port=5000", from: "web.1", count: 2)
    try forge.waitForLine(containing: "ready", from: "web.1", count: 2)
    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "worker.1"])
    XCTAssertNotEqual(try after.pid("web.1"), oldWeb, "a new process")
    XCTAssertEqual(after["web.1"]?.port, 5000)
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"))
    try stopAndExpectSuccess(forge)
  }

  func testScaleOfAnUnknownTypeFailsAndChangesNothing() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let before = try processTable(in: project)

    let unknown = try runForge(["scale", "nope=2"], in: project)
    XCTAssertEqual(unknown.status, 1)
    XCTAssertEqual(unknown.stderr, "forge: unknown process type \"nope\" (known: web, worker)\n")
    XCTAssertEqual(unknown.stdout, "")

    // Every type is checked before anything changes: web is not scaled either.
    let mixed = try runForge(["scale", "web=3", "nope+1"], in: project)
    XCTAssertEqual(mixed.status, 1, mixed.stderr)
    XCTAssertTrue(mixed.stderr.contains("unknown process type \"nope\""), mixed.stderr)

    let after = try processTable(in: project)
    XCTAssertEqual(after.names, before.names, after.text)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"))
    XCTAssertEqual(try control(["scale"], in: project), "web=1 worker=1\n")
    XCTAssertFalse(forge.stdout.text.contains("web.2"), forge.transcript())
    try stopAndExpectSuccess(forge)
  }

  // MARK: - ps

  func testPsJSONFields() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\ncrash: echo crashing; exit 1\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "1", "--restart", "crash=always"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    try forge.waitForLine(containing: "restarting in 1 s", from: "crash.1")

    let table = try processTable(in: project)
    XCTAssertEqual(table.names, ["web.1", "crash.1"], table.text)
    let expectedKeys: Set = [
      "name", "type", "pid", "state", "uptime", "restarts", "port", "next_retry", "ready", "ready_at", "healthy",
      "status_text", "release", "cpu_percent", "rss_bytes", "cpu_seconds", "threads",
    ]

    let web = try XCTUnwrap(table["web.1"])
    XCTAssertEqual(Set(web.fields.keys), expectedKeys, table.text)
    XCTAssertEqual(web.type, "web")
    XCTAssertEqual(web.state, "running")
    let webPid = try XCTUnwrap(web.pid)
    XCTAssertTrue(ProcFS.isAlive(webPid), "pid \(webPid) is the live web.1")
    let uptime = try XCTUnwrap(web.uptime, table.text)
    XCTAssertGreaterThanOrEqual(uptime, 0)
    XCTAssertLessThan(uptime, Date().timeIntervalSince(forge.startedAt) + 1)
    XCTAssertEqual(web.restarts, 0)
    XCTAssertEqual(web.port, 5000)
    XCTAssertTrue(web.isNull("next_retry"), table.text)

    // Waiting for its restart: no pid, no uptime, the time until the retry.
    let crash = try XCTUnwrap(table["crash.1"])
    XCTAssertEqual(Set(crash.fields.keys), expectedKeys, table.text)
    XCTAssertEqual(crash.type, "crash")
    XCTAssertEqual(crash.state, "starting", table.text)
    XCTAssertTrue(crash.isNull("pid"), table.text)
    XCTAssertTrue(crash.isNull("uptime"), table.text)
    XCTAssertEqual(crash.restarts, 0, "counted when the restart happens, not when it is scheduled")
    XCTAssertEqual(crash.port, 5100)
    let retry = try XCTUnwrap(crash.nextRetry, table.text)
    XCTAssertGreaterThanOrEqual(retry, 0)
    XCTAssertLessThanOrEqual(retry, 1)

    // The table form.
    let text = try control(["ps"], in: project)
    let lines = text.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, 3, text)
    XCTAssertEqual(
      lines.first?.split(separator: " ", omittingEmptySubsequences: true),
      [
        "INSTANCE", "PID", "STATE", "READY", "HEALTH", "CPU%", "RSS", "UPTIME", "RESTARTS", "PORT", "NEXT", "RETRY",
        "STATUS",
      ],
      text)
    XCTAssertTrue(
      lines.contains { $0.hasPrefix("web.1 ") && $0.contains(" \(webPid) ") && $0.contains("running") }, text)
    try stopAndExpectSuccess(forge)
  }

  // MARK: - restart

  func testRestartOfOneInstanceChangesOnlyItsPidAndKeepsItsPort() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project, ["-m", "web=2,worker=1"], ready: ["web.1", "web.2", "worker.1"])
    let before = try processTable(in: project)

    XCTAssertEqual(try control(["restart", "web.2"], in: project), "restarting web.2\n")
    try forge.waitForLine(containing: "got TERM", from: "web.2")
    try forge.waitForLine(containing: "port=5001", from: "web.2", count: 2)
    try forge.waitForLine(containing: "ready", from: "web.2", count: 2)

    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "web.2", "worker.1"])
    XCTAssertNotEqual(try after.pid("web.2"), try before.pid("web.2"), "web.2 is a new process")
    XCTAssertFalse(ProcFS.isAlive(try before.pid("web.2")))
    XCTAssertEqual(after["web.2"]?.port, 5001)
    XCTAssertEqual(after["web.2"]?.restarts, 1)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"))
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"))
    XCTAssertEqual(after["web.1"]?.restarts, 0)
    XCTAssertEqual(startCount("web.1", in: forge), 1)
    XCTAssertTrue(forge.isRunning, "a restart does not end the formation")
    try stopAndExpectSuccess(forge)
  }

  func testRestartOfATypeRestartsEachOfItsInstances() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project, ["-m", "web=2,worker=1"], ready: ["web.1", "web.2", "worker.1"])
    let before = try processTable(in: project)

    XCTAssertEqual(try control(["restart", "web"], in: project), "restarting web.1, web.2\n")
    try forge.waitForLine(containing: "ready", from: "web.1", count: 2)
    try forge.waitForLine(containing: "ready", from: "web.2", count: 2)

    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "web.2", "worker.1"])
    XCTAssertNotEqual(try after.pid("web.1"), try before.pid("web.1"))
    XCTAssertNotEqual(try after.pid("web.2"), try before.pid("web.2"))
    XCTAssertEqual(after["web.1"]?.port, 5000)
    XCTAssertEqual(after["web.2"]?.port, 5001)
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"), "worker was left alone")
    XCTAssertEqual(forge.lines(of: "worker.1").filter { $0.contains("got TERM") }, [])

    let unknown = try runForge(["restart", "nope"], in: project)
    XCTAssertEqual(unknown.status, 1)
    XCTAssertEqual(unknown.stderr, "forge: no process type or instance named \"nope\"\n")
    try stopAndExpectSuccess(forge)
  }

  // MARK: - stop

  func testStopReturnsOnlyAfterForgeHasExited() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let stop = try runForge(["stop"], in: project)
    // Checked before anything else: forge must already be gone when `forge stop` returns.
    let aliveAfterStop = ProcFS.isAlive(forge.pid)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(stop.stdout, "stopped\n")
    XCTAssertFalse(aliveAfterStop, "forge \(forge.pid) still ran when `forge stop` returned\n\(forge.transcript())")
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(forge.stdout.text.contains("forge    | stop request received, stopping"), forge.transcript())
    XCTAssertTrue(forge.stdout.text.contains("web.1    | got TERM"), forge.transcript())
    XCTAssertEqual(forge.markedProcesses(), [])
  }

  /// Several `forge stop`s at once (some connect while forge is already exiting): every one
  /// ends with status 0 and `stopped` (or `no forge running`, once forge is gone), none with
  /// "forge closed the connection" or a broken pipe.
  func testConcurrentStopsAllSucceed() throws {
    for round in 1...3 {
      let project = try makeProject(formation)
      let forge = try startFormation(project)
      let stops = try (1...6).map { _ in try launch(["stop"], in: project) }
      for stop in stops {
        XCTAssertEqual(try stop.waitForExit(), 0, "round \(round): \(stop.transcript())")
        XCTAssertTrue(["stopped\n", "no forge running\n"].contains(stop.stdout.text), "round \(round)")
      }
      XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    }
  }

  func testStopWaitsOutTheGracePeriodOfAStubbornProcess() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./stubborn.sh\n", "stubborn.sh": HelperScripts.ignoresTerm,
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let sent = Date()
    let stop = try runForge(["stop"], in: project)
    let elapsed = Date().timeIntervalSince(sent)
    let aliveAfterStop = ProcFS.isAlive(forge.pid)
    let stateAfterStop = ProcFS.stat(forge.pid)
    XCTAssertEqual(stop.status, 128 + SIGKILL, "forge stop reports forge's status\n\(stop.stderr)")
    XCTAssertFalse(
      aliveAfterStop,
      "forge still ran when `forge stop` returned: \(String(describing: stateAfterStop))\n\(forge.transcript())")
    XCTAssertGreaterThanOrEqual(elapsed, 0.9, "`forge stop` returned before the grace period was over")
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
  }

  // MARK: - The socket

  func testSocketIsPrivateAndRemovedOnExit() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let socketPath = project.path(".forge.sock")
    let mode = try XCTUnwrap(FileStatus.lstatMode(socketPath), "\(socketPath) exists")
    XCTAssertEqual(mode.type, S_IFSOCK, "a socket")
    XCTAssertEqual(mode.permissions, 0o600, String(mode.permissions, radix: 8))
    try stopAndExpectSuccess(forge)
    XCTAssertFalse(project.exists(".forge.sock"), "the socket is removed on exit")
  }

  func testStaleSocketFileIsReplaced() throws {
    let project = try makeProject(formation)
    try RawSocket.leaveStaleSocket(at: project.path(".forge.sock"))
    XCTAssertTrue(FileStatus.isSocket(project.path(".forge.sock")))
    let nobodyHome = try runForge(["ps"], in: project)
    XCTAssertEqual(nobodyHome.status, 1)
    XCTAssertEqual(
      nobodyHome.stderr, "forge: no running forge found at .forge.sock (start one with 'forge start')\n")

    let forge = try startFormation(project)
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "worker.1"])
    try stopAndExpectSuccess(forge)
    XCTAssertFalse(project.exists(".forge.sock"))
  }

  func testSocketOfAKilledForgeIsReplacedByTheNextStart() throws {
    let project = try makeProject(formation)
    let first = try startFormation(project)
    // SIGKILL to forge alone (its processes live on until teardown): no chance to remove the
    // socket.
    kill(first.pid, SIGKILL)
    XCTAssertEqual(try first.waitForExit(), 128 + SIGKILL)
    XCTAssertTrue(FileStatus.isSocket(project.path(".forge.sock")), "the killed forge left its socket")

    let second = try startFormation(project)
    let table = try processTable(in: project)
    XCTAssertEqual(table.names, ["web.1", "worker.1"])
    XCTAssertEqual(second.children().map(\.pid).sorted(), [try table.pid("web.1"), try table.pid("worker.1")].sorted())
    try stopAndExpectSuccess(second)
  }

  func testSecondStartFailsWhileAForgeAnswers() throws {
    let project = try makeProject(formation)
    let first = try startFormation(project)
    let before = try processTable(in: project)

    let second = try launch(["start"], in: project)
    XCTAssertEqual(try second.waitForExit(), 1, second.transcript())
    XCTAssertEqual(
      second.stderr.text,
      "forge: another forge is already running here (control socket \(project.path(".forge.sock")))\n")
    XCTAssertFalse(second.stdout.text.contains("started with pid"), "the second forge started nothing")
    XCTAssertEqual(second.markedProcesses(), [])

    // The first one is untouched and still answers.
    XCTAssertTrue(FileStatus.isSocket(project.path(".forge.sock")))
    let after = try processTable(in: project)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"))
    try stopAndExpectSuccess(first)
  }

  func testConnectionFromAnotherUserIsRefused() throws {
    guard getuid() == 0 else { throw XCTSkip("needs root to run a client as another uid (nobody)") }
    guard let setpriv = ForgeHarness.which("setpriv") else { throw XCTSkip("setpriv is not installed") }
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
    let project = try makeProject(formation)
    // nobody may pass through the project directory (not list it) to reach the socket.
    XCTAssertEqual(chmod(project.directory, 0o711), 0)
    let forge = try startFormation(project)
    let forgeBinary = try ForgeHarness.forgeBinary()
    let socketPath = project.path(".forge.sock")

    // With the socket's own mode (0600) the kernel already refuses the connection.
    let denied = try runProgram(setpriv, nobody + [forgeBinary, "ps"], in: project)
    XCTAssertEqual(denied.status, 1, denied.stderr)
    XCTAssertTrue(denied.stderr.contains("Permission denied"), denied.stderr)
    XCTAssertFalse(denied.stderr.contains("no running forge"), denied.stderr)

    // Even when the file lets anyone connect, forge checks the peer's uid.
    XCTAssertEqual(chmod(socketPath, 0o666), 0)
    for command in [["ps"], ["stop"], ["scale", "web=3"]] {
      let refused = try runProgram(setpriv, nobody + [forgeBinary] + command, in: project)
      XCTAssertEqual(refused.status, 1, "\(command): \(refused.stderr)")
      XCTAssertEqual(refused.stderr, "forge: permission denied: uid 65534 may not control this forge\n", "\(command)")
      XCTAssertEqual(refused.stdout, "")
    }
    // Nothing happened, and forge said so once.
    forge.send(SIGHUP)
    try forge.waitForLine(containing: "forwarding SIGHUP", from: "forge")
    let refusals = forge.lines(of: "forge").filter { $0.contains("refused a control connection from uid 65534") }
    XCTAssertEqual(refusals.count, 1, forge.transcript())
    XCTAssertTrue(forge.isRunning, "nobody's stop was refused")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "worker.1"], "nobody's scale was refused")
    try stopAndExpectSuccess(forge)
  }

  func testClientThatSendsNothingDoesNotStallLogOutput() throws {
    let chatty = """
      #!/bin/sh
      trap 'exit 0' TERM
      i=0
      while :; do echo "tick $i"; i=$((i+1)); sleep 0.02; done

      """
    let project = try makeProject(["Procfile": "web: exec ./chatty.sh\n", "chatty.sh": chatty])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "tick 1", from: "web.1")
    let socketPath = project.path(".forge.sock")

    // Three clients that say nothing and one that sends half a request.
    var idle: [Int32] = []
    defer { for fd in idle { close(fd) } }
    for _ in 0..<3 { idle.append(try RawSocket.connect(socketPath)) }
    let partial = try RawSocket.connect(socketPath)
    idle.append(partial)
    _ = "{\"command\":".withCString { write(partial, $0, strlen($0)) }

    let ticks = forge.lines(of: "web.1").filter { $0.hasPrefix("tick ") }.count
    try forge.waitForLine(containing: "tick ", from: "web.1", count: ticks + 20, timeout: 5)
    // Other clients are served meanwhile.
    XCTAssertEqual(try processTable(in: project).names, ["web.1"])
    XCTAssertEqual(try control(["scale"], in: project), "web=1\n")
    try forge.waitForLine(containing: "tick ", from: "web.1", count: ticks + 40, timeout: 5)
    try stopAndExpectSuccess(forge)
  }

  func testClientThatSendsNothingIsDisconnectedAfterFiveSeconds() throws {
    let project = try makeProject(formation)
    let forge = try startFormation(project)
    let fd = try RawSocket.connect(project.path(".forge.sock"))
    defer { close(fd) }
    let connected = Date()
    XCTAssertTrue(RawSocket.waitReadable(fd, timeout: 10), "forge never closed the idle connection")
    let elapsed = Date().timeIntervalSince(connected)
    XCTAssertEqual(RawSocket.readToEnd(fd), [], "closed without a reply")
    XCTAssertGreaterThan(elapsed, 4, "disconnected too early")
    XCTAssertLessThan(elapsed, 8, "disconnected too late")
    XCTAssertTrue(forge.isRunning)
    try stopAndExpectSuccess(forge)
  }

  func testSocketPathLongerThanSunPath() throws {
    let project = try makeProject(formation)
    let directory = "sockets/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60)
    try project.write(directory + "/placeholder", "")
    let socketPath = project.path(directory + "/forge-control.sock")
    XCTAssertGreaterThan(socketPath.utf8.count, 108)

    let forge = try startFormation(project, ["--socket", socketPath])
    XCTAssertTrue(FileStatus.isSocket(socketPath), "the socket is at the long path itself")
    XCTAssertEqual(FileStatus.lstatMode(socketPath)?.permissions, 0o600)
    XCTAssertFalse(project.exists(".forge.sock"))
    XCTAssertEqual(try processTable(in: project, arguments: ["--socket", socketPath]).names, ["web.1", "worker.1"])
    XCTAssertEqual(
      try processTable(in: project, environment: ["FORGE_SOCKET": socketPath]).names, ["web.1", "worker.1"])
    XCTAssertEqual(try control(["scale", "--socket", socketPath, "web=2"], in: project), "web=2 worker=1\n")
    try forge.waitForLine(containing: "ready", from: "web.2")

    let stop = try runForge(["stop"], in: project, environment: ["FORGE_SOCKET": socketPath])
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertFalse(FileStatus.isSocket(socketPath), "removed on exit")
  }

  func testSocketFromOptionAndVariable() throws {
    let project = try makeProject(formation)
    try project.write("run/placeholder", "")
    let forge = try startFormation(project, environment: ["FORGE_SOCKET": "run/control.sock"])
    XCTAssertTrue(FileStatus.isSocket(project.path("run/control.sock")))
    XCTAssertFalse(project.exists(".forge.sock"))

    let missed = try runForge(["ps"], in: project)
    XCTAssertEqual(missed.status, 1)
    XCTAssertEqual(missed.stderr, "forge: no running forge found at .forge.sock (start one with 'forge start')\n")
    XCTAssertEqual(try processTable(in: project, arguments: ["--socket", "run/control.sock"]).names.count, 2)
    XCTAssertEqual(try processTable(in: project, environment: ["FORGE_SOCKET": "run/control.sock"]).names.count, 2)
    // The flag wins over the variable.
    let flagWins = try runForge(
      ["ps", "--socket", "elsewhere.sock"], in: project, environment: ["FORGE_SOCKET": "run/control.sock"])
    XCTAssertEqual(flagWins.status, 1)
    XCTAssertEqual(
      flagWins.stderr, "forge: no running forge found at elsewhere.sock (start one with 'forge start')\n")
    try stopAndExpectSuccess(forge)
    XCTAssertFalse(project.exists("run/control.sock"))
  }

  func testEveryClientCommandWithoutARunningForge() throws {
    let project = try makeProject(formation)
    let expected = "forge: no running forge found at .forge.sock (start one with 'forge start')\n"
    let commands = [
      ["scale", "web=2"], ["scale"], ["scale", "web+1"], ["ps"], ["ps", "--json"], ["restart"],
      ["restart", "web.1"],
    ]
    for command in commands {
      let result = try runForge(command, in: project)
      XCTAssertEqual(result.status, 1, "forge \(command.joined(separator: " "))")
      XCTAssertEqual(result.stderr, expected, "forge \(command.joined(separator: " "))")
      XCTAssertEqual(result.stdout, "", "forge \(command.joined(separator: " "))")
    }
    // Stopping is idempotent, as `systemctl stop` is.
    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(stop.stdout, "no forge running\n")
    // The same with a socket file nobody answers on.
    try RawSocket.leaveStaleSocket(at: project.path(".forge.sock"))
    for command in commands {
      let result = try runForge(command, in: project)
      XCTAssertEqual(result.status, 1, "forge \(command.joined(separator: " ")) (stale socket)")
      XCTAssertEqual(result.stderr, expected, "forge \(command.joined(separator: " ")) (stale socket)")
    }
    XCTAssertEqual(try runForge(["stop"], in: project).status, 0, "stop with a stale socket")
  }
}
