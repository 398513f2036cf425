import Foundation
import XCTest

@testable import ForgeCore

/// `forge export kubernetes`, read back with PyYAML. kubernetes-validate runs in
/// ExportValidationTests.
final class ExportKubernetesTests: ExportTestCase {
  private func kubernetes(
    formation: String = "web=2,worker=1,clock=0", env: String? = nil, procfile: String? = nil,
    expose: [String] = ["web"], user: String? = nil, timeout: String = "5", probes: [(String, String)] = []
  ) throws -> (ExportPlan, [ExportFile]) {
    let project = try exportProject(
      procfile: procfile ?? self.procfile + "release: ./migrate\n", env: env,
      options: [("formation", formation), ("timeout", timeout)])
    let plan = try exportPlan(project, user: user, image: "registry.example/app:1.0", expose: expose, probes: probes)
    return (plan, try ExportFormat.kubernetes.files(plan))
  }

  private func object(_ files: [ExportFile], _ path: String) throws -> [String: Any] {
    try YAMLReader.loadOne(try exportFile(files, path).text)
  }

  func testKubernetesWritesOneObjectPerFile() throws {
    let (_, files) = try kubernetes(formation: "web=2,worker=1,clock=0,release=1", expose: ["web", "clock"])
    XCTAssertEqual(
      files.map(\.path),
      [
        "example-env.configmap.yaml", "example-env.secret.yaml", "example-web.deployment.yaml",
        "example-web.service.yaml", "example-worker.deployment.yaml", "example-clock.deployment.yaml",
        "example-clock.service.yaml", "example-release.job.yaml",
      ])
    let documents = try YAMLReader.load(files.map(\.text))
    XCTAssertEqual(
      documents.map { dig($0, "kind") as? String },
      ["ConfigMap", "Secret", "Deployment", "Service", "Deployment", "Deployment", "Service", "Job"])
  }

  func testKubernetesDeploymentPerTypeAndInstanceCount() throws {
    let (_, files) = try kubernetes(formation: "web=2,worker=1,clock=0", env: "PORT=8000\n", timeout: "2.5")
    for (type, index, replicas, exposed) in [("web", 0, 2, true), ("worker", 1, 1, false), ("clock", 2, 0, false)] {
      let object = try object(files, "example-\(type).deployment.yaml")
      let labels = ["app.kubernetes.io/name": "example", "app.kubernetes.io/component": type]
      XCTAssertEqual(dig(object, "apiVersion") as? String, "apps/v1")
      XCTAssertEqual(dig(object, "metadata", "name") as? String, "example-\(type)")
      XCTAssertEqual(dig(object, "metadata", "labels") as? [String: String], labels)
      XCTAssertEqual(dig(object, "spec", "replicas") as? Int, replicas)
      XCTAssertEqual(dig(object, "spec", "selector", "matchLabels") as? [String: String], labels)
      XCTAssertEqual(dig(object, "spec", "template", "metadata", "labels") as? [String: String], labels)
      let pod = dig(object, "spec", "template", "spec")
      // -t 2.5 and the 5 s margin, rounded up: forge's own stop always finishes first.
      XCTAssertEqual(dig(pod, "terminationGracePeriodSeconds") as? Int, 8)
      XCTAssertNil(dig(pod, "restartPolicy"), "a Deployment's pods always restart")
      let container = dig(pod, "containers", 0)
      XCTAssertEqual(dig(container, "image") as? String, "registry.example/app:1.0")
      // The base port: forge in the container adds the type's offset, as on the host.
      XCTAssertEqual(
        dig(container, "command") as? [String], ["forge", "start", type, "-m", "\(type)=1", "-p", "8000"])
      XCTAssertEqual(dig(container, "envFrom", 0, "configMapRef", "name") as? String, "example-env")
      XCTAssertEqual(dig(container, "envFrom", 1, "secretRef", "name") as? String, "example-env")
      XCTAssertEqual((dig(container, "envFrom") as? [Any])?.count, 2)
      XCTAssertEqual(dig(container, "env") as? [[String: String]], [["name": "FORGE_TIMEOUT", "value": "2.5"]])
      XCTAssertEqual(
        dig(container, "ports", 0, "containerPort") as? Int, exposed ? 8000 + 100 * index : nil, type)
      for probe in ["startupProbe", "readinessProbe", "livenessProbe"] { XCTAssertNil(dig(container, probe)) }
    }
  }

