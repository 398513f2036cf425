import XCTest

@testable import ForgeCore

/// Table tests of the end of a formation: stop requests, SIGKILL after the grace period, what
/// cannot be killed, orphans, and draining.
final class FormationMachineStopTests: XCTestCase {
  private typealias B = MachineBench

  func testStopRequestSignalsEveryGroupThenKillsAtTheGraceDeadline() {
    var bench = B([("web", .never, 15), ("worker", .always, 15)])
    bench.start([1, 1])
    let stop = bench.send(.stop(reason: "SIGINT", escalates: true))
    XCTAssertEqual(
      Array(stop.prefix(2)),
      [.announce(nil, "SIGINT received, stopping"), .announce(nil, "sending SIGTERM to all processes")])
    XCTAssertEqual(B.signals(in: stop), [101: [15, 18], 201: [15, 18]])
    XCTAssertEqual(stop.count, 4)
    let deadline = bench.now + nanos(5)
    XCTAssertEqual(bench.machine.nextDeadline, deadline)
    bench.now += nanos(1)
    XCTAssertNil(B.exit(in: bench.end(101, .signaled(15))))
    XCTAssertEqual(bench.machine.groups[201]?.stage, .asked(killAt: deadline))
    XCTAssertEqual(bench.wait(3.999), [])
    XCTAssertEqual(
      bench.wait(0.001), [.announce(nil, "sending SIGKILL to worker.1 (pid 201)"), .signal(group: 201, signals: [9])])
    XCTAssertEqual(bench.machine.nextDeadline, bench.now + Teardown.defaultBound)
    bench.now += nanos(0.01)
    let end = bench.end(201, .signaled(9))
    XCTAssertFalse(B.messages(in: end).contains { $0.contains("restarting") }, "no restart while stopping")
    XCTAssertEqual(B.exit(in: end), 137)
  }

  func testSecondEscalatingStopKillsAtOnce() {
    var bench = B([("web", .never, 15)])
    bench.start([2])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    bench.now += nanos(0.5)
    XCTAssertEqual(
      bench.send(.stop(reason: "SIGINT", escalates: true)),
      [
        .announce(nil, "SIGINT received again, killing"),
        .announce(nil, "sending SIGKILL to web.1 (pid 101)"), .signal(group: 101, signals: [9]),
        .announce(nil, "sending SIGKILL to web.2 (pid 102)"), .signal(group: 102, signals: [9]),
      ])
    XCTAssertEqual(bench.machine.nextDeadline, bench.now + Teardown.defaultBound)
    bench.end(101, .signaled(9))
    XCTAssertEqual(B.exit(in: bench.end(102, .signaled(9))), 137)
  }

  func testRepeatedForgeStopStaysGraceful() {
    var bench = B([("web", .never, 15)])
    bench.start([1])
    XCTAssertEqual(B.signals(in: bench.send(.stop(reason: "stop request", escalates: false))), [101: [15, 18]])
    let deadline = bench.now + nanos(5)
    bench.now += nanos(2)
    XCTAssertEqual(bench.send(.stop(reason: "stop request", escalates: false)), [])
    XCTAssertEqual(bench.machine.nextDeadline, deadline, "the grace period goes on")
    XCTAssertEqual(bench.wait(2.9), [])
    XCTAssertEqual(B.exit(in: bench.end(101, .exited(0))), 0)
  }

  func testExitsAsSoonAsEveryGroupIsGone() {
    var bench = B([("web", .never, 15), ("worker", .never, 15)], grace: 30)
    bench.start([1, 1])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    bench.now += nanos(0.1)
    XCTAssertNil(B.exit(in: bench.end(201, .exited(0))))
    bench.now += nanos(0.1)
    let last = bench.end(101, .signaled(15))
    XCTAssertEqual(Array(last.suffix(3)), [.sweep(signal: 15), .beginDrain, .exit(0)])
    XCTAssertEqual(bench.machine.phase, .finished(0))
    XCTAssertNil(B.earliestLiveDeadline(bench.machine), "no timer left for the grace period")
  }

