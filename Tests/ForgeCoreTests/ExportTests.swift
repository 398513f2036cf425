import Foundation
import XCTest

@testable import ForgeCore

/// `forge export`, what every format shares: names, durations, the plan (with readiness, health
/// and start order read as `forge start` reads them), determinism, the manifest, and the golden
/// files. Each format's own tests are in Export{Systemd,Kubernetes,Compose}Tests.
final class ExportTests: ExportTestCase {
  // MARK: - Shared model

  func testAppNamesAreLowercaseLettersDigitsAndSingleDashes() {
    XCTAssertEqual(ExportText.name("My App_2!"), "my-app-2")
    XCTAssertEqual(ExportText.name("--shop--"), "shop")
    XCTAssertEqual(ExportText.name("Ünïcode"), "n-code")
    XCTAssertEqual(ExportText.name("web"), "web")
    XCTAssertNil(ExportText.name("!!!"))
    XCTAssertNil(ExportText.name(""))
  }

  func testSecondsAreDecimalsToTheMillisecondRoundedUp() {
    XCTAssertEqual(ExportText.seconds(5), "5")
    XCTAssertEqual(ExportText.seconds(1.5), "1.5")
    XCTAssertEqual(ExportText.seconds(0.25), "0.25")
    XCTAssertEqual(ExportText.seconds(0.0001), "0.001")
    XCTAssertEqual(ExportText.seconds(2.0005), "2.001")
    XCTAssertEqual(ExportText.seconds(0), "0")
    XCTAssertEqual(ExportText.seconds(1e300), "1000000000")
    XCTAssertEqual(ExportProbes.wholeSeconds(2.5), 3)
    XCTAssertEqual(ExportProbes.wholeSeconds(0.001), 1)
    XCTAssertEqual(ExportProbes.wholeSeconds(1e300), 1_000_000_000)
  }

  func testYAMLKeysArePlainOnlyWhenYAMLReadsThemAsThatString() {
    XCTAssertEqual(ExportText.yamlKey("web"), "web")
    XCTAssertEqual(ExportText.yamlKey("DATABASE_URL"), "DATABASE_URL")
    XCTAssertEqual(ExportText.yamlKey("a.b-c"), "a.b-c")
    XCTAssertEqual(ExportText.yamlKey("NO"), "\"NO\"")
    XCTAssertEqual(ExportText.yamlKey("on"), "\"on\"")
    XCTAssertEqual(ExportText.yamlKey("1"), "\"1\"")
    XCTAssertEqual(ExportText.yamlKey("_x"), "\"_x\"")
  }

  func testEnvironmentLeavesOutWhatForgeSetsPerProcess() throws {
    let plan = try exportPlan(try exportProject(procfile: procfile, env: trickyEnv))
    let keys = plan.environment.map(\.key)
    XCTAssertEqual(keys, ["BACKSLASH", "DATABASE_URL", "MULTILINE", "NO", "NUMBER", "QUOTES", "UNICODE"])
    XCTAssertEqual(plan.basePort, 6000, "PORT in the env file still sets the base port")
  }

  func testUnknownExposedTypeIsAnError() throws {
    let project = try exportProject(procfile: procfile)
    assertConfigError(
      try ExportPlan(
        project: project, app: "a", directory: "/x", user: nil, image: nil, restart: RestartPolicy(),
        expose: ["web", "api"], exposeSource: "--expose"),
      line: 0, path: "--expose", mentioning: "\"api\"")
    // The default (`web`) is no error in a Procfile without a web type.
    XCTAssertNoThrow(
      try ExportPlan(
        project: try exportProject(procfile: "worker: w\n"), app: "a", directory: "/x", user: nil, image: nil,
        restart: RestartPolicy(), expose: ["web"], exposeSource: nil))
  }

  // MARK: - Readiness, health and start order in the plan

  private let orderedProcfile = "db: ./db\nmigrate: ./migrate\nweb: ./web\nworker: ./work\n"

