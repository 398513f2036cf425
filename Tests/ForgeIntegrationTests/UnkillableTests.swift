import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A process SIGKILL cannot end (here: frozen by the cgroup v1 freezer, as a process in
/// uninterruptible sleep would be): forge names it, gives up on it after the 5 s bound, and
/// exits 1. Its stop sequence runs once: given up on, it is not stopped again as one of the
/// "processes left outside the formation".
final class UnkillableTests: ForgeControlTestCase {
  private static let freezer = "/sys/fs/cgroup/freezer"
  private var frozenGroup: String?

  override func tearDown() {
    if let frozenGroup {
      try? "THAWED".write(toFile: frozenGroup + "/freezer.state", atomically: false, encoding: .utf8)
      if let pids = try? String(contentsOfFile: frozenGroup + "/cgroup.procs", encoding: .utf8) {
        for pid in pids.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
      }
      _ = eventually(timeout: 5) { rmdir(frozenGroup) == 0 }
    }
    super.tearDown()
  }

  /// Freezes `pid` in a cgroup of its own; skips the test (loudly) where that is not possible.
  private func freeze(_ pid: pid_t) throws {
    let group = Self.freezer + "/forge-test-\(getpid())-\(pid)"
    guard mkdir(group, 0o755) == 0 else {
      print(
        "UNKILLABLE TEST SKIPPED: cannot create \(group) (\(String(cString: strerror(errno)))); needs root and cgroup v1"
      )
      throw XCTSkip("the cgroup v1 freezer is not available here: \(group)")
    }
    frozenGroup = group
    try "\(pid)".write(toFile: group + "/cgroup.procs", atomically: false, encoding: .utf8)
    try "FROZEN".write(toFile: group + "/freezer.state", atomically: false, encoding: .utf8)
    XCTAssertTrue(
      eventually(timeout: 5) {
        (try? String(contentsOfFile: group + "/freezer.state", encoding: .utf8))?.hasPrefix("FROZEN") == true
      }, "\(pid) never froze")
  }

  func testAnUnkillableProcessIsGivenUpOnOnceAndTheStopEndsWithinItsBound() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 301\nother: exec sleep 302\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    try forge.waitForLine(containing: "started with pid", from: "other.1")
    try freeze(try processTable(in: project).pid("web.1"))

    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(timeout: 30), 1, forge.transcript())
    let elapsed = Date().timeIntervalSince(sent)
    // The grace period (1 s) and the 5 s bound after SIGKILL, once; not a second sequence.
    XCTAssertGreaterThan(elapsed, 5.5, forge.transcript())
    XCTAssertLessThan(elapsed, 9, "the stop sequence ran more than once\n\(forge.transcript())")
    let forgeLines = forge.lines(of: "forge")
    XCTAssertEqual(forgeLines.filter { $0.hasSuffix("is still there after SIGKILL; giving up on it") }.count, 1)
    XCTAssertFalse(forgeLines.contains { $0.contains("left outside the formation") }, forge.transcript())
    XCTAssertTrue(forge.lines(of: "other.1").contains("terminated by SIGTERM"), forge.transcript())
  }
}