  func testKubernetesServiceTargetsTheExposedPort() throws {
    let (plan, files) = try kubernetes(expose: ["worker"])
    XCTAssertNil(files.first { $0.path == "example-web.service.yaml" })
    let object = try object(files, "example-worker.service.yaml")
    XCTAssertEqual(dig(object, "kind") as? String, "Service")
    XCTAssertEqual(
      dig(object, "spec", "selector") as? [String: String],
      ["app.kubernetes.io/name": "example", "app.kubernetes.io/component": "worker"])
    XCTAssertEqual(dig(object, "spec", "ports", 0, "port") as? Int, plan.basePort + 100)
    XCTAssertEqual(dig(object, "spec", "ports", 0, "targetPort") as? Int, plan.basePort + 100)
  }

  /// Secret keys (named by --redact) go to the Secret, the rest to the ConfigMap; no other
  /// object holds a value, and both files holding values are mode 0600.
  func testKubernetesSecretHoldsTheSecretKeysAndTheConfigMapTheRest() throws {
    let (plan, files) = try kubernetes(env: trickyEnv + "API_TOKEN=tok-0123456789\nDB_PASSWORD='pa ss\"word'\n")
    XCTAssertEqual(plan.secrets.map(\.key), ["API_TOKEN", "DB_PASSWORD"])
    let secret = try object(files, "example-env.secret.yaml")
    XCTAssertEqual(dig(secret, "type") as? String, "Opaque")
    XCTAssertEqual(dig(secret, "metadata", "name") as? String, "example-env")
    XCTAssertEqual(
      dig(secret, "stringData") as? [String: String], ["API_TOKEN": "tok-0123456789", "DB_PASSWORD": "pa ss\"word"])
    let configMap = try object(files, "example-env.configmap.yaml")
    XCTAssertEqual(dig(configMap, "apiVersion") as? String, "v1")
    XCTAssertEqual(dig(configMap, "metadata", "name") as? String, "example-env")
    XCTAssertEqual(dig(configMap, "data") as? [String: String], dictionary(plan.configuration))
    XCTAssertEqual(dictionary(plan.configuration)["DATABASE_URL"], "postgres://app:secret@db/app")
    for file in files {
      let holdsValues = file.path.hasPrefix("example-env.")
      XCTAssertEqual(file.mode, holdsValues ? 0o600 : 0o644, file.path)
      if file.path != "example-env.secret.yaml" {
        XCTAssertFalse(file.text.contains("tok-0123456789"), "\(file.path) holds a secret value")
      }
      if !holdsValues { XCTAssertFalse(file.text.contains("postgres://"), "\(file.path) holds a value") }
    }
    // Both objects are there when empty: envFrom names them, and the set of objects stays put.
    let empty = try kubernetes(env: nil).1
    XCTAssertEqual(dig(try object(empty, "example-env.secret.yaml"), "stringData") as? [String: String], [:])
    XCTAssertEqual(dig(try object(empty, "example-env.configmap.yaml"), "data") as? [String: String], [:])
  }

  func testKubernetesReleaseTypeIsAJob() throws {
    let (_, files) = try kubernetes(formation: "web=1,release=1")
    XCTAssertNil(files.first { $0.path == "example-release.deployment.yaml" })
    let job = try object(files, "example-release.job.yaml")
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
    let object = try object(files, "example-web.deployment.yaml")
    XCTAssertEqual(dig(object, "spec", "template", "spec", "securityContext", "runAsUser") as? Int, 1000)
    assertConfigError(try kubernetes(user: "deploy"), line: 0, path: "--user")
  }

  func testKubernetesNamesMustBeValidAndDistinct() throws {
    assertConfigError(
      try kubernetes(formation: "all=1", procfile: "web_a: a\nweb-a: b\n"), line: 0,
      mentioning: "both become \"example-web-a\"")
    let long = String(repeating: "w", count: 60)
    assertConfigError(try kubernetes(formation: "all=1", procfile: "\(long): a\n"), line: 0, mentioning: "63")
    let plan = try exportPlan(try exportProject(procfile: "web: a\n"), app: "2048")
    assertConfigError(try ExportFormat.kubernetes.files(plan), line: 0, path: "--app", mentioning: "letter")
  }

