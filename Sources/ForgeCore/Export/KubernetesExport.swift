/// `forge export kubernetes`: one manifest per object, for `kubectl apply -f DIR`. The env
/// files' variables go to two objects named `APP-env` that every container reads through
/// `envFrom` (values never appear in a Deployment): a Secret with the secret keys (from the
/// secrets directory, `X_FILE` references, or named by `--redact`) and a ConfigMap with the
/// rest. Both are written even when empty, so the set of objects does not change with the
/// values, and both files are mode 0600: they hold values. Each type is a Deployment
/// `APP-TYPE` running `forge start TYPE` in the image, with a Service for exposed types; a
/// `release` type, and a task (a type another waits for with `:done`), is a Job that runs once.
/// A polled readiness probe becomes a `readinessProbe`, and a `startupProbe` that gives up
/// after `--ready-timeout`; a health check a `livenessProbe` (3 failures in a row restart, as
/// under forge). With `--metrics`, each pod running forge start gets a `metrics` port and the
/// Prometheus scrape annotations (see `ExportMetrics`).
enum KubernetesExport {
  static func files(_ plan: ExportPlan) throws(ConfigError) -> [ExportFile] {
    if let user = plan.user, UInt32(user) == nil {
      throw ConfigError(path: "--user", line: 0, message: "Kubernetes needs a numeric user id, got \"\(user)\"")
    }
    var files = [
      ExportFile("\(plan.app)-env.configmap.yaml", configMap(plan), mode: 0o600),
      ExportFile("\(plan.app)-env.secret.yaml", secret(plan), mode: 0o600),
    ]
    var taken: [String: String] = [:]
    for type in plan.types {
      let name = try objectName(plan, type, taken: &taken)
      if type.isRelease || type.isTask {
        // A Job cannot be scaled: a count of 0 leaves it out, as under `forge start`.
        if type.count > 0 { files.append(ExportFile("\(name).job.yaml", job(plan, type, name: name))) }
        continue
      }
      files.append(ExportFile("\(name).deployment.yaml", deployment(plan, type, name: name)))
      if type.exposed { files.append(ExportFile("\(name).service.yaml", service(plan, type, name: name))) }
    }
    return files
  }

  /// `APP-TYPE` with the type made a DNS label (`web_api` → `web-api`). No name may be longer
  /// than 63 characters, and Service names must start with a letter.
  static func objectName(
    _ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, taken: inout [String: String]
  ) throws(ConfigError) -> String {
    guard let component = ExportText.name(type.name) else {
      throw ConfigError(
        path: "kubernetes", line: 0, message: "process type \"\(type.name)\" has no letter or digit for a name")
    }
    let name = "\(plan.app)-\(component)"
    guard name.utf8.count <= 63 else {
      throw ConfigError(
        path: "kubernetes", line: 0, message: "\"\(name)\" is longer than the 63 characters Kubernetes allows")
    }
    guard name.first?.isLetter == true || !type.exposed else {
      throw ConfigError(
        path: "--app", line: 0, message: "Kubernetes Service names must start with a letter: \"\(name)\"")
    }
    if let other = taken[name] {
      throw ConfigError(
        path: "kubernetes", line: 0, message: "types \"\(other)\" and \"\(type.name)\" both become \"\(name)\"")
    }
    taken[name] = type.name
    return name
  }

  static func labels(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry?, indent: String) -> String {
    var text = "\(indent)app.kubernetes.io/name: \(plan.app)\n"
    if let type { text += "\(indent)app.kubernetes.io/component: \(ExportText.name(type.name) ?? "")\n" }
    return text
  }

  /// The file's header, the object's kind and its metadata.
  static func object(
    _ apiVersion: String, _ kind: String, _ plan: ExportPlan, _ type: ExportPlan.ProcessEntry?, name: String
  ) -> String {
    var text = "# \(ExportText.header)\n"
    if let type, !type.after.isEmpty, kind != "Service" {
      // Kubernetes starts every object at once; the pods restart until what they need is there.
      let after = type.after.map { "\($0.on) (\($0.condition.rawValue))" }.joined(separator: ", ")
      text += "# Not exported: forge starts \(type.name) after \(after); Kubernetes has no start order.\n"
    }
    return text + "apiVersion: \(apiVersion)\nkind: \(kind)\nmetadata:\n  name: \(name)\n  labels:\n"
      + labels(plan, type, indent: "    ")
  }

  /// The secret variables, as `stringData` (Kubernetes stores them base64-encoded).
  static func secret(_ plan: ExportPlan) -> String {
    object("v1", "Secret", plan, nil, name: "\(plan.app)-env") + "type: Opaque\n"
      + mapping("stringData", plan.secrets)
  }

  /// The variables that are not secret.
  static func configMap(_ plan: ExportPlan) -> String {
    object("v1", "ConfigMap", plan, nil, name: "\(plan.app)-env") + mapping("data", plan.configuration)
  }

  private static func mapping(_ name: String, _ pairs: [(key: String, value: String)]) -> String {
    if pairs.isEmpty { return "\(name): {}\n" }
    var text = "\(name):\n"
    for (key, value) in pairs { text += "  \(ExportText.yamlKey(key)): \(ExportText.yaml(value))\n" }
    return text
  }

