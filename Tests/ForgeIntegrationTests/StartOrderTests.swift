import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Start order (`--after TYPE=DEP[:ready|:done]`), tasks, bad orders, the staged stop, and the
/// control requests that wait for readiness: a rolling `forge restart` and `forge scale --wait`.
final class StartOrderTests: ForgeControlTestCase {
  /// A service that writes the time it got SIGTERM to `term-$PS`, takes 0.3 s to finish, and
  /// writes the time it is done to `gone-$PS`.
  private let slowToStop = """
    #!/bin/sh
    trap 'date +%s.%N > "term-$PS"; sleep 0.3; date +%s.%N > "gone-$PS"; exit 0' TERM
    \(HelperScripts.idleSetup)
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  /// The index of the `count`-th stdout line of `process` whose text starts with `prefix`.
  private func index(_ prefix: String, of process: String, count: Int = 1, in forge: ForgeProcess) throws -> Int {
    let matches = forge.stdout.lines.indices.filter { index in
      guard let parsed = LogLine(forge.stdout.lines[index]) else { return false }
      return parsed.process == process && parsed.text.hasPrefix(prefix)
    }
    guard matches.count >= count else {
      throw HarnessError("no \(count). line \"\(prefix)…\" from \(process)\n\(forge.transcript())")
    }
    return matches[count - 1]
  }

  /// A time a process wrote with `date +%s.%N`.
  private func time(_ name: String, in project: ForgeProject) throws -> Double {
    let text = try XCTUnwrap(project.read(name), "\(name) was not written")
    return try XCTUnwrap(Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), "\(name): \(text)")
  }

  // MARK: - Waiting for dependencies

  func testDependentStartsOnlyOnceItsDependencyIsReadyAndItsTaskIsDone() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let probe = "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", \(base)), 1)' 2>/dev/null"
    let project = try makeProject([
      "Procfile": """
      redis: \(Readiness.gate("go-redis")); \(Readiness.httpServer)
      migrate: \(Readiness.gate("go-migrate")); echo migrated > migrated; echo done migrating
      web: echo "migrated=$(cat migrated 2>/dev/null || echo no) redis=$(\(probe) && echo up || echo down)"; \
      exec ./service.sh

