import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge events [--json]`: the lifecycle of a formation as it happens (starts, readiness,
/// exits, restarts, giving up, scaling, reloads that replace or halt, health, the stop), and
/// control actions written to the log when asked for and when done.
final class EventsTests: ForgeControlTestCase {
  private typealias Event = [String: Any]

  /// `forge events` connected and subscribed: it has sent its request and waits (in poll), and
  /// forge has answered a request made after it.
  private func subscribe(_ project: ForgeProject, json: Bool = true) throws -> ForgeProcess {
    let events = try launch(["events"] + (json ? ["--json"] : []), in: project)
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.waitChannel(events.pid).contains("poll") }, events.transcript())
    _ = try processTable(in: project)
    return events
  }

  private func parse(_ events: ForgeProcess) throws -> [Event] {
    try events.stdout.lines.map { line in
      try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? Event, "not a JSON object: \(line)")
    }
  }

  /// `event instance` (`-` for the formation's own).
  private func kind(_ event: Event) -> String {
    "\(event["event"] as? String ?? "?") \(event["instance"] as? String ?? "-")"
  }

  /// The first event after `index` that is `kind`, and its index.
  private func find(_ kind: String, in events: [Event], after index: Int = -1) throws -> (Int, Event) {
    guard let found = events.indices.first(where: { $0 > index && self.kind(events[$0]) == kind }) else {
      throw HarnessError("no \(kind) after event \(index) in:\n" + events.map(self.kind).joined(separator: "\n"))
    }
    return (found, events[found])
  }

  private func number(_ event: Event, _ key: String) -> Double? { (event[key] as? NSNumber)?.doubleValue }

  /// `key=value key="quoted \"value\""` back into pairs, as a logfmt reader splits them.
  static func logfmtPairs(_ text: String) throws -> [String: String] {
    var pairs: [String: String] = [:]
    var rest = Substring(text)
    while let start = rest.firstIndex(where: { $0 != " " }) {
      rest = rest[start...]
      guard let equals = rest.firstIndex(of: "=") else { throw HarnessError("no = in \(rest)") }
      let key = String(rest[..<equals])
      rest = rest[rest.index(after: equals)...]
      var value = ""
      if rest.first == "\"" {
        var escaped = false
        var index = rest.index(after: rest.startIndex)
        while index < rest.endIndex, escaped || rest[index] != "\"" {
          if !escaped && rest[index] == "\\" {
            escaped = true
          } else {
            (escaped, value) = (false, value + [rest[index]])
          }
          index = rest.index(after: index)
        }
        guard index < rest.endIndex else { throw HarnessError("unterminated quote in \(text)") }
        rest = rest[rest.index(after: index)...]
      } else {
        let end = rest.firstIndex(of: " ") ?? rest.endIndex
        value = String(rest[..<end])
        rest = rest[end...]
      }
      pairs[key] = value
    }
    return pairs
  }

  private func release(of forge: ForgeProcess) throws -> String {
    try XCTUnwrap(forge.lines(of: "forge").first { $0.hasPrefix("release ") }.map { String($0.dropFirst(8)) })
  }

  // MARK: - Lifecycle

  func testEventsTellStartsExitsRestartsScalingAndTheStopInJSONAndText() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\njob: \(Readiness.gate("go")); rm go; exit 3\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(
      ["start", "-t", "1", "--ready", "web=log:ready pid", "--restart", "job=always"], in: project)
    try forge.waitForLine(containing: "ready after", from: "web.1")
    let release = try release(of: forge)
    let json = try subscribe(project)
    let text = try subscribe(project, json: false)

    try project.write("go", "")
    try json.waitForLine(containing: #""event":"started","instance":"job.1""#)
    try control(["scale", "web=1"], in: project)  // changes nothing: no `scaled`
    try control(["scale", "web=2"], in: project)
    try json.waitForLine(containing: #""event":"ready","instance":"web.2""#)
    let web2 = try processTable(in: project).pid("web.2")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(try json.waitForExit(), 0, "the stream ends with forge\n\(json.transcript())")
    XCTAssertEqual(try text.waitForExit(), 0, text.transcript())

    let events = try parse(json)
    for event in events {
      let time = event["time"] as? String ?? ""
      XCTAssertNotNil(
        time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), "\(event)")
      XCTAssertEqual(event["release"] as? String, release, "\(event)")
      XCTAssertTrue(event["instance"] is String || event["instance"] is NSNull, "\(event)")
    }
    let (exited, exit) = try find("exited job.1", in: events)
    XCTAssertEqual(number(exit, "status"), 3)
    XCTAssertEqual(exit["summary"] as? String, "exited with code 3")
    let (restarting, restart) = try find("restarting job.1", in: events, after: exited)
    XCTAssertEqual(number(restart, "delay"), 1)
    let (_, started) = try find("started job.1", in: events, after: restarting)
    XCTAssertGreaterThan(number(started, "pid") ?? 0, 0)
    XCTAssertEqual(events.filter { $0["event"] as? String == "scaled" }.count, 1, "only a scale that changed counts")
    let (scaledAt, scaled) = try find("scaled -", in: events, after: restarting)
    // The same object as the scale reply's `formation`, not a string.
    XCTAssertEqual(scaled["formation"] as? [String: Int], ["web": 2, "job": 1])
    // The scale comes first, then the instance it starts.
    let (startedWeb2, web2Started) = try find("started web.2", in: events, after: scaledAt)
    XCTAssertEqual(number(web2Started, "pid"), Double(web2))
    _ = try find("ready web.2", in: events, after: startedWeb2)
    let (stopping, _) = try find("stopping -", in: events)
    for name in ["web.1", "web.2", "job.1"] { _ = try find("exited \(name)", in: events, after: stopping) }
    XCTAssertEqual(events.last.map(kind), "stopped -")
    XCTAssertEqual(events.last.flatMap { number($0, "status") }, 0)

    // The same events as text: TIME EVENT [INSTANCE] key=value … release=R, values with a space,
    // `=` or `"` quoted (logfmt), so each line splits back into the event's fields.
    let lines = text.stdout.lines.map { String($0.drop { $0 != " " }.dropFirst()) }
    XCTAssertEqual(lines.count, events.count, text.stdout.text)
    for (line, event) in zip(lines, events) {
      let head = kind(event).replacingOccurrences(of: " -", with: "")
      XCTAssertTrue(line.hasPrefix(head + " "), "\(line) is not \(head)")
      var expected: [String: String] = [:]
      for (key, value) in event where !["time", "event", "instance"].contains(key) {
        expected[key] = (value as? [String: Int]).map { _ in "web=2 job=1" } ?? "\(value)"
      }
      XCTAssertEqual(try Self.logfmtPairs(String(line.dropFirst(head.count))), expected, line)
    }
    for expected in [
      #"exited job.1 status=3 summary="exited with code 3" release=\#(release)"#,
      "restarting job.1 delay=1 release=\(release)", #"scaled formation="web=2 job=1" release=\#(release)"#,
      "started web.2 pid=\(web2) release=\(release)", "stopped status=0 release=\(release)",
    ] {
      XCTAssertTrue(lines.contains(expected), "no \(expected.debugDescription) in\n\(text.stdout.text)")
    }
  }

  func testGivingUpIsAnEventAndTheStopFollowsWithItsStatus() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\ncrash: \(Readiness.gate("go")); echo boom; exit 4\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "1", "--restart", "crash=always", "--max-restarts", "1"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let json = try subscribe(project)
    try project.write("go", "")
    XCTAssertEqual(try forge.waitForExit(), 4, forge.transcript())
    XCTAssertEqual(try json.waitForExit(), 0, json.transcript())

    let events = try parse(json)
    var index = -1
    for expected in ["exited crash.1", "restarting crash.1", "started crash.1", "exited crash.1"] {
      (index, _) = try find(expected, in: events, after: index)
    }
    let (gaveUp, event) = try find("gave up crash.1", in: events, after: index)
    XCTAssertEqual(number(event, "exits"), 2)
    let (stopping, _) = try find("stopping -", in: events, after: gaveUp)
    _ = try find("exited web.1", in: events, after: stopping)
    XCTAssertEqual(events.last.map(kind), "stopped -")
    XCTAssertEqual(events.last.flatMap { number($0, "status") }, 4)
  }

  func testAReloadIsPlannedThenReplacesEachInstanceOrHalts() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    // With a readiness probe, a replacement that crashes before it is ready halts the rollout.
    let forge = try launch(["start", "-t", "1", "--restart", "always", "--ready", "web=log:ready pid"], in: project)
    try forge.waitForLine(containing: "ready after", from: "web.1")
    let json = try subscribe(project)

    try project.write("Procfile", "web: echo v2; exec ./service.sh\n")
    let reload = try control(["reload"], in: project).split(separator: "\n").map(String.init)
    let second = try XCTUnwrap(reload.last?.split(separator: " ").dropFirst().first.map(String.init), "\(reload)")
    try project.write("Procfile", "web: echo v3; exit 5\n")
    let halted = try runForge(["reload"], in: project)
    XCTAssertEqual(halted.status, 1, halted.stderr)
    let reason = try XCTUnwrap(
      halted.stderr.range(of: "forge: reload halted: ").map { halted.stderr[$0.upperBound...] })
    try json.waitForLine(containing: #""event":"halted""#)
    forge.send(SIGTERM)
    _ = try forge.waitForExit()

    let events = try parse(json)
    let (planned, plan) = try find("reload planned -", in: events)
    XCTAssertEqual(plan["plan"] as? String, reload.first, "the plan forge reload printed")
    let (stopped, _) = try find("exited web.1", in: events, after: planned)
    let (started, _) = try find("started web.1", in: events, after: stopped)
    let (replaced, replacement) = try find("replaced web.1", in: events, after: started)
    XCTAssertEqual(replacement["release"] as? String, second, "the new release's instance")

    let (plannedAgain, _) = try find("reload planned -", in: events, after: replaced)
    let (thirdStarted, third) = try find("replaced web.1", in: events, after: plannedAgain)
    let (crashed, crash) = try find("exited web.1", in: events, after: thirdStarted)
    XCTAssertEqual(number(crash, "status"), 5)
    XCTAssertEqual(crash["release"] as? String, third["release"] as? String)
    let (_, halt) = try find("halted web.1", in: events, after: crashed)
    XCTAssertEqual(halt["reason"] as? String, reason.trimmingCharacters(in: .newlines))
  }

  func testAnUnhealthyInstanceIsAnEventBeforeItIsReplaced() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service, "check.sh": Readiness.flakyCheck,
    ])
    let forge = try launch(
      ["start", "-t", "1", "--health", "web=exec:./check.sh", "--health-interval", "0.1"], in: project)
    let first = try XCTUnwrap(
      HelperScripts.pid("pid", in: try forge.waitForLine(containing: "ready pid=", from: "web.1")))
    let json = try subscribe(project)
    try project.write("sick", "0")
    try json.waitForLine(containing: #""event":"started","instance":"web.1""#)

    let events = try parse(json)
    let (unhealthy, event) = try find("unhealthy web.1", in: events)
    XCTAssertEqual(event["probe"] as? String, "exec:./check.sh")
    XCTAssertFalse((event["detail"] as? String ?? "").isEmpty, "\(event)")
    // As after a crash: `restarting`, here with no delay (it starts again once stopped).
    let (restarting, restart) = try find("restarting web.1", in: events, after: unhealthy)
    XCTAssertEqual(number(restart, "delay"), 0)
    let (stopped, _) = try find("exited web.1", in: events, after: restarting)
    let (_, started) = try find("started web.1", in: events, after: stopped)
    XCTAssertNotEqual(number(started, "pid"), Double(first))
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// A stop in the middle of a restart (web.1's replacement never gets ready) ends it: the log
  /// says it was interrupted, never that web.2 and web.3, which were only stopped, were
  /// replaced.
  func testARestartCutShortByAStopIsToldAsInterrupted() throws {
    let project = try makeProject(["Procfile": "web: echo up; exec sleep 600\n"])
    let forge = try launch(["start", "-t", "1", "-m", "web=3", "--ready", "web=log:never"], in: project)
    try forge.waitForLine(containing: "up", from: "web.3")
    let restart = try launch(["restart", "web"], in: project)
    try forge.waitForLine(containing: "up", from: "web.1", count: 2)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(try restart.waitForExit(), 1, restart.transcript())
    XCTAssertTrue(forge.lines(of: "forge").contains("restart web: interrupted, forge is stopping"), forge.transcript())
    XCTAssertFalse(forge.lines(of: "forge").contains { $0.contains("replaced") }, forge.transcript())
  }

  /// `forge restart` replaces instances as a reload does and says so the same way: `replaced`
  /// after each replacement's `started`, with the same fields.
  func testARequestedRestartReplacesEachInstanceAsAReloadDoes() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start", "-t", "1", "-m", "web=2", "--ready", "web=log:ready pid"], in: project)
    for name in ["web.1", "web.2"] { try forge.waitForLine(containing: "ready after", from: name) }
    let release = try release(of: forge)
    let json = try subscribe(project)
    try control(["restart", "web"], in: project)
    try forge.waitForLine(containing: "restart web: web.1 replaced, web.2 replaced", from: "forge")
    try project.write("Procfile", "web: echo v2; exec ./service.sh\n")
    try control(["reload"], in: project)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(try json.waitForExit(), 0, json.transcript())

    let events = try parse(json)
    var index = -1
    var restarted: [Event] = []
    for name in ["web.1", "web.2"] {
      (index, _) = try find("exited \(name)", in: events, after: index)
      (index, _) = try find("started \(name)", in: events, after: index)
      let replaced: Event
      (index, replaced) = try find("replaced \(name)", in: events, after: index)
      restarted.append(replaced)
      (index, _) = try find("ready \(name)", in: events, after: index)
    }
    let (planned, _) = try find("reload planned -", in: events, after: index)
    let reloaded = events[planned...].filter { kind($0).hasPrefix("replaced ") }
    XCTAssertEqual(events[..<planned].filter { kind($0).hasPrefix("replaced ") }.count, 2, "once per instance")
    XCTAssertEqual(reloaded.count, 2)
    for (restart, reload) in zip(restarted, reloaded) {
      XCTAssertEqual(restart["release"] as? String, release)
      XCTAssertEqual(Set(restart.keys), Set(reload.keys), "the fields of a reload's replaced")
      XCTAssertEqual(Set(restart.keys), ["time", "event", "instance", "release"])
    }
  }

  // MARK: - Control actions in the log

  func testRequestsThatChangeTheFormationAreLoggedWhenAcceptedAndWhenDone() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    func index(_ text: String, of process: String, after: Int = -1) throws -> Int {
      guard
        let found = forge.stdout.lines.indices.first(where: { index in
          index > after
            && LogLine(forge.stdout.lines[index]).map { $0.process == process && $0.text.hasPrefix(text) } == true
        })
      else { throw HarnessError("no \(process) | \(text)… after line \(after)\n\(forge.transcript())") }
      return found
    }
    func request(_ arguments: [String]) throws -> pid_t {
      let client = try launch(arguments, in: project)
      XCTAssertEqual(try client.waitForExit(), 0, client.transcript())
      return client.pid
    }

    let scale = try request(["scale", "web=2"])
    try forge.waitForLine(containing: "scale web=2: done", from: "forge")
    try forge.waitForLine(containing: "ready pid=", from: "web.2")
    let asked = try index("scale web=2 (requested by uid \(getuid()), pid \(scale))", of: "forge")
    let started = try index("started with pid", of: "web.2", after: asked)
    XCTAssertGreaterThan(try index("scale web=2: done, web=2", of: "forge", after: started), started)

    let restart = try request(["restart", "web"])
    try forge.waitForLine(containing: "ready pid=", from: "web.2", count: 2)
    let restartAsked = try index("restart web (requested by uid \(getuid()), pid \(restart))", of: "forge")
    let stopped = try index("got TERM", of: "web.1", after: restartAsked)
    let replaced = try index("started with pid", of: "web.2", after: stopped)
    XCTAssertGreaterThan(
      try index("restart web: web.1 replaced, web.2 replaced", of: "forge", after: replaced), replaced)

    let down = try request(["scale", "web-1"])
    try forge.waitForLine(containing: "scale web-1: done", from: "forge")
    let downAsked = try index("scale web-1 (requested by uid \(getuid()), pid \(down))", of: "forge")
    let gone = try index("exited with code 0", of: "web.2", after: downAsked)
    XCTAssertGreaterThan(try index("scale web-1: done, web=1", of: "forge", after: gone), gone)

    // Requests that change nothing are not written.
    _ = try processTable(in: project)
    try control(["logs", "-n", "1"], in: project)
    try control(["wait"], in: project)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(forge.lines(of: "forge").filter { $0.contains("(requested by") }.count, 3, forge.transcript())
  }
}