  /// Hazard 9: what an exited leader leaves in its group is asked with its type's stop signal.
  func testLeftoverGroupGetsItsTypesStopSignal() {
    var bench = B([("web", .always, 2), ("worker", .never, 15)])
    bench.start([1, 1])
    let exit = bench.send(.reaped(pid: 101, status: .exited(1)))  // a background child stays in group 101
    XCTAssertEqual(B.signals(in: exit), [101: [2, 18]])
    XCTAssertTrue(bench.wait(1).contains(.spawn(B.id(0, 1))), "restarted while its old group is still there")
    bench.send(.spawned(B.id(0, 1), pid: 111))
    let stop = bench.send(.stop(reason: "SIGTERM", escalates: true))
    XCTAssertTrue(
      B.messages(in: stop).contains("sending stop signals (SIGINT to web, SIGTERM to worker) to all processes"))
    XCTAssertEqual(B.signals(in: stop), [111: [2, 18], 201: [15, 18]], "group 101 was asked already")
    let kill = bench.wait(4).filter { if case .probe = $0 { false } else { true } }  // the group recheck
    XCTAssertEqual(
      kill,
      [
        .announce(nil, "sending SIGKILL to what is left of web.1 (process group 101)"),
        .signal(group: 101, signals: [9]),
      ])
  }

  /// Stop stages keep what others depend on running while the dependents stop; its health (and
  /// readiness) checks must not act then: no "unhealthy, restarting", no early stop of its group,
  /// no second "giving up".
  func testHealthChecksDoNotActWhileStopping() {
    var bench = B([("web", .always, 15), ("worker", .never, 15)]) { types in
      types[0].health = .port
      types[0].healthInterval = nanos(1)
      types[0].stopStage = 1
      types[1].gates = [FormationMachine.Gate(typeIndex: 0, condition: .ready)]
    }
    bench.send(.start(counts: [1, 1]))
    XCTAssertTrue(bench.send(.spawned(B.id(0, 1), pid: 101)).contains(.spawn(B.id(1, 1))), "web is ready at once")
    bench.send(.spawned(B.id(1, 1), pid: 201))
    let stop = bench.send(.stop(reason: "SIGTERM", escalates: true))
    XCTAssertTrue(B.messages(in: stop).contains("stopping in order: worker, then web"))
    XCTAssertEqual(B.signals(in: stop), [201: [15, 18]], "web waits for worker")
    var after: [B.Action] = []
    for _ in 0..<3 {
      after += bench.wait(1)
      after += bench.send(.probeResult(B.id(0, 1), pid: 101, purpose: .health, ok: false, detail: "refused"))
    }
    XCTAssertEqual(B.messages(in: after), [], "\(after)")
    XCTAssertEqual(B.signals(in: after), [:], "web is stopped in its turn, after worker")
  }

  /// The same for a readiness timeout: web, not ready yet when the stop began, waits for its
  /// stage; "not ready after" must not stop it before worker is gone.
  func testReadinessTimeoutDoesNotActWhileStopping() {
    var bench = B([("web", .always, 15), ("worker", .never, 15)]) { types in
      types[0].readiness = .port
      types[0].readyTimeout = nanos(2)
      types[0].stopStage = 1
    }
    bench.start([1, 1])
    XCTAssertEqual(B.signals(in: bench.send(.stop(reason: "SIGTERM", escalates: true))), [201: [15, 18]])
    let after = bench.wait(2).filter { if case .runProbe = $0 { false } else { true } }
    XCTAssertEqual(after, [], "web is stopped in its turn, after worker")
  }