  static func deployment(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    object("apps/v1", "Deployment", plan, type, name: name) + "spec:\n"
      + "  replicas: \(type.count)\n"
      + "  selector:\n    matchLabels:\n" + labels(plan, type, indent: "      ")
      + podTemplate(plan, type, restartPolicy: nil)
  }

  static func job(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    // Every instance of a task runs to completion once, together.
    let instances = type.count > 1 ? "  completions: \(type.count)\n  parallelism: \(type.count)\n" : ""
    return object("batch/v1", "Job", plan, type, name: name) + "spec:\n" + instances
      + "  backoffLimit: 0\n"
      + podTemplate(plan, type, restartPolicy: "Never")
  }

  static func podTemplate(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, restartPolicy: String?) -> String {
    let metricsPort = ExportMetrics.port(plan, type)
    var text = "  template:\n    metadata:\n      labels:\n" + labels(plan, type, indent: "        ")
    // On the pod, where Prometheus's pod discovery reads them.
    if let metricsPort { text += ExportMetrics.mapping("annotations", port: metricsPort, indent: "      ") }
    text += "    spec:\n"
    if let restartPolicy { text += "      restartPolicy: \(restartPolicy)\n" }
    // Kubernetes counts whole seconds; rounding up never cuts forge's grace period short, and
    // the margin lets forge finish its own stop and say so before the kubelet's SIGKILL.
    text += "      terminationGracePeriodSeconds: \(Int(plan.platformStopSeconds.rounded(.up)))\n"
    if let user = plan.user {
      text += "      securityContext:\n        runAsUser: \(user)\n"
    }
    text += "      containers:\n"
    text += "        - name: \(ExportText.name(type.name) ?? "")\n"
    text += "          image: \(ExportText.yaml(plan.image))\n"
    text += "          command: \(ExportText.yamlList(plan.containerCommand(type)))\n"
    text += "          envFrom:\n"
    text += "            - configMapRef:\n                name: \(plan.app)-env\n"
    text += "            - secretRef:\n                name: \(plan.app)-env\n"
    if type.isRelease { return text }
    // forge in the container stops its processes within the same grace period.
    text += "          env:\n            - name: FORGE_TIMEOUT\n"
    text += "              value: \(ExportText.yaml(ExportText.seconds(plan.timeoutSeconds)))\n"
    let port = plan.port(type, instance: 1)
    if type.hasExecProbe {
      // An exec probe gets the instance's PORT, as under forge (forge sets it again for the process).
      text += "            - name: PORT\n              value: \(ExportText.yaml(String(port)))\n"
    }
    if type.exposed || metricsPort != nil { text += "          ports:\n" }
    if type.exposed { text += "            - containerPort: \(port)\n" }
    if let metricsPort { text += "            - name: metrics\n              containerPort: \(metricsPort)\n" }
    return text + probes(plan, type, port: port)
  }

  /// The container's probes, or a comment for a readiness probe Kubernetes cannot ask.
  static func probes(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, port: Int) -> String {
    var text = ""
    if let readiness = type.polledReadiness {
      // Asked every second until it passes, as forge does, and given up on (the container
      // restarted) after the readiness timeout; then asked every second for Service traffic.
      text += "          startupProbe:\n" + handler(readiness, port: port)
      text += "            periodSeconds: 1\n"
      text += "            failureThreshold: \(ExportProbes.wholeSeconds(plan.readyTimeoutSeconds))\n"
      text += "          readinessProbe:\n" + handler(readiness, port: port) + "            periodSeconds: 1\n"
    } else if let readiness = type.readiness {
      text += "          # Not exported: readiness \(ExportText.yaml(readiness.spec)) has no Kubernetes equivalent;"
      text += " the pod is ready once its container runs.\n"
    }
    if let health = type.health {
      text += "          livenessProbe:\n" + handler(health, port: port)
      text += "            periodSeconds: \(ExportProbes.wholeSeconds(plan.healthIntervalSeconds))\n"
      text += "            failureThreshold: 3\n"
    }
    return text
  }

  /// `tcpSocket`, `httpGet` or `exec` with forge's time limit, at the probe's indentation.
  static func handler(_ probe: Probe, port: Int) -> String {
    var text: String
    switch probe {
    case .port: text = "            tcpSocket:\n              port: \(port)\n"
    case .http(let path):
      text = "            httpGet:\n              path: \(ExportText.yaml(path))\n              port: \(port)\n"
    case .exec(let command):
      text = "            exec:\n              command: \(ExportText.yamlList(["/bin/sh", "-c", command]))\n"
    case .log, .notify: return ""
    }
    return text + "            timeoutSeconds: \(ExportProbes.timeoutSeconds(probe))\n"
  }

  static func service(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    let port = plan.port(type, instance: 1)
    return object("v1", "Service", plan, type, name: name) + "spec:\n"
      + "  selector:\n" + labels(plan, type, indent: "    ")
      + "  ports:\n    - port: \(port)\n      targetPort: \(port)\n"
  }
}
