import Foundation
import XCTest

@testable import ForgeCore

/// `forge export`: each format's files read back the way their consumer reads them, per type
/// and instance; escaping; determinism; the manifest; golden files for Procfile.example.
final class ExportTests: XCTestCase {
  private let procfile = "web: ./server --port $PORT\nworker: ./work\nclock: ./tick\n"

  /// Values that break naive quoting, for every env file format.
  private let trickyEnv = """
    DATABASE_URL=postgres://app:secret@db/app
    QUOTES="say \\"hi\\" and it's 100% \\$5 `x`"
    BACKSLASH="ends in \\\\"
    MULTILINE="line one
    line two"
    NO=no
    NUMBER=0123
    UNICODE='größe ✓'
    PORT=6000
    PS=web.9

    """

  private func files(_ format: ExportFormat, _ plan: ExportPlan) throws -> [ExportFile] {
    try format.files(plan)
  }

  private func dictionary(_ pairs: [(key: String, value: String)]) -> [String: String] {
    var result: [String: String] = [:]
    for (key, value) in pairs { result[key] = value }
    return result
  }

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

  func testOutputIsDeterministic() throws {
    for format in ExportFormat.allCases {
      let first = try files(format, try exportPlan(try exportProject(procfile: procfile, env: trickyEnv), user: "1"))
      let second = try files(format, try exportPlan(try exportProject(procfile: procfile, env: trickyEnv), user: "1"))
      XCTAssertEqual(first, second, "\(format)")
      // The order of the env file's lines does not matter: the variables are sorted.
      let lines = ["ZED=1", "ALPHA=2", "MIDDLE=3"]
      let forward = try exportPlan(try exportProject(procfile: procfile, env: lines.joined(separator: "\n")))
      let backward = try exportPlan(
        try exportProject(procfile: procfile, env: lines.reversed().joined(separator: "\n")))
      XCTAssertEqual(try files(format, forward), try files(format, backward), "\(format)")
    }
  }

  // MARK: - systemd

  private func systemd(
    formation: String = "web=2,worker=1,clock=0", env: String? = nil, user: String? = nil, restart: String? = nil,
    timeout: String = "5", procfile: String? = nil
  ) throws -> [ExportFile] {
    let project = try exportProject(
      procfile: procfile ?? self.procfile, env: env, options: [("formation", formation), ("timeout", timeout)])
    return try files(.systemd, try exportPlan(project, user: user, restart: restart))
  }

  func testSystemdWritesATargetATemplatePerRunningTypeAndADropInPerInstance() throws {
    let files = try systemd()
    XCTAssertEqual(
      files.map(\.path),
      [
        "example.target", "example.env",
        "example-web@.service", "example-web@1.service.d/port.conf", "example-web@2.service.d/port.conf",
        "example-worker@.service", "example-worker@1.service.d/port.conf",
      ])
    XCTAssertEqual(try exportFile(files, "example.env").mode, 0o600)
    XCTAssertEqual(try exportFile(files, "example.target").mode, 0o644)
  }

  func testSystemdTargetWantsEveryInstance() throws {
    let target = UnitFile(try exportFile(try systemd(), "example.target").text)
    XCTAssertEqual(target.sections, ["Unit", "Install"])
    XCTAssertEqual(
      target.values("Unit", "Wants"), ["example-web@1.service", "example-web@2.service", "example-worker@1.service"])
    XCTAssertEqual(target.value("Install", "WantedBy"), "multi-user.target")
  }

  func testSystemdTemplateRunsTheTypeWithTheExportsSettings() throws {
    let files = try systemd(user: "deploy", restart: "on-failure,worker=always", timeout: "7.5")
    for (type, restart) in [("web", "on-failure"), ("worker", "always")] {
      let unit = UnitFile(try exportFile(files, "example-\(type)@.service").text)
      XCTAssertEqual(unit.sections, ["Unit", "Service"], type)
      XCTAssertEqual(unit.value("Unit", "PartOf"), "example.target", type)
      XCTAssertEqual(unit.value("Service", "User"), "deploy", type)
      XCTAssertEqual(unit.value("Service", "WorkingDirectory"), "/srv/app", type)
      XCTAssertEqual(unit.value("Service", "EnvironmentFile"), "/etc/systemd/system/example.env", type)
      XCTAssertEqual(unit.values("Service", "Environment"), ["PS=\(type).%i", "DYNO=\(type).%i"], type)
      XCTAssertEqual(unit.value("Service", "KillMode"), "mixed", type)
      XCTAssertEqual(unit.value("Service", "TimeoutStopSec"), "7.5", type)
      XCTAssertEqual(unit.value("Service", "Restart"), restart, type)
      XCTAssertEqual(unit.value("Service", "RestartSec"), "1", type)
      XCTAssertEqual(unit.value("Service", "StandardOutput"), "journal", type)
      XCTAssertEqual(unit.value("Service", "StandardError"), "journal", type)
      XCTAssertEqual(unit.value("Service", "SyslogIdentifier"), "example-\(type).%i", type)
    }
    let web = UnitFile(try exportFile(files, "example-web@.service").text)
    XCTAssertEqual(
      SystemdReader.shellCommand(try XCTUnwrap(web.value("Service", "ExecStart"))), "./server --port $PORT")
  }

