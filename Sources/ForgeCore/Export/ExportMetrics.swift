/// `--metrics ADDRESS` (`FORGE_METRICS`, `.forge`) in Kubernetes and Compose exports. Every
/// container but a release's runs `forge start`, so the forge in it serves the metrics: the
/// address goes into that command (`--metrics ADDRESS`), and the port and Prometheus's
/// conventional `prometheus.io/scrape`, `/port` and `/path` keys go beside it: a named
/// `containerPort` and pod-template annotations (Kubernetes), an `expose` entry and service
/// labels (Compose). A release runs `forge run release`, which serves no metrics: nothing for it.
///
/// Compose exposes the port to the Compose network rather than publishing it on the host:
/// every service and replica serves the same port in its own container, and a host port can
/// be published only once. A scraper on that network reaches each container (Prometheus's
/// `docker_sd_configs` reads the labels).
///
/// The address is the one forge binds inside the container, so `0.0.0.0:PORT` or `[::]:PORT`
/// is what a scraper can reach. A loopback address is the container itself: warned about and
/// written as given. `unix:PATH` has no port: warned about, and only the command carries it
/// (a sidecar sharing the volume could still read it). systemd units run each command without
/// forge, so they serve no metrics: warned about too.
enum ExportMetrics {
  /// Where forge serves the Prometheus text format.
  static let path = "/metrics"

  /// The port a scraper asks the containers of `type` on; nil when forge there serves no
  /// metrics or none on a port.
  static func port(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> Int? {
    guard !type.isRelease else { return nil }
    switch plan.metrics {
    case .inet(_, let port), .inet6(_, let port): return port
    case .unix, nil: return nil
    }
  }

  /// The keys that tell Prometheus to scrape a pod or container, and where.
  static func scrapeKeys(port: Int) -> [(key: String, value: String)] {
    [("prometheus.io/scrape", "true"), ("prometheus.io/port", String(port)), ("prometheus.io/path", path)]
  }

  /// The keys as a YAML block mapping at `indent`, after its `name:` line.
  static func mapping(_ name: String, port: Int, indent: String) -> String {
    var text = "\(indent)\(name):\n"
    for (key, value) in scrapeKeys(port: port) {
      text += "\(indent)  \(ExportText.yamlKey(key)): \(ExportText.yaml(value))\n"
    }
    return text
  }

  /// What the address will not do where the export runs.
  static func warnings(_ plan: ExportPlan, format: ExportFormat) -> [String] {
    guard let address = plan.metrics else { return [] }
    let named = "--metrics \(address.description)"
    if format == .systemd {
      return ["\(named) is not exported: systemd units run each command without forge, which would serve the metrics"]
    }
    switch address {
    case .unix:
      return ["\(named) has no port: no metrics port and no Prometheus annotations are written"]
    case .inet(let host, let port), .inet6(let host, let port):
      guard isLoopback(host) else { return [] }
      return [
        "\(named) is a loopback address: in each container it is the container itself, which no scraper"
          + " outside can reach (use 0.0.0.0:\(port) or [::]:\(port)); written as given"
      ]
    }
  }

  /// 127.0.0.0/8, `localhost` and `::1`, as written (an IPv4-mapped `::ffff:127.x.x.x` too).
  static func isLoopback(_ host: String) -> Bool {
    let lowered = host.lowercased()
    return lowered.hasPrefix("127.") || lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1"
      || lowered.hasPrefix("::ffff:127.")
  }
}