  func testUnkillableGroupIsNamedAndTheFormationExitsOne() {
    var bench = B([("web", .never, 15)])
    bench.start([1])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    XCTAssertEqual(B.signals(in: bench.wait(5)), [101: [9]])
    let found = ["101 (sh)"]
    let abandon = bench.drive(.timer, orphans: found)
    XCTAssertEqual(abandon, [])
    bench.now += Teardown.defaultBound
    let given = bench.drive(.timer, orphans: found)
    XCTAssertEqual(
      Array(given.prefix(3)),
      [
        .announce(nil, "web.1 (process group 101) is still there after SIGKILL; giving up on it"),
        .sweep(signal: 15), .announce(nil, "sending SIGTERM to processes left outside the formation: 101 (sh)"),
      ])
    XCTAssertEqual(bench.drive(.timer, orphans: found), [], "the sweep's grace period is not over")
    bench.now += nanos(5)
    XCTAssertEqual(
      B.messages(in: bench.drive(.timer, orphans: found)),
      ["sending SIGKILL to processes left outside the formation: 101 (sh)"])
    bench.now += Teardown.defaultBound
    let last = bench.drive(.timer, orphans: found)
    XCTAssertEqual(
      last,
      [
        .sweep(signal: 0), .announce(nil, "still there after SIGKILL, giving up on them: 101 (sh)"), .beginDrain,
        .exit(1),
      ])
  }

  func testRefusedSignalIsNamedOnce() {
    var bench = B([("web", .never, 15)])
    bench.start([1])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    XCTAssertEqual(
      bench.send(.signalRefused(101)), [.announce(nil, "cannot signal web.1 (process group 101): permission denied")])
    bench.wait(5)
    XCTAssertEqual(bench.send(.signalRefused(101)), [], "named once")
  }

  func testOrphansAreSweptAndKilledAfterTheGracePeriod() {
    var bench = B([("web", .never, 15)])
    bench.start([1])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    let swept = bench.end(101, .exited(0), orphans: ["300 (sleep)"])
    XCTAssertEqual(
      Array(swept.suffix(2)),
      [.sweep(signal: 15), .announce(nil, "sending SIGTERM to processes left outside the formation: 300 (sleep)")])
    XCTAssertEqual(bench.wait(4.9), [])
    XCTAssertEqual(bench.wait(0.1), [.sweep(signal: 9)])
    XCTAssertEqual(
      bench.send(.orphans(signal: 9, found: ["300 (sleep)"])),
      [.announce(nil, "sending SIGKILL to processes left outside the formation: 300 (sleep)")])
    XCTAssertEqual(bench.send(.reaped(pid: 300, status: .signaled(9))), [])
    XCTAssertEqual(bench.send(.childrenGone), [.beginDrain])
    XCTAssertEqual(bench.send(.outputDrained), [.exit(137)])
  }

  func testOrphansGoneBeforeTheKillStageLeaveStatusZero() {
    for killStageFindsNone in [true, false] {
      var bench = B([("web", .never, 15)])
      bench.start([1])
      bench.send(.stop(reason: "SIGTERM", escalates: true))
      bench.end(101, .exited(0), orphans: ["300 (sleep)"])
      let last: [B.Action]
      if killStageFindsNone {
        XCTAssertEqual(bench.wait(5), [.sweep(signal: 9)])
        last = bench.drive(.orphans(signal: 9, found: []))
      } else {
        bench.send(.reaped(pid: 300, status: .signaled(15)))
        last = bench.drive(.childrenGone)
      }
      XCTAssertEqual(last, [.beginDrain, .exit(0)])
    }
  }

  func testEscalatingStopDuringDrainingLeavesTheRestOfTheOutput() {
    var bench = B([("web", .never, 15)])
    bench.start([1])
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    bench.send(.reaped(pid: 101, status: .signaled(15)))
    bench.send(.groupEmpty(101))
    XCTAssertEqual(bench.send(.orphans(signal: 15, found: [])), [.beginDrain])
    XCTAssertEqual(bench.send(.stop(reason: "stop request", escalates: false)), [])
    XCTAssertEqual(
      bench.send(.stop(reason: "SIGINT", escalates: true)),
      [.warn("SIGINT received, leaving the rest of the output unwritten"), .exit(0)])
    XCTAssertEqual(bench.send(.stop(reason: "SIGINT", escalates: true)), [], "finished once")
    XCTAssertEqual(bench.send(.outputDrained), [], "finished once")
  }
}