  func testSystemdWithoutUserOrRestartPolicy() throws {
    let unit = UnitFile(try exportFile(try systemd(timeout: "0"), "example-web@.service").text)
    XCTAssertEqual(unit.values("Service", "User"), [])
    XCTAssertEqual(unit.value("Service", "Restart"), "no")
    XCTAssertEqual(unit.values("Service", "RestartSec"), [])
    // 0 would mean "no timeout" to systemd; forge's 0 means "kill at once".
    XCTAssertEqual(unit.value("Service", "TimeoutStopSec"), "0.001")
  }

  func testSystemdDropInSetsEachInstancesPortByThePortRule() throws {
    let files = try systemd(formation: "web=3,worker=2,clock=1", env: "PORT=7000\n")
    for (type, index, count) in [("web", 0, 3), ("worker", 1, 2), ("clock", 2, 1)] {
      for instance in 1...count {
        let dropIn = UnitFile(try exportFile(files, "example-\(type)@\(instance).service.d/port.conf").text)
        XCTAssertEqual(dropIn.sections, ["Service"])
        XCTAssertEqual(dropIn.values("Service", "Environment"), ["PORT=\(7000 + 100 * index + instance - 1)"])
      }
    }
    XCTAssertNil(files.first { $0.path.hasPrefix("example-web@4") })
  }