      """,
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(
      ["start", "-t", "3", "-p", "\(base)", "--ready", "redis=port", "--after", "web=redis,web=migrate:done"],
      in: project)
    try forge.waitForLine(containing: "waiting for redis (ready), migrate (done)", from: "web.1")
    try forge.waitForLine(containing: "started with pid", from: "redis.1")
    try forge.waitForLine(containing: "started with pid", from: "migrate.1")
    var table = try processTable(in: project)
    XCTAssertTrue(table["web.1"]?.isNull("pid") ?? false, table.text)
    XCTAssertEqual(table["web.1"]?.state, "starting", table.text)

    try project.write("go-redis", "")
    try forge.waitForLine(containing: "ready after", from: "redis.1")
    let stillWaiting = try runForge(["wait", "web", "--timeout", "0.3"], in: project)
    XCTAssertEqual(stillWaiting.stderr, "forge: not ready after 0.3 s: web.1\n", "migrate is not done yet")
    table = try processTable(in: project)
    XCTAssertTrue(table["web.1"]?.isNull("pid") ?? false, "web.1 started before migrate was done\n\(table.text)")

    try project.write("go-migrate", "")
    try forge.waitForLine(containing: "exited with code 0", from: "migrate.1")
    let said = try forge.waitForLine(containing: "migrated=", from: "web.1")
    XCTAssertTrue(said.hasSuffix("migrated=migrated redis=up"), "what web.1 saw when it started: \(said)")
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let webStarted = try index("started with pid", of: "web.1", in: forge)
    XCTAssertLessThan(try index("ready after", of: "redis.1", in: forge), webStarted, forge.transcript())
    XCTAssertLessThan(try index("exited with code 0", of: "migrate.1", in: forge), webStarted, forge.transcript())
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("waiting for") }.count, 1, "said once")

    // The task's clean exit did not end the formation.
    XCTAssertTrue(forge.isRunning, forge.transcript())
    XCTAssertEqual(try processTable(in: project)["migrate.1"]?.state, "exited")
    XCTAssertEqual(try control(["wait"], in: project), "ready: redis.1, migrate.1, web.1\n")
    try stop(forge)
    XCTAssertTrue(
      forge.lines(of: "forge").contains("stopping in order: web, then redis and migrate"), forge.transcript())
  }

  func testFailingTaskEndsTheFormationWithItsStatusAndItsDependentNeverStarts() throws {
    let project = try makeProject([
      "Procfile": "migrate: echo migrating; exit 3\nweb: touch web-started; exec ./service.sh\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "3", "--after", "web=migrate:done"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 3, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("waiting for migrate (done)"), forge.transcript())
    XCTAssertTrue(forge.lines(of: "migrate.1").contains("exited with code 3"), forge.transcript())
    XCTAssertFalse(forge.lines(of: "web.1").contains { $0.hasPrefix("started with pid") }, forge.transcript())
    XCTAssertFalse(project.exists("web-started"), "web.1 ran\n\(forge.transcript())")
  }

  // MARK: - Bad orders

  func testCyclesAndOtherBadOrdersAreBadInput() throws {
    let project = try makeProject(["Procfile": "a: touch started-a\nb: touch started-b\nc: touch started-c\n"])
    let cycle = try runForge(["start", "--after", "a=b", "--after", "b=a"], in: project)
    XCTAssertEqual(cycle.status, 2, cycle.stderr)
    XCTAssertEqual(cycle.stderr, "forge: --after: start order has a cycle: a → b → a\n")
    XCTAssertEqual(cycle.stdout, "", "nothing started")
    XCTAssertFalse(project.exists("started-a") || project.exists("started-b"))

    let cases: [([String], [String: String], String)] = [
      (["--after", "a=b,b=c,c=a"], [:], "--after: start order has a cycle: a → b → c → a"),
      ([], ["FORGE_AFTER": "c=a,a=c"], "FORGE_AFTER: start order has a cycle: a → c → a"),
      (["--after", "a=a"], [:], "--after: a cannot wait for itself"),
      (["--after", "a=nope"], [:], "--after: unknown process type \"nope\""),
      (["--after", "nope=a"], [:], "--after: unknown process type \"nope\""),
      (["--after", "a=b:started"], [:], "--after: expected :ready or :done in \"a=b:started\""),
      (["-m", "a=1,b=0", "--after", "a=b"], [:], "--after: a waits for b, which the formation does not run (b=0)"),
    ]
    for (arguments, environment, message) in cases {
      for command in ["check", "start"] {
        let result = try runForge([command] + arguments, in: project, environment: environment)
        XCTAssertEqual(result.status, 2, "\(command) \(arguments) \(environment): \(result.stderr)")
        XCTAssertEqual(result.stderr, "forge: \(message)\n", "\(command) \(arguments) \(environment)")
      }
    }
    XCTAssertFalse(["started-a", "started-b", "started-c"].contains(where: project.exists))
    // A type the formation does not run may wait for one it runs.
    let fine = try runForge(["check", "-m", "a=0,b=1", "--after", "a=b:done"], in: project)
    XCTAssertEqual(fine.status, 0, fine.stderr)
    XCTAssertEqual(fine.stdout, "valid procfile detected (a, b, c)\n")
  }

  // MARK: - Stop order

  func testStopGoesInReverseStartOrderEachStageGoneBeforeTheNext() throws {
    let project = try makeProject([
      "Procfile": "db: exec ./svc.sh\nredis: exec ./svc.sh\nweb: exec ./svc.sh\nworker: exec ./svc.sh\n",
      "svc.sh": slowToStop,
    ])
    let forge = try launch(["start", "-t", "5", "--after", "web=redis,worker=redis,redis=db"], in: project)
    for name in ["db.1", "redis.1", "web.1", "worker.1"] { try forge.waitForLine(containing: "ready pid=", from: name) }
    XCTAssertLessThan(
      try index("started with pid", of: "db.1", in: forge), try index("started", of: "redis.1", in: forge))
    XCTAssertLessThan(
      try index("started with pid", of: "redis.1", in: forge), try index("started", of: "web.1", in: forge))

    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(
      forge.lines(of: "forge").contains("stopping in order: web and worker, then redis, then db"), forge.transcript())
    let webGone = max(try time("gone-web.1", in: project), try time("gone-worker.1", in: project))
    let redisTerm = try time("term-redis.1", in: project)
    XCTAssertLessThan(try time("term-web.1", in: project), redisTerm)
    XCTAssertLessThan(try time("term-worker.1", in: project), redisTerm)
    XCTAssertGreaterThanOrEqual(redisTerm, webGone, "redis was asked to stop before web and worker were gone")
    XCTAssertGreaterThanOrEqual(try time("term-db.1", in: project), try time("gone-redis.1", in: project))
    XCTAssertLessThan(try index("exited", of: "web.1", in: forge), try index("exited", of: "redis.1", in: forge))
    XCTAssertLessThan(try index("exited", of: "redis.1", in: forge), try index("exited", of: "db.1", in: forge))
  }

  func testEachStageHasItsOwnGracePeriodAndWaitsForTheKill() throws {
    let project = try makeProject([
      "Procfile": "redis: exec ./svc.sh\nweb: exec ./stubborn.sh\n",
      "svc.sh": slowToStop, "stubborn.sh": HelperScripts.ignoresTerm,
    ])
    let forge = try launch(["start", "-t", "1", "--after", "web=redis"], in: project)
    let ready = try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let web = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    try forge.waitForLine(containing: "ready pid=", from: "redis.1")
    let sent = Date().timeIntervalSince1970
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
    XCTAssertGreaterThanOrEqual(
      try time("term-redis.1", in: project) - sent, 0.9, "redis stopped before web was killed")
    XCTAssertTrue(project.exists("gone-redis.1"), "redis had its own grace period\n\(forge.transcript())")
    XCTAssertLessThan(
      try index("sending SIGKILL to web.1 (pid \(web))", of: "forge", in: forge),
      try index("exited with code 0", of: "redis.1", in: forge))
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL to redis"), forge.transcript())
  }

  // MARK: - Rolling restart, scale --wait

  func testRollingRestartKeepsAWebInstanceServingThroughout() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject(["Procfile": "web: sleep 0.2; \(Readiness.httpServer)\n"])
    let forge = try launch(["start", "-t", "3", "-p", "\(base)", "-m", "web=2", "--ready", "web=http:/"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.2")
    XCTAssertEqual(try control(["wait", "web"], in: project), "ready: web.1, web.2\n")
    let before = try processTable(in: project)

    let monitor = ServingMonitor(ports: [base, base + 1])
    monitor.start()
    XCTAssertEqual(try control(["restart", "web"], in: project), "restarting web.1, web.2\n")
    let (rounds, outages) = monitor.stop()
    XCTAssertGreaterThan(rounds, 10, "the ports were polled during the restart")
    XCTAssertEqual(outages, [], "moments when neither web instance accepted a connection\n\(forge.transcript())")

    // It returned once both replacements were ready.
    let after = try processTable(in: project)
    for name in ["web.1", "web.2"] {
      XCTAssertNotEqual(try after.pid(name), try before.pid(name), "\(name) replaced\n\(after.text)")
      XCTAssertEqual(Readiness.flag(after[name], "ready"), true, after.text)
      XCTAssertEqual(after[name]?.restarts, 1, after.text)
    }
    let web1Back = try index("ready after", of: "web.1", count: 2, in: forge)
    XCTAssertLessThan(try index("terminated by SIGTERM", of: "web.1", in: forge), web1Back)
    XCTAssertLessThan(web1Back, try index("terminated by SIGTERM", of: "web.2", in: forge), forge.transcript())
    try stop(forge)
  }

  func testScaleWaitAndRestartNoWait() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject([
      "Procfile": "web: \(Readiness.gate("go-$PS")); \(Readiness.httpServer)\n", "go-web.1": "",
    ])
    let forge = try launch(["start", "-t", "3", "-p", "\(base)", "--ready", "web=http:/"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    XCTAssertEqual(try control(["wait", "web"], in: project), "ready: web.1\n")

    let scale = try launch(["scale", "web=2", "--wait"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.2")
    let waited = try runForge(["wait", "web", "--timeout", "0.3"], in: project)
    XCTAssertEqual(waited.status, 1)
    XCTAssertEqual(waited.stderr, "forge: not ready after 0.3 s: web.2\n")
    XCTAssertTrue(scale.isRunning, "scale --wait returned before web.2 was ready\n\(scale.transcript())")
    try project.write("go-web.2", "")
    XCTAssertEqual(try scale.waitForExit(), 0, scale.transcript())
    XCTAssertEqual(scale.stdout.text, "web=2\n")
    XCTAssertEqual(Readiness.flag(try processTable(in: project)["web.2"], "ready"), true)

    // --no-wait returns at once: the replacement cannot be ready before go-web.2 is back.
    try FileManager.default.removeItem(atPath: project.path("go-web.2"))
    XCTAssertEqual(try control(["restart", "web.2", "--no-wait"], in: project), "restarting web.2\n")
    try forge.waitForLine(containing: "started with pid", from: "web.2", count: 2)
    XCTAssertEqual(Readiness.flag(try processTable(in: project)["web.2"], "ready"), false)
    try project.write("go-web.2", "")
    try forge.waitForLine(containing: "ready after", from: "web.2", count: 2)
    try stop(forge)
  }
}

/// Connects to each port in a loop on a thread of its own and counts the rounds in which none
/// of them accepted.
final class ServingMonitor: @unchecked Sendable {
  private let ports: [Int]
  private let condition = NSCondition()
  private var running = true
  private var finished = false
  private var rounds = 0
  private var outages: [String] = []

  init(ports: [Int]) {
    self.ports = ports
  }

  func start() {
    let thread = Thread { [self] in
      while true {
        condition.lock()
        let go = running
        condition.unlock()
        guard go else { break }
        let serving = ports.filter(Readiness.connects)
        condition.lock()
        rounds += 1
        if serving.isEmpty { outages.append("\(Date().timeIntervalSince1970)") }
        condition.unlock()
        usleep(2000)
      }
      condition.lock()
      finished = true
      condition.broadcast()
      condition.unlock()
    }
    thread.name = "forge-itest serving monitor"
    thread.start()
  }

  /// Stops polling; the rounds polled and the times no port accepted.
  func stop() -> (rounds: Int, outages: [String]) {
    condition.lock()
    defer { condition.unlock() }
    running = false
    while !finished { condition.wait() }
    return (rounds, outages)
  }
}
