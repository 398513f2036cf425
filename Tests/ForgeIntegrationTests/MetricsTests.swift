import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `--metrics ADDRESS`: `/metrics` in Prometheus text format 0.0.4, read by the Prometheus
/// client's own parser; `/healthz`, `/readyz`, refused paths and methods; the request, idle and
/// connection limits; IPv6 and Unix-socket addresses; an address that cannot be served.
/// The HTTP client the tests speak with is in `Support/MetricsHTTP.swift`.
final class MetricsTests: ForgeControlTestCase {
  private func start(_ project: ForgeProject, _ arguments: [String], metrics address: String) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "1", "--metrics", address] + arguments, in: project)
    try forge.waitForLine(containing: "metrics at http://\(address)/metrics", from: "forge")
    return forge
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  // MARK: - /metrics

  func testMetricsAreValidPrometheusTextDescribingTheFormation() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject([
      "Procfile": """
      web: exec ./service.sh
      worker: printf 'one\\ntwo\\nthree\\n'; exec sleep 600
      flaky: \(Readiness.gate("go")); rm go; exit 1

      """,
      "service.sh": HelperScripts.service,
    ])
    let parser = try PrometheusParser(self, project)
    let startedAt = Date().timeIntervalSince1970
    let forge = try start(
      project, ["-m", "web=2,worker=1,flaky=1", "--ready", "web=log:ready pid", "--restart", "flaky=always"],
      metrics: "127.0.0.1:\(port)")
    for name in ["web.1", "web.2"] { try forge.waitForLine(containing: "ready after", from: name) }
    try forge.waitForLine(containing: "three", from: "worker.1")
    try project.write("go", "")
    try forge.waitForLine(containing: "started with pid", from: "flaky.1", count: 2)

    let reply = try MetricsHTTP.get("/metrics", port: port)
    XCTAssertEqual(reply.status, 200, reply.body)
    XCTAssertEqual(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
    XCTAssertEqual(reply.headers["content-length"], "\(reply.body.utf8.count)")
    let samples = try parser.parse(reply.body)
    let types: [String: String] = [
      "forge_process_up": "gauge", "forge_process_ready": "gauge", "forge_process_restarts_total": "counter",
      "forge_process_cpu_seconds_total": "counter", "forge_process_resident_memory_bytes": "gauge",
      "forge_process_start_time_seconds": "gauge", "forge_log_lines_total": "counter",
      "forge_log_bytes_total": "counter", "forge_log_backpressure_seconds_total": "counter",
      "forge_formation_desired": "gauge", "forge_build_info": "gauge", "forge_cpu_seconds_total": "counter",
      "forge_resident_memory_bytes": "gauge",
    ]
    for (name, type) in types {
      let series = samples.filter { $0.name == name }
      XCTAssertFalse(series.isEmpty, "no \(name)\n\(reply.body)")
      XCTAssertEqual(Set(series.map(\.type)), [type], name)
      XCTAssertFalse(series.contains { $0.help.isEmpty }, "\(name) has no HELP")
    }
    XCTAssertEqual(Set(samples.map(\.name)).subtracting(types.keys), [], "unexpected series")

    func value(_ name: String, _ labels: [String: String]) -> Double? {
      samples.first { $0.name == name && $0.labels == labels }?.value
    }
    let now = Date().timeIntervalSince1970
    for instance in ["web.1", "web.2", "worker.1", "flaky.1"] {
      let labels = ["type": String(instance.prefix { $0 != "." }), "instance": instance]
      XCTAssertEqual(value("forge_process_up", labels), 1, instance)
      XCTAssertEqual(value("forge_process_ready", labels), 1, instance)
      XCTAssertEqual(value("forge_process_restarts_total", labels), instance == "flaky.1" ? 1 : 0, instance)
      XCTAssertGreaterThanOrEqual(value("forge_process_cpu_seconds_total", labels) ?? -1, 0, instance)
      // flaky.1 has just been exec'd again: its pages may not be mapped yet.
      let rss = value("forge_process_resident_memory_bytes", labels) ?? -1
      XCTAssertGreaterThan(rss, instance == "flaky.1" ? -1 : 100_000, instance)
      let started = try XCTUnwrap(value("forge_process_start_time_seconds", labels), instance)
      XCTAssertTrue((startedAt - 1)...(now + 1) ~= started, "\(instance) started at \(started)")
    }
    XCTAssertEqual(value("forge_log_lines_total", ["type": "worker"]), 3)
    XCTAssertEqual(value("forge_log_bytes_total", ["type": "worker"]), 11, "one, two, three without newlines")
    let webLines = forge.stdout.lines.compactMap(LogLine.init).filter { $0.process.hasPrefix("web.") }
      .filter { !$0.text.hasPrefix("started with pid") && !$0.text.hasPrefix("ready after") }
    XCTAssertEqual(value("forge_log_lines_total", ["type": "web"]), Double(webLines.count))
    XCTAssertEqual(
      value("forge_log_bytes_total", ["type": "web"]), Double(webLines.reduce(0) { $0 + $1.text.utf8.count }))
    XCTAssertEqual(value("forge_formation_desired", ["type": "web"]), 2)
    XCTAssertEqual(value("forge_formation_desired", ["type": "worker"]), 1)
    let release = try XCTUnwrap(forge.lines(of: "forge").first { $0.hasPrefix("release ") }?.dropFirst(8))
    let version = try runForge(["--version"], in: project).stdout.split(separator: " ").last.map {
      $0.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    XCTAssertEqual(value("forge_build_info", ["version": version ?? "?", "release": String(release)]), 1)
    XCTAssertGreaterThanOrEqual(value("forge_cpu_seconds_total", [:]) ?? -1, 0)
    XCTAssertGreaterThan(value("forge_resident_memory_bytes", [:]) ?? 0, 1_000_000)
    XCTAssertEqual(value("forge_log_backpressure_seconds_total", [:]), 0, "stdout kept up")

    // Scaled down: the desired count follows and the instance scaled away has no series.
    try control(["scale", "web=1"], in: project)
    try forge.waitForLine(containing: "exited with code 0", from: "web.2")
    let scaled = try parser.parse(try MetricsHTTP.get("/metrics", port: port).body)
    XCTAssertEqual(scaled.first { $0.name == "forge_formation_desired" && $0.labels["type"] == "web" }?.value, 1)
    XCTAssertFalse(scaled.contains { $0.labels["instance"] == "web.2" }, "web.2 is gone")
    try stop(forge)
  }

  // MARK: - /healthz, /readyz, paths and methods

  func testHealthzAndReadyzFollowTheFormationAndOtherRequestsAreRefused() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject([
      "Procfile": "web: \(Readiness.gate("go")); exec ./service.sh\nworker: exec ./service.sh\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try start(project, ["--ready", "web=log:ready pid"], metrics: "127.0.0.1:\(port)")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1")

    let health = try MetricsHTTP.get("/healthz", port: port)
    XCTAssertEqual([health.status], [200])
    XCTAssertEqual(health.body, "ok\n")
    let waiting = try MetricsHTTP.get("/readyz", port: port)
    XCTAssertEqual(waiting.status, 503)
    XCTAssertEqual(waiting.body, "not ready: web.1\n")

    try project.write("go", "")
    try forge.waitForLine(containing: "ready after", from: "web.1")
    let ready = try MetricsHTTP.get("/readyz", port: port)
    XCTAssertEqual(ready.status, 200)
    XCTAssertEqual(ready.body, "ready\n")
    XCTAssertEqual(try MetricsHTTP.get("/metrics?name[]=forge_process_up", port: port).status, 200)
    XCTAssertEqual(try MetricsHTTP.get("/nope", port: port).status, 404)
    XCTAssertEqual(try MetricsHTTP.get("/", port: port).status, 404)
    let post = try MetricsHTTP.exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", port: port)
    XCTAssertEqual(post.status, 405)
    XCTAssertEqual(post.headers["allow"], "GET, HEAD")
    XCTAssertEqual(post.headers["connection"], "close")
    try stop(forge)
  }

  /// The defect: a one-off done under `on-failure` kept /readyz at 503 and its gauge at 0
  /// for good, while `forge wait` had to count it. Ready or done is one rule for all three.
  func testAOneOffThatFinishedAndIsNotRestartedCountsAsReady() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nonce: echo hi\nflaky: \(Readiness.gate("go")); rm go; exit 0\n",
      "service.sh": HelperScripts.service,
    ])
    // flaky never says it is ready: whether it is waiting for its restart or started again when
    // /readyz is asked, it is not ready; only its exit with 0 could make it so.
    let forge = try start(
      project, ["--restart", "once=on-failure,flaky=always", "--ready", "flaky=log:never said"],
      metrics: "127.0.0.1:\(port)")
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    try forge.waitForLine(containing: "exited with code 0", from: "once.1")
    XCTAssertEqual(try control(["wait", "--timeout", "5", "web", "once"], in: project), "ready: web.1, once.1\n")
    let ready = try MetricsHTTP.get("/readyz", port: port)
    XCTAssertEqual(ready.status, 503, "flaky.1 is not done")
    XCTAssertEqual(ready.body, "not ready: flaky.1\n", "once.1 is done, so ready")

    // Exited 0 under `always`: between two runs, not done.
    try project.write("go", "")
    try forge.waitForLine(containing: "restarting in", from: "flaky.1")
    let waiting = try MetricsHTTP.get("/readyz", port: port)
    XCTAssertEqual(waiting.body, "not ready: flaky.1\n")
    let metrics = try MetricsHTTP.get("/metrics", port: port).body
    for (instance, value) in [("web.1", 1), ("once.1", 1), ("flaky.1", 0)] {
      let type = instance.prefix { $0 != "." }
      let sample = "forge_process_ready{type=\"\(type)\",instance=\"\(instance)\"} \(value)\n"
      XCTAssertTrue(metrics.contains(sample), "no \(sample) in\n\(metrics)")
    }
    try stop(forge)
  }

  func testHeadIsAnsweredWithTheHeadersAndNoBody() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let forge = try start(project, [], metrics: "127.0.0.1:\(port)")
    let head = try MetricsHTTP.exchange("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", port: port)
    XCTAssertEqual(head.status, 200)
    XCTAssertTrue([nil, "3"].contains(head.headers["content-length"]), "only the length a GET would have")
    // RFC 9110, 9.3.2: the server must not send content in the response to HEAD.
    XCTAssertEqual(head.body, "", "HEAD reply carried a body")
    try stop(forge)
  }

  /// An instance that burns CPU, exits and is started again: its CPU counter keeps its value
  /// while it is down and goes on from there, never back to 0 while the series is there.
  func testAnInstancesCPUCounterNeverGoesBackAcrossExitsAndRestarts() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject([
      "Procfile": "burn: timeout --foreground 0.3 sh -c 'while :; do :; done'; echo burnt; exit 1\n"
    ])
    let parser = try PrometheusParser(self, project)
    let forge = try start(project, ["--restart", "always"], metrics: "127.0.0.1:\(port)")
    let labels = ["type": "burn", "instance": "burn.1"]
    var values: [Double] = []
    // Scrapes while it burns, is down (waiting to be restarted) and burns again.
    while forge.lines(of: "burn.1").filter({ $0 == "burnt" }).count < 3 {
      let reply = try MetricsHTTP.get("/metrics", port: port)
      let samples = try parser.parse(reply.body)
      if let value = samples.first(where: { $0.name == "forge_process_cpu_seconds_total" && $0.labels == labels })?
        .value
      {
        values.append(value)
      }
      usleep(100_000)
    }
    XCTAssertEqual(values, values.sorted(), "the counter went back")
    XCTAssertGreaterThan(values.last ?? 0, 0.3, "two runs of 0.3 s of CPU each are counted")
    try stop(forge)
  }

  /// Lines ending in a bare LF are accepted (RFC 9112, 2.2), so `printf 'GET … HTTP/1.0\n\n'
  /// | nc` is answered at once; a request line that is not METHOD TARGET HTTP/1.x is a 400.
  func testBareLineFeedsAreAcceptedAndAMalformedRequestLineIsABadRequest() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let forge = try start(project, [], metrics: "127.0.0.1:\(port)")
    let started = Date()
    let bare = try MetricsHTTP.exchange("GET /healthz HTTP/1.0\nHost: x\n\n", port: port)
    XCTAssertEqual(bare.status, 200)
    XCTAssertLessThan(Date().timeIntervalSince(started), 4, "answered, not closed at the 5 s timeout")
    for request in ["HELLO\r\n\r\n", "GET /healthz HTTP/2.0\r\n\r\n", "GET\r\n\r\n"] {
      XCTAssertEqual(try MetricsHTTP.exchange(request, port: port).status, 400, request)
    }
    try stop(forge)
  }

  // MARK: - Limits

  func testOversizedSilentAndExcessConnectionsAreClosedWhileTheFormationRunsOn() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try start(project, [], metrics: "127.0.0.1:\(port)")
    try forge.waitForLine(containing: "ready pid=", from: "web.1")

    // Over 8 KiB without the end of the headers: answered 431 and closed, or just closed.
    let large = try MetricsHTTP.exchange(
      "GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 9000), port: port)
    XCTAssertTrue(large.status == 431 || large.raw.isEmpty, "status \(large.status): \(large.raw.prefix(200))")

    // 64 silent clients are kept for 5 s; the 65th is closed at once, unanswered.
    let openedAt = Date()
    let silent = try (0..<64).map { _ in try MetricsHTTP.connect(port) }
    defer { for fd in silent { close(fd) } }
    let excess = try MetricsHTTP.exchange("GET /healthz HTTP/1.1\r\n\r\n", port: port, timeout: 3)
    XCTAssertTrue(excess.raw.isEmpty, "the 65th connection was served: \(excess.raw)")
    // Meanwhile the log stream and the control socket are not held up.
    try control(["signal", "USR1", "web"], in: project)
    try forge.waitForLine(containing: "got USR1", from: "web.1")

    for fd in silent {
      XCTAssertTrue(RawSocket.waitReadable(fd, timeout: 10), "a silent client was never closed")
      XCTAssertEqual(RawSocket.readToEnd(fd), [], "closed without an answer")
    }
    let closedAfter = Date().timeIntervalSince(openedAt)
    XCTAssertTrue((4.5...9) ~= closedAfter, "silent clients closed after \(closedAfter) s, not about 5 s")
    XCTAssertEqual(try MetricsHTTP.get("/healthz", port: port).status, 200, "served again")
    try stop(forge)
  }

  /// The limit is on the head, however it arrives: a head over 8 KiB sent in one write used
  /// to be read in 4 KiB chunks, its end found in the last, and answered 200 up to ~12 KB.
  func testARequestHeadOver8KiBIsRefusedWhetherSentInOneWriteOrInPieces() throws {
    let port = try MetricsHTTP.freePort()
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let forge = try start(project, [], metrics: "127.0.0.1:\(port)")
    for pieces in [1, 3] {
      let limit = try MetricsHTTP.exchange(MetricsHTTP.head(size: 8192), pieces: pieces, port: port)
      XCTAssertEqual(limit.status, 200, "a head of exactly 8 KiB in \(pieces) writes")
      for size in [8193, 9000, 12000, 16384] {
        let reply = try MetricsHTTP.exchange(MetricsHTTP.head(size: size), pieces: pieces, port: port)
        XCTAssertEqual(reply.status, 431, "\(size) bytes in \(pieces) writes: \(reply.raw.prefix(100))")
        XCTAssertEqual(reply.headers["connection"], "close")
      }
    }
    XCTAssertEqual(try MetricsHTTP.get("/healthz", port: port).status, 200, "served again")
    try stop(forge)
  }

  // MARK: - Addresses

  func testMetricsListenOnAUnixSocketRemovedAtTheEndAndOnIPv6Loopback() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let path = project.path("metrics.sock")
    var forge = try start(project, [], metrics: "unix:\(path)")
    XCTAssertTrue(FileStatus.isSocket(path))
    let overUnix = try MetricsHTTP.exchange(try RawSocket.connect(path), "GET /healthz HTTP/1.1\r\n\r\n", timeout: 5)
    XCTAssertEqual([overUnix.status], [200], overUnix.body)
    try stop(forge)
    XCTAssertFalse(FileStatus.isSocket(path), "the socket is removed")

    guard MetricsHTTP.ipv6LoopbackWorks() else { throw XCTSkip("no IPv6 loopback here (the Unix socket passed)") }
    let port = try MetricsHTTP.freePort()
    forge = try start(project, [], metrics: "[::1]:\(port)")
    let overIPv6 = try MetricsHTTP.exchange("GET /readyz HTTP/1.1\r\n\r\n", port: port, ipv6: true)
    XCTAssertEqual(overIPv6.status, 200)
    XCTAssertEqual(overIPv6.body, "ready\n")
    try stop(forge)
  }

  func testAnAddressThatCannotBeServedStopsTheStartBeforeAnythingRuns() throws {
    let project = try makeProject(["Procfile": "web: touch started; exec sleep 600\n"])
    let bad = try runForge(["start", "--metrics", "nonsense"], in: project)
    XCTAssertEqual(bad.status, 2, bad.stderr)
    XCTAssertEqual(
      bad.stderr,
      "forge: --metrics: expected ADDRESS:PORT, [IPV6 ADDRESS]:PORT or unix:PATH (an address, not a host name), got \"nonsense\"\n"
    )

    let port = try MetricsHTTP.freePort()
    let listener = try MetricsHTTP.listen(port)
    defer { close(listener) }
    let busy = try runForge(["start", "--metrics", "127.0.0.1:\(port)"], in: project)
    XCTAssertEqual(busy.status, 1, busy.stderr)
    XCTAssertTrue(busy.stderr.hasPrefix("forge: cannot serve metrics at 127.0.0.1:\(port): "), busy.stderr)
    XCTAssertFalse(project.exists("started"), "nothing started\n\(busy.stdout)")
    XCTAssertFalse(project.exists(".forge.sock"))

    // A host name is not an address (nothing is resolved), nor is an IPv6 one without brackets.
    for value in ["localhost:9100", "::1:9100", "300.1.1.1:9100", "[localhost]:9100"] {
      let result = try runForge(["start", "--metrics", value], in: project)
      XCTAssertEqual(result.status, 2, "\(value): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains("an address, not a host name"), result.stderr)
    }
  }

  /// A `unix:` socket that another forge serves is in use: the second forge refuses it (as a
  /// TCP port in use) instead of taking it over; one left by a forge that died is replaced.
  func testAUnixSocketInUseIsRefusedAndAStaleOneReplaced() throws {
    let first = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let second = try makeProject(["Procfile": "web: touch started; exec sleep 600\n"])
    let path = first.path("metrics.sock")
    let forge = try start(first, [], metrics: "unix:\(path)")
    let refused = try runForge(["start", "--metrics", "unix:\(path)"], in: second)
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("Address already in use"), refused.stderr)
    XCTAssertFalse(second.exists("started"))
    XCTAssertTrue(FileStatus.isSocket(path), "the first forge's socket is still there")
    try stop(forge)

    // A socket nobody listens on any more (its forge was killed) is taken over.
    let killed = try start(first, [], metrics: "unix:\(path)")
    killed.send(SIGKILL)
    _ = try killed.waitForExit()
    XCTAssertTrue(FileStatus.isSocket(path))
    let next = try start(second, [], metrics: "unix:\(path)")
    XCTAssertTrue(FileStatus.isSocket(path))
    try stop(next)
  }
}