  func testSystemdExecStartEscapesWhatSystemdWouldInterpret() throws {
    let commands = [
      #"echo "$HOME" ${PATH} $$ 100% %i \n 'single' back\slash"#,
      "printf 'a\tb'",
      #"sh -c "echo \"nested\"" ; echo done"#,
    ]
    for command in commands {
      let files = try systemd(formation: "web=1", procfile: "web: \(command)\n")
      let unit = UnitFile(try exportFile(files, "example-web@.service").text)
      let execStart = try XCTUnwrap(unit.value("Service", "ExecStart"))
      XCTAssertEqual(SystemdReader.shellCommand(execStart), command, execStart)
    }
    XCTAssertEqual(SystemdExport.quoted("a\u{1}b"), #""a\x01b""#)
    XCTAssertEqual(SystemdExport.quoted(#"$x %y "z" \w"#), #""$$x %%y \"z\" \\w""#)
  }

  func testSystemdEnvironmentFileReadsBackAsTheEnvFilesVariables() throws {
    let project = try exportProject(procfile: procfile, env: trickyEnv)
    let plan = try exportPlan(project)
    let file = try exportFile(try files(.systemd, plan), "example.env")
    XCTAssertEqual(file.mode, 0o600)
    let read = try XCTUnwrap(SystemdReader.environmentFile(file.text), file.text)
    XCTAssertEqual(read.map(\.key), plan.environment.map(\.key))
    XCTAssertEqual(dictionary(read), dictionary(plan.environment))
    XCTAssertEqual(dictionary(read)["QUOTES"], #"say "hi" and it's 100% $5 `x`"#)
    XCTAssertEqual(dictionary(read)["MULTILINE"], "line one\nline two")
  }

  func testSystemdUnitsPassSystemdAnalyzeVerify() throws {
    let directory = try temporaryDirectory()
    let plan = try ExportPlan(
      project: try exportProject(procfile: procfile, env: trickyEnv, options: [("formation", "web=2,worker=1")]),
      app: "example", directory: directory, user: nil, image: nil, restart: RestartPolicy(), expose: ["web"],
      exposeSource: nil)
    let files = try files(.systemd, plan)
    for file in files { try write(file, in: directory) }
    let units = ["example.target", "example-web@1.service", "example-web@2.service", "example-worker@1.service"]
    guard
      let result = try runTool(
        ["systemd-analyze", "verify", "--man=no"] + units, environment: ["SYSTEMD_UNIT_PATH": directory + ":"])
    else {
      throw XCTSkip("systemd-analyze is not installed")
    }
    XCTAssertEqual(result.status, 0, result.output)
    // verify exits 0 on warnings about settings it ignores (a bad escape, a bad time span).
    XCTAssertFalse(result.output.contains(directory), result.output)
  }

  // MARK: - Kubernetes

  private func kubernetes(
    formation: String = "web=2,worker=1,clock=0", env: String? = nil, procfile: String? = nil,
    expose: [String] = ["web"], user: String? = nil, timeout: String = "5"
  ) throws -> (ExportPlan, [ExportFile]) {
    let project = try exportProject(
      procfile: procfile ?? self.procfile + "release: ./migrate\n", env: env,
      options: [("formation", formation), ("timeout", timeout)])
    let plan = try exportPlan(project, user: user, image: "registry.example/app:1.0", expose: expose)
    return (plan, try files(.kubernetes, plan))
  }

  func testKubernetesWritesOneObjectPerFile() throws {
    let (_, files) = try kubernetes(formation: "web=2,worker=1,clock=0,release=1", expose: ["web", "clock"])
    XCTAssertEqual(
      files.map(\.path),
      [
        "example-env.secret.yaml", "example-web.deployment.yaml", "example-web.service.yaml",
        "example-worker.deployment.yaml", "example-clock.deployment.yaml", "example-clock.service.yaml",
        "example-release.job.yaml",
      ])
    let documents = try YAMLReader.load(files.map(\.text))
    XCTAssertEqual(
      documents.map { dig($0, "kind") as? String },
      ["Secret", "Deployment", "Service", "Deployment", "Deployment", "Service", "Job"])
  }

  func testKubernetesDeploymentPerTypeAndInstanceCount() throws {
    let (_, files) = try kubernetes(formation: "web=2,worker=1,clock=0", env: "PORT=8000\n", timeout: "2.5")
    for (type, index, replicas, exposed) in [("web", 0, 2, true), ("worker", 1, 1, false), ("clock", 2, 0, false)] {
      let file = try exportFile(files, "example-\(type).deployment.yaml")
      let object = try YAMLReader.loadOne(file.text)
      let labels = ["app.kubernetes.io/name": "example", "app.kubernetes.io/component": type]
      XCTAssertEqual(dig(object, "apiVersion") as? String, "apps/v1")
      XCTAssertEqual(dig(object, "metadata", "name") as? String, "example-\(type)")
      XCTAssertEqual(dig(object, "metadata", "labels") as? [String: String], labels)
      XCTAssertEqual(dig(object, "spec", "replicas") as? Int, replicas)
      XCTAssertEqual(dig(object, "spec", "selector", "matchLabels") as? [String: String], labels)
      XCTAssertEqual(dig(object, "spec", "template", "metadata", "labels") as? [String: String], labels)
      let pod = dig(object, "spec", "template", "spec")
      XCTAssertEqual(dig(pod, "terminationGracePeriodSeconds") as? Int, 3)
      XCTAssertNil(dig(pod, "restartPolicy"), "a Deployment's pods always restart")
      let container = dig(pod, "containers", 0)
      XCTAssertEqual(dig(container, "image") as? String, "registry.example/app:1.0")
      // The base port: forge in the container adds the type's offset, as on the host.
      XCTAssertEqual(
        dig(container, "command") as? [String], ["forge", "start", type, "-m", "\(type)=1", "-p", "8000"])
      XCTAssertEqual(dig(container, "envFrom", 0, "secretRef", "name") as? String, "example-env")
      XCTAssertEqual(dig(container, "env", 0, "name") as? String, "FORGE_TIMEOUT")
      XCTAssertEqual(dig(container, "env", 0, "value") as? String, "2.5")
      XCTAssertEqual(
        dig(container, "ports", 0, "containerPort") as? Int, exposed ? 8000 + 100 * index : nil, type)
    }
  }

  func testKubernetesServiceTargetsTheExposedPort() throws {
    let (plan, files) = try kubernetes(expose: ["worker"])
    XCTAssertNil(files.first { $0.path == "example-web.service.yaml" })
    let object = try YAMLReader.loadOne(try exportFile(files, "example-worker.service.yaml").text)
    XCTAssertEqual(dig(object, "kind") as? String, "Service")
    XCTAssertEqual(
      dig(object, "spec", "selector") as? [String: String],
      ["app.kubernetes.io/name": "example", "app.kubernetes.io/component": "worker"])
    XCTAssertEqual(dig(object, "spec", "ports", 0, "port") as? Int, plan.basePort + 100)
    XCTAssertEqual(dig(object, "spec", "ports", 0, "targetPort") as? Int, plan.basePort + 100)
  }

  func testKubernetesSecretHoldsTheEnvFilesAndNothingElseDoes() throws {
    let (plan, files) = try kubernetes(env: trickyEnv)
    let secret = try YAMLReader.loadOne(try exportFile(files, "example-env.secret.yaml").text)
    XCTAssertEqual(dig(secret, "type") as? String, "Opaque")
    XCTAssertEqual(dig(secret, "stringData") as? [String: String], dictionary(plan.environment))
    for file in files where file.path != "example-env.secret.yaml" {
      XCTAssertFalse(file.text.contains("postgres://"), "\(file.path) holds a secret value")
    }
    let empty = try kubernetes(env: nil).1
    XCTAssertEqual(
      dig(try YAMLReader.loadOne(try exportFile(empty, "example-env.secret.yaml").text), "stringData")
        as? [String: String],
      [:])
  }

  func testKubernetesReleaseTypeIsAJob() throws {
    let (_, files) = try kubernetes(formation: "web=1,release=1")
    XCTAssertNil(files.first { $0.path == "example-release.deployment.yaml" })
    let job = try YAMLReader.loadOne(try exportFile(files, "example-release.job.yaml").text)
    XCTAssertEqual(dig(job, "apiVersion") as? String, "batch/v1")
    XCTAssertEqual(dig(job, "spec", "backoffLimit") as? Int, 0)
    XCTAssertEqual(dig(job, "spec", "template", "spec", "restartPolicy") as? String, "Never")
    XCTAssertEqual(
      dig(job, "spec", "template", "spec", "containers", 0, "command") as? [String], ["forge", "run", "release"])
    // A Job cannot be scaled to 0: a count of 0 leaves it out.
    XCTAssertNil(try kubernetes(formation: "web=1").1.first { $0.path.contains("release") })
  }

  func testKubernetesUserMustBeNumeric() throws {
    let (_, files) = try kubernetes(user: "1000")
    let object = try YAMLReader.loadOne(try exportFile(files, "example-web.deployment.yaml").text)
    XCTAssertEqual(dig(object, "spec", "template", "spec", "securityContext", "runAsUser") as? Int, 1000)
    assertConfigError(try kubernetes(user: "deploy"), line: 0, path: "--user")
  }

  func testKubernetesNamesMustBeValidAndDistinct() throws {
    assertConfigError(
      try kubernetes(formation: "all=1", procfile: "web_a: a\nweb-a: b\n"), line: 0,
      mentioning: "both become \"example-web-a\"")
    let long = String(repeating: "w", count: 60)
    assertConfigError(try kubernetes(formation: "all=1", procfile: "\(long): a\n"), line: 0, mentioning: "63")
    let project = try exportProject(procfile: "web: a\n")
    let plan = try exportPlan(project, app: "2048")
    assertConfigError(try files(.kubernetes, plan), line: 0, path: "--app", mentioning: "letter")
  }

  func testKubernetesManifestsPassKubernetesValidate() throws {
    let (_, files) = try kubernetes(
      formation: "web=2,worker=1,clock=0,release=1", env: trickyEnv, expose: ["web", "clock"], user: "1000")
    let directory = try temporaryDirectory()
    for file in files { try write(file, in: directory) }
    guard
      let result = try runTool(["kubernetes-validate", "--strict"] + files.map { directory + "/" + $0.path })
    else {
      throw XCTSkip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    }
    XCTAssertEqual(result.status, 0, result.output)
  }

  // MARK: - Compose

  private func compose(
    formation: String = "web=2,worker=1,clock=0,release=1", env: String? = nil, user: String? = nil,
    image: String? = nil, restart: String? = nil, timeout: String = "1.5"
  ) throws -> (ExportPlan, [ExportFile]) {
    let project = try exportProject(
      procfile: procfile + "release: ./migrate\n", env: env, options: [("formation", formation), ("timeout", timeout)])
    let plan = try exportPlan(project, user: user, image: image, restart: restart)
    return (plan, try files(.compose, plan))
  }

  func testComposeServicePerTypeInProcfileOrder() throws {
    let (_, files) = try compose(restart: "always,worker=on-failure")
    XCTAssertEqual(files.map(\.path), ["compose.yaml", "example.env"])
    let text = try exportFile(files, "compose.yaml").text
    let document = try YAMLReader.loadOne(text)
    XCTAssertEqual(dig(document, "name") as? String, "example")
    let services = try XCTUnwrap(dig(document, "services") as? [String: Any])
    XCTAssertEqual(Set(services.keys), ["web", "worker", "clock", "release"])
    let order = ["web", "worker", "clock", "release"].map { text.range(of: "\n  \($0):\n")?.lowerBound }
    XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted(), "Procfile order")
    for (type, replicas, restart) in [("web", 2, "always"), ("worker", 1, "on-failure"), ("clock", 0, "always")] {
      let service = services[type]
      XCTAssertEqual(dig(service, "image") as? String, "example:latest", type)
      XCTAssertEqual(
        dig(service, "command") as? [String], ["forge", "start", type, "-m", "\(type)=1", "-p", "5000"], type)
      XCTAssertEqual(dig(service, "env_file") as? [String], ["example.env"], type)
      XCTAssertEqual(dig(service, "environment", "FORGE_TIMEOUT") as? String, "1.5", type)
      XCTAssertEqual(dig(service, "deploy", "replicas") as? Int, replicas, type)
      XCTAssertEqual(dig(service, "stop_grace_period") as? String, "1.5s", type)
      XCTAssertEqual(dig(service, "restart") as? String, restart, type)
      XCTAssertNil(dig(service, "profiles"), type)
      XCTAssertEqual(dig(service, "expose") as? [String], type == "web" ? ["5000"] : nil, type)
    }
  }

  func testComposeReleaseRunsOnlyInItsProfile() throws {
    let services = dig(try YAMLReader.loadOne(try exportFile(try compose().1, "compose.yaml").text), "services")
    XCTAssertEqual(dig(services, "release", "profiles") as? [String], ["release"])
    XCTAssertEqual(dig(services, "release", "command") as? [String], ["forge", "run", "release"])
    XCTAssertEqual(dig(services, "release", "restart") as? String, "no")
    XCTAssertNil(dig(services, "release", "deploy"))
    let without = try exportFile(try compose(formation: "web=1").1, "compose.yaml").text
    XCTAssertNil(dig(try YAMLReader.loadOne(without), "services", "release"))
  }

  func testComposeRestartNoStaysAString() throws {
    let text = try exportFile(try compose().1, "compose.yaml").text
    XCTAssertEqual(dig(try YAMLReader.loadOne(text), "services", "web", "restart") as? String, "no")
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
    let before = try systemd(formation: "web=3,worker=1").map(\.path)
    let after = try systemd(formation: "web=1").map(\.path)
    XCTAssertEqual(
      ExportManifest.stale(previous: before, current: after),
      [
        "example-web@2.service.d/port.conf", "example-web@3.service.d/port.conf", "example-worker@.service",
        "example-worker@1.service.d/port.conf",
      ])
  }

  // MARK: - Golden files

  private static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  private static let goldens = repository.appendingPathComponent("Tests/Fixtures/export")

  /// Procfile.example with the fixture env, a fixed app, image and root, and the same options
  /// for every format. Set FORGE_UPDATE_GOLDENS=1 to rewrite the goldens.
  private func goldenFiles(_ format: ExportFormat) throws -> [ExportFile] {
    let procfile = try String(contentsOf: Self.repository.appendingPathComponent("Procfile.example"), encoding: .utf8)
    let env = try String(contentsOf: Self.goldens.appendingPathComponent("example.env"), encoding: .utf8)
    let project = try exportProject(
      procfile: procfile, env: env, options: [("formation", "web=2,worker=1,clock=1"), ("timeout", "7.5")])
    let plan = try ExportPlan(
      project: project, app: "example", directory: "/etc/systemd/system", user: format == .systemd ? "app" : "1000",
      image: "registry.example/example:1.0", restart: try restartPolicy("on-failure,clock=always"), expose: ["web"],
      exposeSource: nil)
    return try files(format, plan)
  }

  private func restartPolicy(_ spec: String) throws -> RestartPolicy {
    var policy = RestartPolicy()
    try policy.apply(spec, source: "--restart")
    return policy
  }

  func testGoldenFilesForProcfileExample() throws {
    let update = ProcessInfo.processInfo.environment["FORGE_UPDATE_GOLDENS"] == "1"
    for format in ExportFormat.allCases {
      let directory = Self.goldens.appendingPathComponent(format.rawValue)
      let files = try goldenFiles(format)
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

  // MARK: - Files

  private func temporaryDirectory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-export-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
  }

  private func write(_ file: ExportFile, in directory: String) throws {
    let url = URL(fileURLWithPath: directory).appendingPathComponent(file.path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(file.text.utf8).write(to: url)
  }

  /// Every file below `directory`, as sorted relative paths.
  private func listFiles(_ directory: String) throws -> [String] {
    let enumerator = try XCTUnwrap(FileManager.default.enumerator(atPath: directory))
    var paths: [String] = []
    while let path = enumerator.nextObject() as? String {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory),
        !isDirectory.boolValue
      {
        paths.append(path)
      }
    }
    return paths.sorted()
  }
}