  func testProbesAndStartOrderComeFromForgeStartsOptions() throws {
    let plan = try exportPlan(
      try exportProject(procfile: orderedProcfile),
      probes: [
        ("ready", "db=notify,web=http:health"), ("ready", "worker=log:up"), ("health", "web=port"),
        ("after", "web=db,web=migrate:done"), ("after", "worker=web:ready"), ("ready-timeout", "12.5"),
        ("health-interval", "3"),
      ])
    let types = Dictionary(uniqueKeysWithValues: plan.types.map { ($0.name, $0) })
    XCTAssertEqual(types["db"]?.readiness, .notify)
    XCTAssertEqual(types["web"]?.readiness, .http(path: "/health"))
    XCTAssertEqual(types["web"]?.polledReadiness, .http(path: "/health"))
    XCTAssertEqual(types["worker"]?.readiness, .log(text: "up"))
    XCTAssertNil(types["worker"]?.polledReadiness, "nothing outside forge can watch a log")
    XCTAssertEqual(types["web"]?.health, .port)
    XCTAssertNil(types["db"]?.health)
    XCTAssertEqual(types["web"]?.after.map(\.on), ["db", "migrate"])
    XCTAssertEqual(types["web"]?.after.map(\.condition), [.ready, .done])
    XCTAssertEqual(types["worker"]?.after.map(\.on), ["web"])
    XCTAssertEqual(plan.types.filter(\.isTask).map(\.name), ["migrate"], "a type waited for with :done")
    XCTAssertEqual(plan.readyTimeoutSeconds, 12.5)
    XCTAssertEqual(plan.healthIntervalSeconds, 3)

    let defaults = try exportPlan(try exportProject(procfile: orderedProcfile))
    XCTAssertEqual(defaults.readyTimeoutSeconds, 60)
    XCTAssertEqual(defaults.healthIntervalSeconds, 10)
    XCTAssertTrue(defaults.types.allSatisfy { $0.readiness == nil && $0.health == nil && $0.after.isEmpty })
  }

  func testProbesComeFromFORGEVariablesWhenNoOptionIsGiven() throws {
    let project = try exportProject(procfile: orderedProcfile)
    let environment = [
      (key: "FORGE_READY", value: "web=port"), (key: "FORGE_HEALTH", value: "web=exec:./alive"),
      (key: "FORGE_AFTER", value: "web=migrate:done"), (key: "FORGE_READY_TIMEOUT", value: "9"),
      (key: "FORGE_HEALTH_INTERVAL", value: "4"),
    ]
    let plan = try exportPlan(project, environment: environment)
    XCTAssertEqual(plan.type(named: "web")?.readiness, .port)
    XCTAssertEqual(plan.type(named: "web")?.health, .exec(command: "./alive"))
    XCTAssertEqual(plan.type(named: "migrate")?.isTask, true)
    XCTAssertEqual(plan.readyTimeoutSeconds, 9)
    XCTAssertEqual(plan.healthIntervalSeconds, 4)
    // An option wins over its variable.
    let given = try exportPlan(project, probes: [("ready", "web=http:/")], environment: environment)
    XCTAssertEqual(given.type(named: "web")?.readiness, .http(path: "/"))
  }

  func testBadProbeOrStartOrderOptionsAreErrors() throws {
    let project = try exportProject(procfile: orderedProcfile, options: [("formation", "all=1,db=0")])
    let cases: [([(String, String)], String, String)] = [
      ([("ready", "api=port")], "--ready", "\"api\""),
      ([("health", "api=port")], "--health", "\"api\""),
      ([("health", "web=log:up")], "--health", "expected port, http:PATH or exec:COMMAND"),
      ([("ready", "web=tcp")], "--ready", "\"tcp\""),
      ([("after", "web=api")], "--after", "\"api\""),
      ([("after", "web=worker,worker=web")], "--after", "cycle"),
      ([("after", "web=db")], "--after", "db=0"),
      ([("ready-timeout", "0")], "--ready-timeout", "above 0"),
      ([("health-interval", "soon")], "--health-interval", "\"soon\""),
      (
        [("metrics", "9100")], "--metrics",
        "expected ADDRESS:PORT, [IPV6 ADDRESS]:PORT or unix:PATH (an address, not a host name)"
      ),
    ]
    for (options, path, mentioning) in cases {
      assertConfigError(
        try exportPlan(project, probes: options), line: 0, path: path, mentioning: mentioning, "\(options)")
    }
  }

