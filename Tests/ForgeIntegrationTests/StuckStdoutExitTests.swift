import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The end of a stop while stdout takes nothing (a terminal's reader suspended, a pipe nobody
/// reads): forge waits at most 10 s for it, and a further SIGTERM leaves the rest at once.
final class StuckStdoutExitTests: ForgeControlTestCase {
  /// forge with `yes` filling a stdout nobody reads; returns once output is stuck (yes blocked
  /// writing to its full pipe, forge's buffer full).
  private func stuckFormation(in project: ForgeProject) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "2"], in: project, stdout: .pausedPipe)
    XCTAssertTrue(
      eventually(timeout: 10) { forge.children().contains { ProcFS.isBlockedOnPipeWrite($0.pid) } },
      "stdout never got stuck\n\(forge.transcript())")
    return forge
  }

  func testExitWaitsAtMostTenSecondsForAStdoutThatTakesNothing() throws {
    let forge = try stuckFormation(in: try makeProject(["Procfile": "web: exec yes floodline\n"]))
    let sent = Date()
    forge.send(SIGTERM)
    // Timed by the exit itself: `waitForExit` then waits for stdout's end, which nobody reads.
    XCTAssertTrue(eventually(timeout: 30) { !forge.isRunning }, forge.transcript())
    let elapsed = Date().timeIntervalSince(sent)
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertGreaterThan(elapsed, 9, "gave up on stdout before its 10 s")
    XCTAssertLessThan(elapsed, 11.5, "waited more than 10 s for stdout (and the stop)")
    XCTAssertTrue(forge.stderr.text.contains("forge: stdout took nothing for 10 s"), forge.transcript())
  }

  func testASIGTERMWhileTheLastOutputWaitsLeavesIt() throws {
    let project = try makeProject(["Procfile": "web: exec yes floodline\n"])
    let forge = try stuckFormation(in: project)
    forge.send(SIGTERM)
    // Every instance has exited (its group is gone): forge is writing the last output.
    XCTAssertTrue(
      eventually(timeout: 10) {
        (try? self.processTable(in: project))?.rows.allSatisfy { $0.state == "exited" } ?? false
      },
      forge.transcript())
    let second = Date()
    forge.send(SIGTERM)
    XCTAssertTrue(eventually(timeout: 30) { !forge.isRunning }, forge.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(second), 1.5, "the second SIGTERM did not end forge at once")
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(
      forge.stderr.text.contains("forge: SIGTERM received, leaving the rest of the output unwritten"),
      forge.transcript())
    XCTAssertFalse(forge.stderr.text.contains("stdout took nothing"), forge.transcript())
  }
}
