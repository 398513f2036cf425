import XCTest

@testable import ForgeCore

/// The machine's lifecycle events (`forge events`) where they were missing, and the one rule
/// of "ready or done" that `forge wait`, `/readyz` and `forge_process_ready` share.
final class FormationMachineEventTests: XCTestCase {
  private typealias B = MachineBench

  /// `kind instance` of each event the input produced, in order, with its details after `:`.
  private func events(_ bench: inout B, _ input: B.Input, details: Bool = false) -> [String] {
    bench.machine.handle(input, now: bench.now).compactMap { action in
      guard case .event(let event) = action else { return nil }
      let said = event.details.map { " \($0.key)=\($0.value)" }.joined()
      return "\(event.kind) " + (event.instance.map { "\($0.typeIndex).\($0.number)" } ?? "-")
        + (details && !said.isEmpty ? ":" + said : "")
    }
  }

  /// `forge restart` replaces as a reload does: `replaced` after the replacement's `started`,
  /// once; a crash of the replacement that the policy restarts is not another replacement.
  func testARequestedRestartIsReplacedOnceAfterTheReplacementStarts() {
    var bench = B([("a", .always, 15)])
    bench.start([1])
    XCTAssertEqual(events(&bench, .restart([B.id(0, 1)])), [])
    XCTAssertEqual(events(&bench, .reaped(pid: 101, status: .signaled(15))), ["exited 0.1"])
    bench.send(.groupEmpty(101))
    XCTAssertEqual(events(&bench, .spawned(B.id(0, 1), pid: 111)), ["started 0.1", "replaced 0.1", "ready 0.1"])
    XCTAssertEqual(events(&bench, .reaped(pid: 111, status: .exited(1))), ["exited 0.1", "restarting 0.1"])
    bench.send(.groupEmpty(111))
    bench.wait(1)
    XCTAssertEqual(events(&bench, .spawned(B.id(0, 1), pid: 121)), ["started 0.1", "ready 0.1"])
  }

  /// A failed health check restarts as a crash does, and says so: `restarting` with its delay
  /// (0: it starts again once stopped). Giving up on it is `gave up`, as for crashes.
  func testAFailedHealthCheckIsFollowedByRestartingAndGivingUpIsAnEvent() {
    var bench = B([("web", .always, 15)]) { types in
      types[0].health = .port
      types[0].healthInterval = nanos(1)
    }
    bench.machine.rules.restart.maxRestarts = 1
    bench.start([1])
    let sick = B.Input.probeResult(B.id(0, 1), pid: 101, purpose: .health, ok: false, detail: "refused")
    XCTAssertEqual(events(&bench, sick) + events(&bench, sick), [])
    XCTAssertEqual(
      events(&bench, sick, details: true), ["unhealthy 0.1: probe=port detail=refused", "restarting 0.1: delay=0"])
    bench.end(101, .signaled(15))
    bench.send(.spawned(B.id(0, 1), pid: 111))
    let again = B.Input.probeResult(B.id(0, 1), pid: 111, purpose: .health, ok: false, detail: "refused")
    XCTAssertEqual(events(&bench, again) + events(&bench, again), [])
    XCTAssertEqual(
      events(&bench, again, details: true).prefix(3),
      ["unhealthy 0.1: probe=port detail=refused", "gave up 0.1: exits=2", "stopping -"])
  }

  /// Exited with 0 and not started again: done, so ready. Exited with 0 under `always`: only
  /// between two runs.
  func testAnInstanceThatExitedWithZeroAndIsNotRestartedIsDone() {
    var bench = B([("once", .onFailure, 15), ("web", .always, 15)])
    bench.start([1, 1])
    let ready = { (bench: B, id: B.ID) in bench.machine.isReadyOrDone(bench.machine.instances[id]!) }
    XCTAssertTrue(ready(bench, B.id(0, 1)), "running, ready at once without a probe")
    bench.end(101, .exited(0))
    XCTAssertEqual(bench.machine.instances[B.id(0, 1)]?.state, .exited(.exited(0)))
    XCTAssertTrue(ready(bench, B.id(0, 1)), "done")
    bench.end(201, .exited(0))
    XCTAssertFalse(ready(bench, B.id(1, 1)), "waiting to run again")
    var failed = B([("once", .onFailure, 15), ("web", .never, 15)])
    failed.start([1, 1])
    failed.end(101, .exited(1))
    XCTAssertFalse(ready(failed, B.id(0, 1)), "failed: restarted")
  }
}