  /// A `--metrics` address that no scraper can use where the export runs is said; the files
  /// are written anyway (ExportKubernetesTests, ExportComposeTests).
  func testMetricsAddressesNoScraperCanUseAreWarnedAbout() throws {
    let project = try exportProject(procfile: orderedProcfile)
    let warnings = { (address: String, format: ExportFormat) throws -> [String] in
      ExportWarnings.all(try exportPlan(project, probes: [("metrics", address)]), format: format)
    }
    for format in [ExportFormat.kubernetes, .compose] {
      for address in ["127.0.0.1:9100", "[::1]:9100", "127.1.2.3:9100"] {
        XCTAssertEqual(
          try warnings(address, format),
          [
            "--metrics \(address) is a loopback address: in each container it is the container itself, which no"
              + " scraper outside can reach (use 0.0.0.0:9100 or [::]:9100); written as given"
          ])
      }
      for address in ["0.0.0.0:9100", "[::]:9100", "10.0.0.5:9100"] {
        XCTAssertEqual(try warnings(address, format), [])
      }
      XCTAssertEqual(
        try warnings("unix:/run/forge.metrics", format),
        ["--metrics unix:/run/forge.metrics has no port: no metrics port and no Prometheus annotations are written"])
    }
    XCTAssertEqual(
      try warnings("0.0.0.0:9100", .systemd),
      [
        "--metrics 0.0.0.0:9100 is not exported: systemd units run each command without forge, which would serve"
          + " the metrics"
      ])
    for format in ExportFormat.allCases {
      XCTAssertEqual(ExportWarnings.all(try exportPlan(project), format: format), [], "\(format)")
    }
  }

  func testOutputIsDeterministic() throws {
    let probes = [("ready", "web=http:/up,worker=log:go"), ("health", "web=port"), ("after", "web=clock:done")]
    for format in ExportFormat.allCases {
      let first = try format.files(
        try exportPlan(try exportProject(procfile: procfile, env: trickyEnv), user: "1", probes: probes))
      let second = try format.files(
        try exportPlan(try exportProject(procfile: procfile, env: trickyEnv), user: "1", probes: probes))
      XCTAssertEqual(first, second, "\(format)")
      // The order of the env file's lines does not matter: the variables are sorted.
      let lines = ["ZED=1", "ALPHA=2", "MIDDLE=3"]
      let forward = try exportPlan(try exportProject(procfile: procfile, env: lines.joined(separator: "\n")))
      let backward = try exportPlan(
        try exportProject(procfile: procfile, env: lines.reversed().joined(separator: "\n")))
      XCTAssertEqual(try format.files(forward), try format.files(backward), "\(format)")
    }
  }

  // MARK: - Manifest

  func testManifestListsPathsAndIgnoresAnythingOutsideTheDirectory() {
    let text = ExportManifest.render(.systemd, ["a.target", "a-web@1.service.d/port.conf"])
    XCTAssertTrue(text.hasPrefix("# "))
    XCTAssertEqual(ExportManifest.parse(text), ["a.target", "a-web@1.service.d/port.conf"])
    let hostile = "/etc/passwd\n../up\na/../../b\n./x\na//b\n.forge-export\n\nok\nbad\u{7}name\n"
    XCTAssertEqual(ExportManifest.parse(hostile), ["ok"])
  }

  func testManifestStaleFilesAndTheirDirectoriesDeepestFirst() {
    let previous = ["a.target", "a-web@1.service.d/port.conf", "a-web@2.service.d/port.conf", "x/y/z.conf"]
    let current = ["a.target", "a-web@1.service.d/port.conf"]
    let stale = ExportManifest.stale(previous: previous, current: current)
    XCTAssertEqual(stale, ["a-web@2.service.d/port.conf", "x/y/z.conf"])
    XCTAssertEqual(ExportManifest.directories(of: stale), ["x/y", "a-web@2.service.d", "x"])
  }

  func testScalingDownLeavesTheDropInsOfRemovedInstancesStale() throws {
    let files = { (formation: String) in
      try ExportFormat.systemd.files(
        try exportPlan(try exportProject(procfile: self.procfile, options: [("formation", formation)])))
    }
    XCTAssertEqual(
      ExportManifest.stale(previous: try files("web=3,worker=1").map(\.path), current: try files("web=1").map(\.path)),
      [
        "example-web@2.service.d/port.conf", "example-web@3.service.d/port.conf", "example-worker@.service",
        "example-worker@1.service.d/port.conf",
      ])
  }

  // MARK: - Golden files

