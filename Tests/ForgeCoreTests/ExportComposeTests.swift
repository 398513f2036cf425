import Foundation
import XCTest

@testable import ForgeCore

/// `forge export compose`, read back with PyYAML (values as written: Compose itself turns `$$`
/// into `$`). `docker-compose config` runs in ExportValidationTests.
final class ExportComposeTests: ExportTestCase {
  private func compose(
    formation: String = "web=2,worker=1,clock=0,release=1", env: String? = nil, user: String? = nil,
    image: String? = nil, restart: String? = nil, timeout: String = "1.5", procfile: String? = nil,
    probes: [(String, String)] = []
  ) throws -> (ExportPlan, [ExportFile]) {
    let project = try exportProject(
      procfile: procfile ?? self.procfile + "release: ./migrate\n", env: env,
      options: [("formation", formation), ("timeout", timeout)])
    let plan = try exportPlan(project, user: user, image: image, restart: restart, probes: probes)
    return (plan, try ExportFormat.compose.files(plan))
  }

  private func services(_ files: [ExportFile]) throws -> [String: Any] {
    try XCTUnwrap(dig(try YAMLReader.loadOne(try exportFile(files, "compose.yaml").text), "services") as? [String: Any])
  }

  func testComposeServicePerTypeInProcfileOrder() throws {
    let (_, files) = try compose(restart: "always,worker=on-failure")
    XCTAssertEqual(files.map(\.path), ["compose.yaml", "example.env"])
    let text = try exportFile(files, "compose.yaml").text
    let document = try YAMLReader.loadOne(text)
    XCTAssertEqual(dig(document, "name") as? String, "example")
    let services = try services(files)
    XCTAssertEqual(Set(services.keys), ["web", "worker", "clock", "release"])
    let order = ["web", "worker", "clock", "release"].map { text.range(of: "\n  \($0):\n")?.lowerBound }
    XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted(), "Procfile order")
    for (type, replicas, restart) in [("web", 2, "always"), ("worker", 1, "on-failure"), ("clock", 0, "always")] {
      let service = services[type]
      XCTAssertEqual(dig(service, "image") as? String, "example:latest", type)
      XCTAssertEqual(
        dig(service, "command") as? [String], ["forge", "start", type, "-m", "\(type)=1", "-p", "5000"], type)
      XCTAssertEqual(dig(service, "env_file") as? [String], ["example.env"], type)
      XCTAssertEqual(dig(service, "environment") as? [String: String], ["FORGE_TIMEOUT": "1.5"], type)
      XCTAssertEqual(dig(service, "deploy", "replicas") as? Int, replicas, type)
      XCTAssertEqual(dig(service, "stop_grace_period") as? String, "6.5s", "\(type): -t 1.5 and the 5 s margin")
      XCTAssertEqual(dig(service, "restart") as? String, restart, type)
      XCTAssertNil(dig(service, "profiles"), type)
      XCTAssertEqual(dig(service, "expose") as? [String], type == "web" ? ["5000"] : nil, type)
      // web.1 and web.2 listen on 5000 and 5001 under forge: the same host ports here.
      XCTAssertEqual(dig(service, "ports") as? [String], type == "web" ? ["127.0.0.1:5000-5001:5000"] : nil, type)
      XCTAssertNil(dig(service, "healthcheck"), type)
      XCTAssertNil(dig(service, "depends_on"), type)
    }
  }

  func testComposeReleaseRunsOnlyInItsProfile() throws {
    let services = try services(try compose().1)
    XCTAssertEqual(dig(services, "release", "profiles") as? [String], ["release"])
    XCTAssertEqual(dig(services, "release", "command") as? [String], ["forge", "run", "release"])
    XCTAssertEqual(dig(services, "release", "restart") as? String, "no")
    XCTAssertNil(dig(services, "release", "deploy"))
    XCTAssertNil(dig(try self.services(try compose(formation: "web=1").1), "release"))
  }

  func testComposeRestartNoStaysAString() throws {
    XCTAssertEqual(dig(try services(try compose().1), "web", "restart") as? String, "no")
  }

  func testComposeDoublesDollarsItWouldInterpolate() throws {
    let text = try exportFile(try compose(user: "$USER", image: "registry/app:$TAG").1, "compose.yaml").text
    XCTAssertTrue(text.contains(#"image: "registry/app:$$TAG""#), text)
    XCTAssertTrue(text.contains(#"user: "$$USER""#), text)
  }

  func testComposeEnvironmentFileReadsBackAsTheEnvFilesVariables() throws {
    let (plan, files) = try compose(env: trickyEnv + "LITERAL='$HOME ${X}'\nTRAILING=\"a\\\\\"\n")
    let file = try exportFile(files, "example.env")
    XCTAssertEqual(file.mode, 0o600)
    let read = try XCTUnwrap(ComposeReader.environmentFile(file.text), file.text)
    XCTAssertEqual(read.map(\.key), plan.environment.map(\.key))
    XCTAssertEqual(dictionary(read), dictionary(plan.environment))
    XCTAssertEqual(dictionary(read)["LITERAL"], "$HOME ${X}")
    XCTAssertEqual(dictionary(read)["TRAILING"], "a\\")
  }

  // MARK: - Readiness, health and start order

  func testComposeHealthcheckAsksTheReadinessProbe() throws {
    let (_, files) = try compose(
      formation: "all=1",
      probes: [
        ("ready", "web=http:/up,worker=port,clock=exec:test -e \"$PORT\""), ("ready-timeout", "12.5"),
        ("health-interval", "2.5"),
      ])
    let services = try services(files)
    let tests = [
      "web":
        "wget -q -T 1 -O /dev/null http://127.0.0.1:5000/up || curl -fsS -m 1 -o /dev/null http://127.0.0.1:5000/up",
      "worker": "nc -z 127.0.0.1 5100 || bash -c ': </dev/tcp/127.0.0.1/5100'",
      "clock": #"test -e "$$PORT""#,
    ]
    for (type, test) in tests {
      let check = dig(services[type], "healthcheck")
      XCTAssertEqual(dig(check, "test") as? [String], ["CMD-SHELL", test], type)
      XCTAssertEqual(dig(check, "interval") as? String, "2.5s", type)
      XCTAssertEqual(dig(check, "timeout") as? String, type == "clock" ? "5s" : "1s", type)
      XCTAssertEqual(dig(check, "retries") as? Int, 3, type)
      // Asked every second during the readiness timeout, as forge asks until ready.
      XCTAssertEqual(dig(check, "start_period") as? String, "12.5s", type)
      XCTAssertEqual(dig(check, "start_interval") as? String, "1s", type)
    }
    // An exec probe runs with the instance's PORT, as under forge.
    XCTAssertEqual(dig(services["clock"], "environment", "PORT") as? String, "5200")
    XCTAssertNil(dig(services["web"], "environment", "PORT"))
    XCTAssertNil(dig(services["release"], "healthcheck"), "a one-off is not probed")
  }

  func testComposeHealthcheckIsTheHealthCheckWithoutAPolledReadinessProbe() throws {
    let (_, files) = try compose(
      formation: "all=1",
      probes: [
        ("ready", "worker=log:started,clock=http:/ready"), ("health", "web=port,worker=http:/alive,clock=port"),
      ])
    let text = try exportFile(files, "compose.yaml").text
    let services = try services(files)
    XCTAssertEqual((dig(services, "web", "healthcheck", "test") as? [String])?.last?.hasPrefix("nc -z"), true)
    XCTAssertEqual((dig(services, "worker", "healthcheck", "test") as? [String])?.last?.contains("/alive"), true)
    XCTAssertTrue(text.contains("    # Not exported: readiness \"log:started\" has no Compose equivalent;"), text)
    // One healthcheck per service: the readiness probe, which depends_on waits for.
    XCTAssertEqual((dig(services, "clock", "healthcheck", "test") as? [String])?.last?.contains("/ready"), true)
    XCTAssertTrue(text.contains("    # Not exported: health check \"port\"; a service has one healthcheck"), text)
  }

  func testComposeDependsOnCarriesTheStartOrder() throws {
    let (_, files) = try compose(
      formation: "all=1", restart: "always",
      procfile: "db: ./db\nmigrate: ./m\nweb: ./web\nworker: ./w\nrelease: ./r\n",
      probes: [
        ("ready", "db=port,worker=notify"), ("after", "web=db,web=migrate:done,web=worker"),
        ("after", "worker=release:done"),
      ])
    let services = try services(files)
    XCTAssertEqual(
      dig(services, "web", "depends_on") as? [String: [String: String]],
      [
        "db": ["condition": "service_healthy"], "migrate": ["condition": "service_completed_successfully"],
        "worker": ["condition": "service_started"],
      ])
    let text = try exportFile(files, "compose.yaml").text
    let order = ["db", "migrate", "worker"].map { text.range(of: "\n      \($0):\n        condition")?.lowerBound }
    XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted(), "in the order given")
    // Tasks run once; a release something waits for runs with the rest, not only in its profile.
    XCTAssertEqual(dig(services, "migrate", "restart") as? String, "no")
    XCTAssertEqual(dig(services, "web", "restart") as? String, "always")
    XCTAssertNil(dig(services, "release", "profiles"))
    XCTAssertEqual(
      dig(services, "worker", "depends_on", "release", "condition") as? String, "service_completed_successfully")
    XCTAssertNil(dig(services, "db", "depends_on"))
  }

  // MARK: - Metrics

  /// `FORGE_METRICS` as `--metrics`: every service but the release serves it, exposes the port
  /// to the Compose network (not the host: each container has the same one) and carries the
  /// scrape labels.
  func testComposeMetricsExposeThePortWithScrapeLabels() throws {
    let project = try exportProject(
      procfile: procfile + "release: ./migrate\n", options: [("formation", "web=2,worker=1,clock=0,release=1")])
    let plan = try exportPlan(project, environment: [("FORGE_METRICS", "[::]:9100")])
    let model = try services(try ExportFormat.compose.files(plan))
    let labels = ["prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"]
    for (type, exposed) in [("web", ["5000", "9100"]), ("worker", ["9100"]), ("clock", ["9100"])] {
      XCTAssertEqual(
        dig(model, type, "command") as? [String],
        ["forge", "start", type, "-m", "\(type)=1", "-p", "5000", "--metrics", "[::]:9100"], type)
      XCTAssertEqual(dig(model, type, "expose") as? [String], exposed, type)
      XCTAssertEqual(dig(model, type, "labels") as? [String: String], labels, type)
    }
    XCTAssertEqual(dig(model, "web", "ports") as? [String], ["127.0.0.1:5000-5001:5000"], "web's own, as before")
    XCTAssertNil(dig(model, "worker", "ports"))
    XCTAssertEqual(dig(model, "release", "command") as? [String], ["forge", "run", "release"])
    XCTAssertNil(dig(model, "release", "labels"))
    XCTAssertNil(dig(model, "release", "expose"))

    let socket = try services(try compose(probes: [("metrics", "unix:/run/forge.metrics")]).1)
    XCTAssertNil(dig(socket, "worker", "labels"))
    XCTAssertNil(dig(socket, "worker", "expose"))
    XCTAssertEqual((dig(socket, "worker", "command") as? [String])?.last, "unix:/run/forge.metrics")
    XCTAssertNil(dig(try services(try compose().1), "web", "labels"))
  }
}