  // MARK: - Readiness, health and tasks

  func testKubernetesReadinessIsAReadinessProbeAndAStartupProbeWithTheTimeout() throws {
    let (_, files) = try kubernetes(
      formation: "all=1", env: "PORT=8000\n",
      probes: [
        ("ready", "web=http:/up?x=1,worker=port,clock=exec:test -e \"$PORT\""), ("ready-timeout", "12.5"),
      ])
    for type in ["web", "worker", "clock"] {
      let container = dig(
        try object(files, "example-\(type).deployment.yaml"), "spec", "template", "spec", "containers", 0)
      for probe in ["startupProbe", "readinessProbe"] {
        switch type {
        case "web":
          XCTAssertEqual(dig(container, probe, "httpGet", "path") as? String, "/up?x=1", probe)
          XCTAssertEqual(dig(container, probe, "httpGet", "port") as? Int, 8000, probe)
        case "worker":
          XCTAssertEqual(dig(container, probe, "tcpSocket", "port") as? Int, 8100, probe)
        default:
          XCTAssertEqual(
            dig(container, probe, "exec", "command") as? [String], ["/bin/sh", "-c", #"test -e "$PORT""#], probe)
        }
        let keys = (dig(container, probe) as? [String: Any])?.count
        XCTAssertEqual(keys, probe == "startupProbe" ? 4 : 3, "one handler and its timings: \(type)")
        XCTAssertEqual(dig(container, probe, "timeoutSeconds") as? Int, type == "clock" ? 5 : 1, "\(type) \(probe)")
        XCTAssertEqual(dig(container, probe, "periodSeconds") as? Int, 1, "\(type) \(probe)")
      }
      // Not ready within the readiness timeout: the container is restarted, as forge restarts.
      XCTAssertEqual(dig(container, "startupProbe", "failureThreshold") as? Int, 13, type)
      XCTAssertNil(dig(container, "livenessProbe"), type)
    }
    // An exec probe runs with the instance's PORT, as under forge.
    let clock = dig(try object(files, "example-clock.deployment.yaml"), "spec", "template", "spec", "containers", 0)
    XCTAssertEqual(dig(clock, "env", 1) as? [String: String], ["name": "PORT", "value": "8200"])
  }

  func testKubernetesHealthCheckIsALivenessProbe() throws {
    let (_, files) = try kubernetes(
      probes: [("health", "web=http:/healthz,worker=exec:./alive"), ("health-interval", "2.5")])
    let web = dig(try object(files, "example-web.deployment.yaml"), "spec", "template", "spec", "containers", 0)
    XCTAssertEqual(dig(web, "livenessProbe", "httpGet", "path") as? String, "/healthz")
    XCTAssertEqual(dig(web, "livenessProbe", "httpGet", "port") as? Int, 5000)
    XCTAssertEqual(dig(web, "livenessProbe", "periodSeconds") as? Int, 3, "whole seconds, rounded up")
    XCTAssertEqual(dig(web, "livenessProbe", "failureThreshold") as? Int, 3, "3 failures in a row, as forge")
    XCTAssertNil(dig(web, "readinessProbe"))
    let worker = dig(try object(files, "example-worker.deployment.yaml"), "spec", "template", "spec", "containers", 0)
    XCTAssertEqual(dig(worker, "livenessProbe", "exec", "command") as? [String], ["/bin/sh", "-c", "./alive"])
    XCTAssertEqual(dig(worker, "livenessProbe", "timeoutSeconds") as? Int, 5)
  }

  func testKubernetesLogAndNotifyReadinessAreComments() throws {
    let (_, files) = try kubernetes(probes: [("ready", "web=log:Listening on\tport,worker=notify")])
    for (type, spec) in [("web", #""log:Listening on\u0009port""#), ("worker", #""notify""#)] {
      let text = try exportFile(files, "example-\(type).deployment.yaml").text
      XCTAssertTrue(
        text.contains("          # Not exported: readiness \(spec) has no Kubernetes equivalent;"), text)
      let container = dig(try YAMLReader.loadOne(text), "spec", "template", "spec", "containers", 0)
      XCTAssertNil(dig(container, "readinessProbe"), type)
      XCTAssertNil(dig(container, "startupProbe"), type)
    }
  }

  func testKubernetesTaskIsAJobAndStartOrderIsAComment() throws {
    let (_, files) = try kubernetes(
      formation: "web=1,worker=3,clock=1", probes: [("after", "web=worker:done,web=clock"), ("health", "worker=port")])
    XCTAssertNil(files.first { $0.path == "example-worker.deployment.yaml" })
    let job = try object(files, "example-worker.job.yaml")
    XCTAssertEqual(dig(job, "kind") as? String, "Job")
    XCTAssertEqual(dig(job, "spec", "completions") as? Int, 3, "every instance runs once")
    XCTAssertEqual(dig(job, "spec", "parallelism") as? Int, 3)
    XCTAssertEqual(dig(job, "spec", "backoffLimit") as? Int, 0)
    let pod = dig(job, "spec", "template", "spec")
    XCTAssertEqual(dig(pod, "restartPolicy") as? String, "Never")
    XCTAssertEqual(
      dig(pod, "containers", 0, "command") as? [String], ["forge", "start", "worker", "-m", "worker=1", "-p", "5000"])
    XCTAssertEqual(dig(pod, "containers", 0, "livenessProbe", "tcpSocket", "port") as? Int, 5100)
    let web = try exportFile(files, "example-web.deployment.yaml").text
    XCTAssertTrue(
      web.contains("\n# Not exported: forge starts web after worker (done), clock (ready); Kubernetes has no"), web)
    XCTAssertFalse(try exportFile(files, "example-web.service.yaml").text.contains("Not exported"))
  }

  // MARK: - Metrics

  /// `--metrics`: forge in every container but a release's serves it, and the pod says where.
  func testKubernetesMetricsAddANamedPortAndScrapeAnnotations() throws {
    let (_, files) = try kubernetes(
      formation: "web=2,worker=1,clock=0,release=1", probes: [("metrics", "0.0.0.0:9100")])
    let annotations = ["prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"]
    for (type, ports) in [("web", 2), ("worker", 1), ("clock", 1)] {
      let template = dig(try object(files, "example-\(type).deployment.yaml"), "spec", "template")
      XCTAssertEqual(dig(template, "metadata", "annotations") as? [String: String], annotations, type)
      let container = dig(template, "spec", "containers", 0)
      XCTAssertEqual(
        dig(container, "command") as? [String],
        ["forge", "start", type, "-m", "\(type)=1", "-p", "5000", "--metrics", "0.0.0.0:9100"], type)
      XCTAssertEqual((dig(container, "ports") as? [Any])?.count, ports, type)
      XCTAssertEqual(dig(container, "ports", ports - 1, "name") as? String, "metrics", type)
      XCTAssertEqual(dig(container, "ports", ports - 1, "containerPort") as? Int, 9100, type)
    }
    let web = dig(try object(files, "example-web.deployment.yaml"), "spec", "template", "spec", "containers", 0)
    XCTAssertEqual(dig(web, "ports", 0) as? [String: Int], ["containerPort": 5000])
    // `forge run release` serves no metrics.
    let release = dig(try object(files, "example-release.job.yaml"), "spec", "template")
    XCTAssertNil(dig(release, "metadata", "annotations"))
    XCTAssertNil(dig(release, "spec", "containers", 0, "ports"))
    XCTAssertEqual(dig(release, "spec", "containers", 0, "command") as? [String], ["forge", "run", "release"])

    // A socket has no port: the command carries it, and nothing else.
    let socket = try kubernetes(probes: [("metrics", "unix:/run/forge.metrics")]).1
    let worker = dig(try object(socket, "example-worker.deployment.yaml"), "spec", "template")
    XCTAssertNil(dig(worker, "metadata", "annotations"))
    XCTAssertNil(dig(worker, "spec", "containers", 0, "ports"))
    XCTAssertEqual(
      (dig(worker, "spec", "containers", 0, "command") as? [String])?.suffix(2),
      ["--metrics", "unix:/run/forge.metrics"])
    // Without --metrics, none of it.
    let plain = dig(try object(try kubernetes().1, "example-web.deployment.yaml"), "spec", "template")
    XCTAssertNil(dig(plain, "metadata", "annotations"))
    XCTAssertEqual((dig(plain, "spec", "containers", 0, "ports") as? [Any])?.count, 1)
  }
}