  /// Set FORGE_UPDATE_GOLDENS=1 to rewrite the goldens.
  func testGoldenFilesForProcfileExample() throws {
    try checkGoldens(Self.goldens) { try GoldenScenario.plain($0) }
  }

  /// A task, notify and log readiness, an HTTP readiness probe with a port health check, an exec
  /// health check and start order: Tests/Fixtures/export-probes/Procfile.
  func testGoldenFilesWithReadinessHealthAndStartOrder() throws {
    try checkGoldens(Self.probeGoldens) { try GoldenScenario.probes($0) }
  }

  private func checkGoldens(_ root: URL, scenario: (ExportFormat) throws -> [ExportFile]) throws {
    let update = ProcessInfo.processInfo.environment["FORGE_UPDATE_GOLDENS"] == "1"
    for format in ExportFormat.allCases {
      let directory = root.appendingPathComponent(format.rawValue)
      let files = try scenario(format)
      if update {
        try? FileManager.default.removeItem(at: directory)
        for file in files { try write(file, in: directory.path) }
        continue
      }
      let expected = try listFiles(directory.path)
      XCTAssertEqual(files.map(\.path).sorted(), expected, "\(format): files differ from \(directory.path)")
      for file in files {
        let golden = try Data(contentsOf: directory.appendingPathComponent(file.path))
        XCTAssertEqual(
          file.text, String(decoding: golden, as: UTF8.self),
          "\(format)/\(file.path) differs; FORGE_UPDATE_GOLDENS=1 rewrites it")
      }
    }
  }

  static let goldens = repository.appendingPathComponent("Tests/Fixtures/export")
  static let probeGoldens = repository.appendingPathComponent("Tests/Fixtures/export-probes")
}

/// The plans of the golden files, which the validation tests also hand to the real tools (with
/// `directory` where they write the files).
enum GoldenScenario {
  /// Procfile.example with the fixture env, a fixed app, image and root, and the same options
  /// for every format.
  static func plain(_ format: ExportFormat, directory: String = "/etc/systemd/system") throws -> [ExportFile] {
    try files(
      format, procfile: ExportTestCase.repository.appendingPathComponent("Procfile.example"),
      restart: "on-failure,clock=always", probes: [], directory: directory)
  }

  /// With a secrets directory (`DB_PASSWORD`): systemd loads it as a credential, through forge
  /// (`forge`: the binary the units name; systemd-analyze wants it to exist).
  static func probes(
    _ format: ExportFormat, directory: String = "/etc/systemd/system",
    forge: String = ExportPlan.defaultForgeExecutable
  ) throws -> [ExportFile] {
    try files(
      format, procfile: ExportTests.probeGoldens.appendingPathComponent("Procfile"), restart: "on-failure",
      probes: [
        ("ready", "db=notify,web=http:/health,worker=log:ready to work"), ("health", "web=port"),
        ("health", "worker=exec:test -f /tmp/worker-alive"), ("after", "web=db,web=migrate:done,worker=web"),
        ("ready-timeout", "30"), ("health-interval", "5"),
      ], directory: directory, secrets: ["DB_PASSWORD": "correct horse battery staple\n"], forge: forge)
  }

  private static func files(
    _ format: ExportFormat, procfile: URL, restart: String, probes: [(String, String)], directory: String,
    secrets: [String: String]? = nil, forge: String = ExportPlan.defaultForgeExecutable
  ) throws -> [ExportFile] {
    let env = try String(contentsOf: ExportTests.goldens.appendingPathComponent("example.env"), encoding: .utf8)
    let project = try exportProject(
      procfile: try String(contentsOf: procfile, encoding: .utf8), env: env,
      options: [("formation", "all=1,web=2"), ("timeout", "7.5")], secrets: secrets)
    var policy = RestartPolicy()
    try policy.apply(restart, source: "--restart")
    var options = OptionValues()
    for (name, value) in probes { options.add(name, value) }
    let plan = try ExportPlan(
      project: project, app: "example", directory: directory, user: format == .systemd ? "app" : "1000",
      image: "registry.example/example:1.0", restart: policy, expose: ["web"], exposeSource: nil,
      probes: try ExportCommand.probes(options, Variables(environment: []) { _ in true }, project),
      forgeExecutable: forge)
    return try format.files(plan)
  }
}
