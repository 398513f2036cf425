import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Readiness probes (`--ready` port, http, notify, log), the readiness timeout, `forge wait`,
/// and health checks that restart an instance, through real servers (`python3 -m http.server`).
final class ReadinessTests: ForgeControlTestCase {
  private func start(_ project: ForgeProject, _ arguments: [String]) throws -> ForgeProcess {
    try launch(["start", "-t", "3"] + arguments, in: project)
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  // MARK: - port, forge wait

  func testPortReadinessWaitsForTheListenerAndForgeWaitSaysSo() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject(["Procfile": "web: \(Readiness.gate("go")); \(Readiness.httpServer)\n"])
    let forge = try start(project, ["-p", "\(base)", "--ready", "web=port"])
    try forge.waitForLine(containing: "started with pid", from: "web.1")

    let before = try processTable(in: project)
    XCTAssertEqual(Readiness.flag(before["web.1"], "ready"), false, before.text)
    XCTAssertTrue(before["web.1"]?.isNull("ready_at") ?? false, before.text)
    let early = try runForge(["wait", "web", "--timeout", "0.3"], in: project)
    XCTAssertEqual(early.status, 1, early.stderr)
    XCTAssertEqual(early.stderr, "forge: not ready after 0.3 s: web.1\n")
    XCTAssertEqual(early.stdout, "")
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.contains("ready after") }, [], forge.transcript())

    try project.write("go", "")
    let ready = try forge.waitForLine(containing: "ready after", from: "web.1")
    XCTAssertNotNil(
      ready.range(of: #"\| ready after \d+\.\d\d s \(port \#(base)\)$"#, options: .regularExpression), ready)
    XCTAssertTrue(Readiness.connects(base), "something listens on \(base) once web.1 is ready")
    XCTAssertEqual(try control(["wait"], in: project), "ready: web.1\n")
    XCTAssertEqual(try control(["wait", "web", "--timeout", "1"], in: project), "ready: web.1\n")

    let after = try processTable(in: project)
    XCTAssertEqual(Readiness.flag(after["web.1"], "ready"), true, after.text)
    let readyAt = try XCTUnwrap(after["web.1"]?.fields["ready_at"] as? String, after.text)
    XCTAssertNotNil(readyAt.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"#, options: .regularExpression), readyAt)
    XCTAssertTrue(after["web.1"]?.isNull("healthy") ?? false, "no health check configured\n\(after.text)")
    let table = try control(["ps"], in: project).split(separator: "\n").map(String.init)
    XCTAssertEqual(table.first?.split(separator: " ").filter { ["READY", "HEALTH", "STATUS"].contains($0) }.count, 3)
    XCTAssertEqual(table.count, 2, table.joined(separator: "\n"))
    XCTAssertTrue(table.last?.contains(" yes ") ?? false, table.joined(separator: "\n"))
    try stop(forge)
  }

  func testForgeWaitFailsNamingWhatIsNotReadyWhenForgeStops() throws {
    let project = try makeProject(["Procfile": "web: \(Readiness.gate("never")); exec ./service.sh\n"])
    try project.write("service.sh", HelperScripts.service)
    let forge = try start(project, ["--ready", "web=log:ready pid"])
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    let wait = try launch(["wait"], in: project)
    // Sent and waiting for the reply (in poll), and forge has served a request made after it.
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.waitChannel(wait.pid).contains("poll") }, wait.transcript())
    _ = try processTable(in: project)
    XCTAssertTrue(wait.isRunning, wait.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try wait.waitForExit(), 1, wait.transcript())
    XCTAssertEqual(wait.stderr.text, "forge: forge is stopping; not ready: web.1\n")
    XCTAssertEqual(wait.stdout.text, "")
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// Under `on-failure` a clean exit is the end the policy asks for: done, so `forge wait`
  /// counts it (as `/readyz` does), task or not. `forge ps` still says its process is not ready:
  /// there is none. One that failed and waits to start again is not done.
  func testForgeWaitCountsAProcessThatFinishedAndIsNotRestartedAsDone() throws {
    let project = try makeProject([
      "Procfile": "web: echo bye; exit 0\nworker: exec ./service.sh\nbroken: exit 3\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, ["--restart", "on-failure"])
    try forge.waitForLine(containing: "exited with code 0", from: "web.1")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1")
    try forge.waitForLine(containing: "restarting in", from: "broken.1")
    let table = try processTable(in: project)
    XCTAssertEqual(Readiness.flag(table["web.1"], "ready"), false, table.text)
    XCTAssertEqual(try control(["wait", "web", "worker", "--timeout", "5"], in: project), "ready: web.1, worker.1\n")
    let wait = try runForge(["wait", "broken", "--timeout", "0.3"], in: project)
    XCTAssertEqual(wait.status, 1, "forge wait: \(wait.stdout)")
    XCTAssertEqual(wait.stderr, "forge: not ready after 0.3 s: broken.1\n")
    try stop(forge)
  }

  // MARK: - http

  func testHTTPReadinessNeedsASuccessfulAnswerNotJustAListener() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    // http.server serves the root: /healthz answers 404 until the file exists.
    let project = try makeProject(["Procfile": "web: \(Readiness.httpServer)\n"])
    let forge = try start(project, ["-p", "\(base)", "--ready", "web=http:/healthz"])
    try forge.waitForLine(containing: "Serving HTTP on 127.0.0.1 port \(base)", from: "web.1")
    try forge.waitForLine(matching: #"web\.1 +\| .*"GET /healthz HTTP/1\.[01]" 404"#)
    let notYet = try processTable(in: project)
    XCTAssertEqual(Readiness.flag(notYet["web.1"], "ready"), false, "a 404 is not ready\n\(forge.transcript())")

    try project.write("healthz", "ok\n")
    let ready = try forge.waitForLine(containing: "ready after", from: "web.1")
    XCTAssertTrue(ready.hasSuffix(" s (http:/healthz)"), ready)
    let texts = forge.lines(of: "web.1")
    let firstOK = try XCTUnwrap(texts.firstIndex { $0.contains("GET /healthz") && $0.contains("\" 200 ") })
    let readyIndex = try XCTUnwrap(texts.firstIndex { $0.hasPrefix("ready after") })
    XCTAssertLessThan(firstOK, readyIndex, forge.transcript())
    XCTAssertFalse(texts[..<firstOK].contains { $0.hasPrefix("ready after") }, forge.transcript())
    try stop(forge)
  }

  // MARK: - notify

  func testNotifyReadinessAndStatusComeOnlyFromTheInstance() throws {
    let python = try Readiness.requirePython()
    let project = try makeProject([
      "Procfile":
        "web: exec python3 -u notify.py\nworker: echo \"notify=${NOTIFY_SOCKET:-unset}\"; exec ./service.sh\n",
      "notify.py": Readiness.notifyScript,
      "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, ["--ready", "web=notify"])
    let socketLine = try forge.waitForLine(containing: "socket=", from: "web.1")
    XCTAssertEqual(HelperScripts.value("socket", in: socketLine), project.path(".forge.notify"))
    try forge.waitForLine(containing: "notify=unset", from: "worker.1")
    try forge.waitForLine(containing: "sent status", from: "web.1")
    var table = try processTable(in: project)
    XCTAssertTrue(
      eventually(timeout: 5) {
        table = (try? processTable(in: project)) ?? table
        return table["web.1"]?.fields["status_text"] as? String == "warming up"
      }, table.text)
    XCTAssertEqual(Readiness.flag(table["web.1"], "ready"), false, table.text)

    // A process outside the formation cannot make web.1 ready or set its status.
    let outsider = try launchProgram(
      python, ["-u", "notify.py", "outsider"], in: project,
      environment: ["NOTIFY_SOCKET": project.path(".forge.notify")])
    try outsider.waitForLine(containing: "sent ready")
    let refused = try runForge(["wait", "web", "--timeout", "0.5"], in: project)
    XCTAssertEqual(refused.status, 1, "READY=1 from an outsider was taken\n\(forge.transcript())")
    table = try processTable(in: project)
    XCTAssertEqual(table["web.1"]?.fields["status_text"] as? String, "warming up", table.text)
    try project.write("go-outsider", "")
    XCTAssertEqual(try outsider.waitForExit(), 0, outsider.transcript())

    try project.write("go", "")
    let ready = try forge.waitForLine(containing: "ready after", from: "web.1")
    XCTAssertTrue(ready.hasSuffix(" s (notify)"), ready)
    XCTAssertEqual(try control(["wait", "web"], in: project), "ready: web.1\n")
    table = try processTable(in: project)
    XCTAssertEqual(table["web.1"]?.fields["status_text"] as? String, "serving 3 requests", table.text)
    XCTAssertEqual(Readiness.flag(table["web.1"], "ready"), true, table.text)
    let text = try control(["ps"], in: project)
    XCTAssertTrue(text.contains("serving 3 requests"), text)
    try stop(forge)
  }

  // MARK: - log

  func testLogReadinessIsTheLineItself() throws {
    let project = try makeProject([
      "Procfile": "web: echo booting; \(Readiness.gate("go")); echo \"listening on $PORT\"; exec ./service.sh\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, ["-p", "7300", "--ready", "web=log:listening on"])
    try forge.waitForLine(containing: "booting", from: "web.1")
    let early = try runForge(["wait", "--timeout", "0.2"], in: project)
    XCTAssertEqual(early.status, 1)
    XCTAssertEqual(early.stderr, "forge: not ready after 0.2 s: web.1\n")

    try project.write("go", "")
    let ready = try forge.waitForLine(containing: "ready after", from: "web.1")
    XCTAssertTrue(ready.hasSuffix(" s (log:listening on)"), ready)
    let texts = forge.lines(of: "web.1")
    let said = try XCTUnwrap(texts.firstIndex(of: "listening on 7300"), forge.transcript())
    let readyIndex = try XCTUnwrap(texts.firstIndex { $0.hasPrefix("ready after") })
    XCTAssertLessThan(said, readyIndex, "ready only once the line was seen\n\(forge.transcript())")
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("ready after") }.count, 1, forge.transcript())
    try stop(forge)
  }

  // MARK: - exec

  func testExecReadinessRunsWithTheInstanceEnvironment() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let check = "exec:test \"$PS-$PORT\" = web.1-7400 && test -e up"
    let forge = try start(project, ["-p", "7400", "--ready", "web=\(check)"])
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    XCTAssertEqual(try runForge(["wait", "--timeout", "0.3"], in: project).status, 1, "not ready without up")
    try project.write("up", "")
    let ready = try forge.waitForLine(containing: "ready after", from: "web.1")
    XCTAssertTrue(ready.hasSuffix(" s (\(check))"), ready)
    try stop(forge)
  }

  // MARK: - Readiness timeout

  func testNotReadyInTimeEndsTheFormationWithStatus1UnderNever() throws {
    let base = try Readiness.freePortBase()
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: exec ./service.sh\n", "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, ["-p", "\(base)", "--ready", "web=port", "--ready-timeout", "1"])
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    try forge.waitForLine(containing: "not ready after 1 s (port \(base))", from: "web.1")
    XCTAssertEqual(try forge.waitForExit(), 1, forge.transcript())
    XCTAssertGreaterThanOrEqual(forge.runningTime ?? 0, 1, "gave up before the readiness timeout")
    XCTAssertTrue(forge.lines(of: "web.1").contains("got TERM"), "stopped gracefully\n\(forge.transcript())")
    XCTAssertTrue(forge.lines(of: "worker.1").contains("got TERM"), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
  }

  func testNotReadyInTimeIsRestartedUnderOnFailure() throws {
    let base = try Readiness.freePortBase()
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try start(
      project, ["-p", "\(base)", "--ready", "web=port", "--ready-timeout", "0.5", "--restart", "on-failure"])
    try forge.waitForLine(containing: "not ready after 0.5 s (port \(base))", from: "web.1")
    try forge.waitForLine(containing: "got TERM", from: "web.1")
    try forge.waitForLine(containing: "restarting in 1 s", from: "web.1")
    try forge.waitForLine(containing: "started with pid", from: "web.1", count: 2)
    XCTAssertTrue(forge.isRunning, forge.transcript())
    try stop(forge)
  }

  // MARK: - Health

  func testFailingExecHealthCheckRestartsTheInstanceWithANewPid() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service, "check.sh": Readiness.flakyCheck,
    ])
    let forge = try start(project, ["--health", "web=exec:./check.sh", "--health-interval", "0.2"])
    let first = try XCTUnwrap(HelperScripts.pid("pid", in: try forge.waitForLine(containing: "ready pid=")))
    XCTAssertEqual(Readiness.flag(try processTable(in: project)["web.1"], "healthy"), true)

    try project.write("sick", "0\n")  // check.sh fails three times, then passes again
    try forge.waitForLine(
      containing: "unhealthy (exec:./check.sh: exited with code 1, 3 times), restarting", from: "web.1")
    try forge.waitForLine(containing: "got TERM", from: "web.1")
    let line = try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)
    let second = try XCTUnwrap(HelperScripts.pid("pid", in: line))
    XCTAssertNotEqual(second, first, "a new process")
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(first) }, "the unhealthy process is gone")
    let table = try processTable(in: project)
    XCTAssertEqual(try table.pid("web.1"), second, table.text)
    XCTAssertEqual(table["web.1"]?.restarts, 1, table.text)
    XCTAssertEqual(Readiness.flag(table["web.1"], "healthy"), true, table.text)
    XCTAssertTrue(forge.isRunning, "a health restart does not end the formation\n\(forge.transcript())")
    try stop(forge)
  }

  func testFailingHTTPHealthCheckNamesTheStatusCode() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject(["Procfile": "web: \(Readiness.httpServer)\n", "healthz": "ok\n"])
    let forge = try start(
      project,
      ["-p", "\(base)", "--ready", "web=port", "--health", "web=http:/healthz", "--health-interval", "0.2"])
    try forge.waitForLine(containing: "ready after", from: "web.1")
    try forge.waitForLine(matching: #"web\.1 +\| .*"GET /healthz HTTP/1\.[01]" 200"#)

    try FileManager.default.removeItem(atPath: project.path("healthz"))
    try forge.waitForLine(containing: "unhealthy (http:/healthz: 404, 3 times), restarting", from: "web.1")
    try project.write("healthz", "ok\n")
    try forge.waitForLine(containing: "ready after", from: "web.1", count: 2)
    try forge.waitForLine(containing: "started with pid", from: "web.1", count: 2)
    XCTAssertEqual(try processTable(in: project)["web.1"]?.restarts, 1)
    try stop(forge)
  }
}
