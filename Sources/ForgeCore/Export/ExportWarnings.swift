/// What `forge export` says on stderr (as `forge: warning: …`) about values that will not mean
/// the same where the export runs. The files are written anyway: a warning names the variable,
/// never its value.
///
/// - A value that took text from the environment `forge export` ran in: `PATH=/app/bin:${PATH}`
///   in `.env` is expanded from the developer's PATH, and the export carries that.
/// - A value that points at another type on a loopback address (`REDIS_URL=redis://127.0.0.1:5100`
///   where 5100 is redis's port): under forge every type shares the host, but in Compose and
///   Kubernetes each runs in its own container, where 127.0.0.1 is the container itself. The
///   warning names what to use instead: the Compose service (the type's name) or the
///   Kubernetes Service `APP-TYPE` (exposed types only: `--expose`), both on the type's port.
///   systemd units share the host, as under forge: nothing to say.
/// - A `--metrics` address no scraper can use there (see `ExportMetrics`).
enum ExportWarnings {
  static func all(_ plan: ExportPlan, format: ExportFormat) -> [String] {
    fromShell(plan) + localReferences(plan, format: format) + ExportMetrics.warnings(plan, format: format)
  }

  static func fromShell(_ plan: ExportPlan) -> [String] {
    plan.expandedFromShell.map { key in
      "\(key) took text from the environment forge export ran in (a $VARIABLE the env files do not define);"
        + " the export holds this machine's value"
    }
  }

  /// One warning per variable and type it points at, in the variables' order.
  static func localReferences(_ plan: ExportPlan, format: ExportFormat) -> [String] {
    guard format != .systemd else { return [] }
    var owners: [Int: ExportPlan.ProcessEntry] = [:]
    for type in plan.types where type.count > 0 {
      for instance in 1...type.count { owners[plan.port(type, instance: instance)] = type }
    }
    var warnings: [String] = []
    for (key, value) in plan.environment {
      var named: Set<String> = []
      for reference in loopbackReferences(in: value) {
        guard let type = owners[reference.port], !named.contains(type.name) else { continue }
        named.insert(type.name)
        let port = plan.port(type, instance: 1)
        let instead: String
        switch format {
        case .compose:
          instead = "another container under Compose: use its service name, \(type.name):\(port)"
        case .kubernetes:
          let service = "\(plan.app)-\(ExportText.name(type.name) ?? type.name)"
          instead =
            "another pod under Kubernetes: use its Service, \(service):\(port)"
            + (type.exposed ? "" : " (export with --expose \(type.name))")
        case .systemd:
          continue
        }
        warnings.append("\(key) points at \(type.name) on \(reference.address), which is \(instead)")
      }
    }
    return warnings
  }

  /// The loopback hosts a value may name: IPv4, the name, IPv6 in a URL's brackets.
  private static let loopbackHosts = ["127.0.0.1", "localhost", "[::1]"]

  /// `HOST:PORT` for a loopback HOST, as written (`localhost:5000`), with the port: in a URL
  /// (`redis://user:pw@127.0.0.1:5000/0`) or alone. A host must stand on its own: not preceded
  /// by a name character (`mylocalhost`, `10.127.0.0.1`), and the port ends at a non-digit.
  static func loopbackReferences(in value: String) -> [(address: String, port: Int)] {
    let bytes = Array(value.utf8)
    var found: [(address: String, port: Int)] = []
    for host in loopbackHosts {
      let pattern = Array(host.utf8)
      var start = 0
      while start + pattern.count < bytes.count {
        defer { start += 1 }
        guard matches(pattern, in: bytes, at: start) else { continue }
        if start > 0 && isNameByte(bytes[start - 1]) { continue }
        var end = start + pattern.count
        guard bytes[end] == UInt8(ascii: ":") else { continue }
        end += 1
        let digits = end
        while end < bytes.count && bytes[end] >= UInt8(ascii: "0") && bytes[end] <= UInt8(ascii: "9") { end += 1 }
        guard end > digits, end - digits <= 5, end == bytes.count || !isNameByte(bytes[end]),
          let port = Int(String(decoding: bytes[digits..<end], as: UTF8.self))
        else { continue }
        found.append((String(decoding: bytes[start..<end], as: UTF8.self), port))
      }
    }
    return found
  }

  /// `pattern` at `offset`, letters compared without case (`LOCALHOST`).
  private static func matches(_ pattern: [UInt8], in bytes: [UInt8], at offset: Int) -> Bool {
    guard offset + pattern.count <= bytes.count else { return false }
    for (index, byte) in pattern.enumerated() {
      var other = bytes[offset + index]
      if other >= UInt8(ascii: "A") && other <= UInt8(ascii: "Z") { other += 0x20 }
      if other != byte { return false }
    }
    return true
  }

  /// Bytes of a host name or number: a loopback host next to one is part of another name.
  private static func isNameByte(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
      || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
      || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
  }
}