// MARK: - The Prometheus client's parser

/// One sample as `prometheus_client.parser.text_string_to_metric_families` reads it, with its
/// family's type and HELP.
private struct Sample {
  let name: String
  let type: String
  let help: String
  let labels: [String: String]
  let value: Double
}

/// The parser in the validators' venv (`make validators`). Without it a test says so on stderr,
/// then fails under CI and is skipped elsewhere.
private struct PrometheusParser {
  let python: String
  let test: ForgeControlTestCase
  let project: ForgeProject

  static let script = """
    import json, sys
    from prometheus_client.parser import text_string_to_metric_families
    json.dump([{"name": s.name, "type": f.type, "help": f.documentation, "labels": s.labels, "value": s.value}
               for f in text_string_to_metric_families(open(sys.argv[1]).read()) for s in f.samples], sys.stdout)
    """

  init(_ test: ForgeControlTestCase, _ project: ForgeProject) throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    let found = [repository + "/.build/tools/bin/python", "/usr/bin/python3"].first { python in
      (try? test.runProgram(python, ["-c", "import prometheus_client"], in: project))?.status == 0
    }
    guard let found else {
      let message = "VALIDATOR MISSING: prometheus_client — metrics not validated"
      FileHandle.standardError.write(Data("\n\(message)\n".utf8))
      if ProcessInfo.processInfo.environment["CI"] == "true" { throw HarnessError(message) }
      throw XCTSkip(message)
    }
    (python, self.test, self.project) = (found, test, project)
  }

  /// Every sample; a text the parser rejects fails with its error.
  func parse(_ text: String) throws -> [Sample] {
    try project.write("scraped.txt", text)
    let result = try test.runProgram(python, ["-c", Self.script, project.path("scraped.txt")], in: project)
    guard result.status == 0 else { throw HarnessError("prometheus_client rejects it: \(result.stderr)\n\(text)") }
    let objects = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    return objects.map { object in
      Sample(
        name: object["name"] as? String ?? "", type: object["type"] as? String ?? "",
        help: object["help"] as? String ?? "", labels: object["labels"] as? [String: String] ?? [:],
        value: (object["value"] as? NSNumber)?.doubleValue ?? .nan)
    }
  }
}
