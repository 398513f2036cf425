import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge reload` (a new release: changed types rolled one instance at a time, unchanged ones
/// untouched, removed ones stopped, new ones started; bad files refused; a failing replacement
/// halts the rollout), `forge signal`, and `--hup reload`.
final class ReloadTests: ForgeControlTestCase {
  private let worker = "worker: exec ./service.sh\n"

  /// Starts forge and waits for a line with "ready" (`ready pid=`, `ready after`) of each of
  /// `ready`.
  private func start(
    _ project: ForgeProject, _ arguments: [String], environment: [String: String] = [:], ready: [String]
  ) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "3"] + arguments, in: project, environment: environment)
    for instance in ready { try forge.waitForLine(containing: "ready", from: instance) }
    return forge
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  // MARK: - Rolling replacement

  func testChangedTypeIsReplacedOneInstanceAtATimeWithoutDowntime() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject([
      "Procfile": "web: \(ReloadSupport.httpServer(serving: "v1"))\n" + worker,
      "service.sh": HelperScripts.service, "v1/index.html": "one\n", "v2/index.html": "two\n",
    ])
    let forge = try start(
      project, ["-p", "\(base)", "-m", "web=2,worker=1", "--ready", "web=http:/"],
      ready: ["web.1", "web.2", "worker.1"])
    let old = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)
    let ports = [base, base + 1]
    XCTAssertEqual(ports.map { ReloadSupport.get($0) }, ["one\n", "one\n"])

    // The new release takes a while to listen: forge has to wait for it.
    try project.write("Procfile", "web: sleep 0.3; \(ReloadSupport.httpServer(serving: "v2"))\n" + worker)
    let poller = PortPoller(ports: ports)
    poller.start()
    let new = try expectReload(project, from: old, changes: "web changed (command), worker unchanged")
    let polls = poller.stop()

    let silent = polls.indices.filter { polls[$0].allSatisfy { $0 == nil } }
    XCTAssertEqual(silent, [], "no instance answered at these of \(polls.count) polls\n\(forge.transcript())")
    for (column, port) in ports.enumerated() {
      XCTAssertTrue(polls.contains { $0[column] == nil }, "port \(port) never seen down: was it replaced?")
    }
    XCTAssertEqual(ports.map { ReloadSupport.get($0) }, ["two\n", "two\n"])

    // web.2 is stopped only once web.1's replacement is ready.
    let order = try [
      ("reload: release \(old)", "forge", 1), ("replaced (release \(new))", "web.1", 1), ("ready after", "web.1", 2),
      ("terminated by SIGTERM", "web.2", 1), ("replaced (release \(new))", "web.2", 1), ("ready after", "web.2", 2),
      ("release \(new) running", "forge", 1),
    ].map { try ReloadSupport.index(of: $0.0, from: $0.1, count: $0.2, in: forge) }
    XCTAssertEqual(order, order.sorted(), forge.transcript())

    let after = try processTable(in: project)
    for name in ["web.1", "web.2"] {
      XCTAssertNotEqual(try after.pid(name), try before.pid(name), after.text)
      XCTAssertEqual(ReloadSupport.release(after[name]), new, after.text)
    }
    // Nothing about the worker changed: the same process, still of the release it started in.
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"), after.text)
    XCTAssertEqual(ReloadSupport.release(after["worker.1"]), old, after.text)
    XCTAssertFalse(forge.lines(of: "worker.1").contains("got TERM"), forge.transcript())
    try stop(forge)
  }

  func testReplacementNotReadyInTimeHaltsTheRolloutAndALaterReloadGoesOn() throws {
    try Readiness.requirePython()
    let base = try Readiness.freePortBase()
    let project = try makeProject([
      "Procfile": "web: \(ReloadSupport.httpServer(serving: "v1"))\n" + worker,
      "service.sh": HelperScripts.service, "v1/index.html": "one\n", "v2/index.html": "two\n",
    ])
    let options = ["--ready", "web=port", "--ready-timeout", "3", "--restart", "on-failure"]
    let forge = try start(
      project, ["-p", "\(base)", "-m", "web=2,worker=1"] + options, ready: ["web.1", "web.2", "worker.1"])
    let first = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)

    try project.write("Procfile", "web: exec ./service.sh\n" + worker)  // never listens on $PORT
    let halted = try runForge(["reload"], in: project)
    let second = try releaseOfLoggedPlan(forge, from: first, changes: "web changed (command), worker unchanged")
    let reason = "web.1 of release \(second) not ready after 3 s (port \(base))"
    XCTAssertEqual(halted.status, 1, halted.stderr)
    XCTAssertEqual(halted.stderr, "forge: reload halted: \(reason)\n", forge.transcript())
    XCTAssertEqual(halted.stdout, "")
    let line = try forge.waitForLine(containing: "reload halted:", from: "forge")
    XCTAssertEqual(LogLine(line)?.text, "reload halted: \(reason); web.2 still runs release \(first)")
    XCTAssertEqual(ReloadSupport.get(base + 1), "one\n", "web.2 of the old release serves on")
    let during = try processTable(in: project)
    XCTAssertEqual(try during.pid("web.2"), try before.pid("web.2"), during.text)
    XCTAssertEqual(ReloadSupport.release(during["web.2"]), first, during.text)
    XCTAssertEqual(ReloadSupport.release(during["web.1"]), second, during.text)

    try project.write("Procfile", "web: \(ReloadSupport.httpServer(serving: "v2"))\n" + worker)
    let third = try expectReload(project, from: second, changes: "web changed (command), worker unchanged")
    XCTAssertEqual([base, base + 1].map { ReloadSupport.get($0) }, ["two\n", "two\n"])
    let after = try processTable(in: project)
    XCTAssertEqual(after.rows.map(ReloadSupport.release), [third, third, first], after.text)
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"), after.text)
    try stop(forge)
  }

  /// The README: a replacement that crashes halts the rollout, the others keep running. Under
  /// the default restart policy (`never`) too.
  func testCrashingReplacementHaltsTheRolloutUnderTheDefaultPolicy() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n" + worker, "service.sh": HelperScripts.service,
    ])
    let forge = try start(
      project, ["-m", "web=2,worker=1", "--ready", "web=log:ready pid"], ready: ["web.1", "web.2", "worker.1"])
    let first = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)

    try project.write("Procfile", "web: echo crashing; exit 3\n" + worker)
    let halted = try runForge(["reload"], in: project)
    let second = try releaseOfLoggedPlan(forge, from: first, changes: "web changed (command), worker unchanged")
    XCTAssertEqual(halted.status, 1, halted.stderr)
    XCTAssertEqual(
      halted.stderr, "forge: reload halted: web.1 of release \(second) exited with code 3\n", forge.transcript())
    let line = try forge.waitForLine(containing: "reload halted:", from: "forge")
    XCTAssertEqual(
      LogLine(line)?.text,
      "reload halted: web.1 of release \(second) exited with code 3; web.2 still runs release \(first)")
    XCTAssertEqual(try processTable(in: project).pid("web.2"), try before.pid("web.2"))

    try project.write("Procfile", "web: echo fixed; exec ./service.sh\n" + worker)
    try expectReload(project, from: second, changes: "web changed (command), worker unchanged")
    XCTAssertEqual(try processTable(in: project).pid("worker.1"), try before.pid("worker.1"))
    try stop(forge)
  }

  // MARK: - What a reload reads

  func testFilesThatDoNotParseAreRefusedAndNothingChanges() throws {
    let procfile = "web: exec ./service.sh\n" + worker
    let project = try makeProject(["Procfile": procfile, "service.sh": HelperScripts.service, ".env": "A=1\n"])
    let forge = try start(project, [], ready: ["web.1", "worker.1"])
    let release = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)
    let cases = [
      (
        "Procfile", procfile + "not a process line\n",
        #"Procfile:3: expected "name: command" with a name of letters, digits, '_' or '-'"#
      ),
      (".env", "A=\"unterminated\n", ".env:1: unterminated double-quoted value"),
      (".forge", "FORGE_AFTER=web=nope\n", #".forge:1: unknown process type "nope""#),
    ]
    for (number, (name, contents, message)) in cases.enumerated() {
      try project.write(name, contents)
      for arguments in [["reload"], ["reload", "--dry-run"]] {
        let result = try runForge(arguments, in: project)
        XCTAssertEqual(result.status, 2, "\(arguments) with a bad \(name): \(result.stderr)")
        XCTAssertEqual(result.stderr, "forge: \(message)\n", "\(arguments)")
        XCTAssertEqual(result.stdout, "", "\(arguments)")
      }
      let refused = try forge.waitForLine(containing: "reload refused:", from: "forge", count: number + 1)
      XCTAssertEqual(LogLine(refused)?.text, "reload refused: \(message)")
      try project.write("Procfile", procfile)
      try project.write(".env", "A=1\n")
      try? FileManager.default.removeItem(atPath: project.path(".forge"))
    }
    let after = try processTable(in: project)
    XCTAssertEqual(after.rows.compactMap(\.pid), before.rows.compactMap(\.pid), after.text)
    XCTAssertEqual(after.rows.map(ReloadSupport.release), [release, release], after.text)
    XCTAssertEqual(forge.stdout.lines.filter { $0.contains("started with pid") }.count, 2, forge.transcript())

    // Refusals leave forge able to reload.
    try project.write("Procfile", "web: exec ./service.sh\nworker: echo again; exec ./service.sh\n")
    try expectReload(project, from: release, changes: "web unchanged, worker changed (command)")
    XCTAssertEqual(try processTable(in: project).pid("web.1"), try before.pid("web.1"))
    try stop(forge)
  }

  func testDryRunThenReloadStopRemovedTypesAndStartNewOnes() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n" + worker + "clock: exec ./service.sh\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, [], ready: ["web.1", "worker.1", "clock.1"])
    let old = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)
    let mailer = "mailer: echo \"release=$FORGE_RELEASE\"; exec ./service.sh\n"
    try project.write("Procfile", "web: exec ./service.sh\n" + worker + mailer)
    let changes = "web unchanged, worker unchanged, clock removed, mailer added"

    let dry = try runForge(["reload", "--dry-run"], in: project)
    XCTAssertEqual(dry.status, 0, dry.stderr)
    XCTAssertEqual(dry.stderr, "")
    XCTAssertEqual(dry.stdoutLines.count, 1, dry.stdout)
    let planned = try ReloadSupport.newRelease(inPlan: dry.stdoutLines.first ?? "", from: old, changes: changes)
    let during = try processTable(in: project)
    XCTAssertEqual(during.rows.compactMap(\.pid), before.rows.compactMap(\.pid), during.text)
    XCTAssertEqual(during.rows.map(ReloadSupport.release), [old, old, old], during.text)

    XCTAssertEqual(try expectReload(project, from: old, changes: changes), planned)
    try forge.waitForLine(containing: "removed in release \(planned), stopping", from: "clock.1")
    try forge.waitForLine(containing: "got TERM", from: "clock.1")
    try forge.waitForLine(containing: "release=\(planned)", from: "mailer.1")
    try forge.waitForLine(containing: "exited with code 0", from: "clock.1")
    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "worker.1", "mailer.1"], after.text)
    XCTAssertEqual(ReloadSupport.release(after["mailer.1"]), planned, after.text)
    for name in ["web.1", "worker.1"] { XCTAssertEqual(try after.pid(name), try before.pid(name), after.text) }
    XCTAssertEqual(forge.lines(of: "forge").filter { $0.hasPrefix("reload:") }.count, 1, "the dry run is not logged")
    try stop(forge)
  }

  /// `.forge` is read again too. Whatever a new FORGE_PORT does to the plan, `forge ps` shows
  /// the port the running process got.
  func testPsShowsThePortTheProcessGotAfterAReloadChangesFORGE_PORT() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"port=$PORT\"; exec ./service.sh\n", "service.sh": HelperScripts.service,
      ".forge": "FORGE_PORT=7500\n",
    ])
    let forge = try start(project, ["--ready", "web=log:ready pid"], ready: ["web.1"])
    try forge.waitForLine(containing: "port=7500", from: "web.1")
    try project.write(".forge", "FORGE_PORT=7600\n")
    let result = try runForge(["reload"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    let table = try processTable(in: project)
    let said = forge.lines(of: "web.1").last { $0.hasPrefix("port=") }
    XCTAssertEqual(said, "port=\(table["web.1"]?.port ?? 0)", "\(result.stdout)\(table.text)\n\(forge.transcript())")
    try stop(forge)
  }

  func testRunAndEnvSeeTheNewEnvFileAfterAReload() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"greeting=$GREETING\"; exec ./service.sh\n", "service.sh": HelperScripts.service,
      ".env": "GREETING=hello\n",
    ])
    let forge = try start(project, [], ready: ["web.1"])
    let old = try ReloadSupport.startingRelease(of: forge)
    let echo = ["run", "sh", "-c", "echo $GREETING"]
    XCTAssertEqual(try runForge(echo, in: project).stdout, "hello\n")
    try project.write(".env", "GREETING=bye\n")
    XCTAssertEqual(try runForge(echo, in: project).stdout, "hello\n", "the running release, until reloaded")

    try expectReload(project, from: old, changes: "web changed (environment)")
    try forge.waitForLine(containing: "greeting=bye", from: "web.1")
    let run = try runForge(echo, in: project)
    XCTAssertEqual(run.stdout, "bye\n")
    XCTAssertEqual(run.stderr, "", "the files are the running release now")
    let env = try runForge(["env"], in: project)
    XCTAssertTrue(env.stdoutLines.contains("GREETING=bye"), env.stdout)
    XCTAssertEqual(env.stderr, "")
    try stop(forge)
  }

  // MARK: - Signals

  func testSignalReachesOnlyTheNamedGroups() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./hup.sh\nworker: exec ./plain.sh\n", "hup.sh": ReloadSupport.hupRecorder,
      "plain.sh": ReloadSupport.noHUPHandler,
    ])
    let forge = try start(project, ["-m", "web=2,worker=1"], ready: ["web.1", "web.2", "worker.1"])
    let workerPid = try processTable(in: project).pid("worker.1")

    XCTAssertEqual(try control(["signal", "HUP", "web"], in: project), "signalled web.1, web.2\n")
    try forge.waitForLine(containing: "sending SIGHUP to web.1, web.2", from: "forge")
    try forge.waitForLine(containing: "got HUP", from: "web.1")
    try forge.waitForLine(containing: "got HUP", from: "web.2")
    XCTAssertEqual(project.read("hup-web.1"), "hup\n")
    XCTAssertTrue(ProcFS.isAlive(workerPid), "the worker, which SIGHUP kills, got none\n\(forge.transcript())")
    XCTAssertEqual(try processTable(in: project).pid("worker.1"), workerPid)

    XCTAssertEqual(try control(["signal", "SIGHUP", "web.2"], in: project), "signalled web.2\n")
    try forge.waitForLine(containing: "got HUP", from: "web.2", count: 2)
    XCTAssertEqual(project.read("hup-web.2"), "hup\nhup\n")
    XCTAssertEqual(project.read("hup-web.1"), "hup\n")
    for (arguments, message) in [
      (["signal", "HUP", "nope"], #"no process type or instance named "nope""#),
      (["signal", "BOGUS", "web"], #"unknown signal "BOGUS""#),
    ] {
      let result = try runForge(arguments, in: project)
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertEqual(result.stderr, "forge: \(message)\n")
    }
    XCTAssertTrue(ProcFS.isAlive(workerPid), forge.transcript())
    try stop(forge)
  }

  func testSIGHUPReloadsWithHupReload() throws {
    for setting in [(["--hup", "reload"], [:]), ([], ["FORGE_HUP": "reload"])] {
      let project = try makeProject([
        "Procfile": "web: exec ./hup.sh\nworker: exec ./plain.sh\n", "hup.sh": ReloadSupport.hupRecorder,
        "plain.sh": ReloadSupport.noHUPHandler, "service.sh": HelperScripts.service,
      ])
      let forge = try start(project, setting.0, environment: setting.1, ready: ["web.1", "worker.1"])
      let old = try ReloadSupport.startingRelease(of: forge)
      let before = try processTable(in: project)
      try project.write("Procfile", "web: exec ./hup.sh\nworker: exec ./plain.sh\nclock: exec ./service.sh\n")
      forge.send(SIGHUP)
      let new = try releaseOfLoggedPlan(forge, from: old, changes: "web unchanged, worker unchanged, clock added")
      try forge.waitForLine(containing: "ready pid=", from: "clock.1")
      try forge.waitForLine(containing: "release \(new) running", from: "forge")
      let after = try processTable(in: project)
      XCTAssertEqual(after.names, ["web.1", "worker.1", "clock.1"], after.text)
      for name in ["web.1", "worker.1"] { XCTAssertEqual(try after.pid(name), try before.pid(name), after.text) }
      XCTAssertFalse(project.exists("hup-web.1"), "SIGHUP was forwarded\n\(forge.transcript())")
      XCTAssertFalse(forge.stdout.text.contains("forwarding SIGHUP"), forge.transcript())
      try stop(forge)
    }
  }
}
