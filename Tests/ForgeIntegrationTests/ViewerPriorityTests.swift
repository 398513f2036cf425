import Foundation
import XCTest

/// A viewer of the formation (`forge logs -f`, `forge events`) yields the CPU to what it
/// watches: it runs 10 nice levels below forge, so on a busy host a viewer that falls behind
/// loses lines (and is told) instead of slowing the log path.
final class ViewerPriorityTests: ForgeControlTestCase {
  func testFollowersAndEventStreamsRunAtALowerPriorityThanForge() throws {
    let project = try makeProject(["Procfile": "web: echo hello; exec sleep 600\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "hello", from: "web.1")
    let forgeNice = try XCTUnwrap(niceness(of: forge.pid))
    var viewers: [ForgeProcess] = []
    for arguments in [["logs", "-f"], ["events"]] {
      let viewer = try launch(arguments, in: project)
      // Waiting for forge in poll(2): past the point where it lowers its priority.
      XCTAssertTrue(
        eventually(timeout: 5) { ProcFS.waitChannel(viewer.pid).contains("poll") }, viewer.transcript())
      XCTAssertEqual(niceness(of: viewer.pid), min(19, forgeNice + 10), "forge \(arguments.joined(separator: " "))")
      viewers.append(viewer)
    }
    // A one-shot `forge logs` keeps its priority: it is not a long-running viewer.
    let once = try launch(["logs"], in: project)
    XCTAssertEqual(try once.waitForExit(), 0, once.transcript())
    XCTAssertTrue(once.stdout.text.contains("hello"), once.transcript())

    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    for viewer in viewers { XCTAssertEqual(try viewer.waitForExit(), 0, viewer.transcript()) }
  }

  /// Field 19 of /proc/PID/stat, counted after the command's closing parenthesis.
  private func niceness(of pid: Int32) -> Int? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 16 ? Int(fields[16]) : nil
  }
}
