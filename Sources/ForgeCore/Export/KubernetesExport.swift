/// `forge export kubernetes`: one manifest per object, for `kubectl apply -f DIR`. The env
/// files' variables go to a Secret `APP-env` that every container reads (values never appear
/// in a Deployment); each type is a Deployment `APP-TYPE` running `forge start TYPE` in the
/// image, with a Service for exposed types; a `release` type is a Job that runs once.
enum KubernetesExport {
  static func files(_ plan: ExportPlan) throws(ConfigError) -> [ExportFile] {
    if let user = plan.user, UInt32(user) == nil {
      throw ConfigError(path: "--user", line: 0, message: "Kubernetes needs a numeric user id, got \"\(user)\"")
    }
    var files = [ExportFile("\(plan.app)-env.secret.yaml", secret(plan))]
    var taken: [String: String] = [:]
    for type in plan.types {
      let name = try objectName(plan, type, taken: &taken)
      if type.isRelease {
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
    "# \(ExportText.header)\napiVersion: \(apiVersion)\nkind: \(kind)\nmetadata:\n  name: \(name)\n  labels:\n"
      + labels(plan, type, indent: "    ")
  }

  static func secret(_ plan: ExportPlan) -> String {
    var text = object("v1", "Secret", plan, nil, name: "\(plan.app)-env") + "type: Opaque\n"
    if plan.environment.isEmpty { return text + "stringData: {}\n" }
    text += "stringData:\n"
    for (key, value) in plan.environment { text += "  \(ExportText.yamlKey(key)): \(ExportText.yaml(value))\n" }
    return text
  }

  static func deployment(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    object("apps/v1", "Deployment", plan, type, name: name) + "spec:\n"
      + "  replicas: \(type.count)\n"
      + "  selector:\n    matchLabels:\n" + labels(plan, type, indent: "      ")
      + podTemplate(plan, type, restartPolicy: nil)
  }

  static func job(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    object("batch/v1", "Job", plan, type, name: name) + "spec:\n"
      + "  backoffLimit: 0\n"
      + podTemplate(plan, type, restartPolicy: "Never")
  }

  static func podTemplate(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, restartPolicy: String?) -> String {
    var text = "  template:\n    metadata:\n      labels:\n" + labels(plan, type, indent: "        ") + "    spec:\n"
    if let restartPolicy { text += "      restartPolicy: \(restartPolicy)\n" }
    // Kubernetes counts whole seconds; rounding up never cuts forge's grace period short.
    text += "      terminationGracePeriodSeconds: \(Int(min(plan.timeoutSeconds, 1e9).rounded(.up)))\n"
    if let user = plan.user {
      text += "      securityContext:\n        runAsUser: \(user)\n"
    }
    text += "      containers:\n"
    text += "        - name: \(ExportText.name(type.name) ?? "")\n"
    text += "          image: \(ExportText.yaml(plan.image))\n"
    text += "          command: \(ExportText.yamlList(plan.containerCommand(type)))\n"
    text += "          envFrom:\n            - secretRef:\n                name: \(plan.app)-env\n"
    if type.isRelease { return text }
    // forge in the container stops its processes within the same grace period.
    text += "          env:\n            - name: FORGE_TIMEOUT\n"
    text += "              value: \(ExportText.yaml(ExportText.seconds(plan.timeoutSeconds)))\n"
    if type.exposed { text += "          ports:\n            - containerPort: \(plan.port(type, instance: 1))\n" }
    return text
  }

  static func service(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry, name: String) -> String {
    let port = plan.port(type, instance: 1)
    return object("v1", "Service", plan, type, name: name) + "spec:\n"
      + "  selector:\n" + labels(plan, type, indent: "    ")
      + "  ports:\n    - port: \(port)\n      targetPort: \(port)\n"
  }
}
